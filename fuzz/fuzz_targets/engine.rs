//! Fuzzes the Engine API adapter: the input is a JSON body given to every entry point.
//! Nothing may panic, and every document produced must conform to the input schema.
#![no_main]

use dockgate::engine_api;
use dockgate::model::{AdmissionRequest, Operation, validate_input_json};
use libfuzzer_sys::fuzz_target;

fn check(doc: AdmissionRequest) {
    let json = serde_json::to_value(&doc).expect("documents serialise");
    if let Err(e) = validate_input_json(&json) {
        panic!("an engine document does not conform to the input schema: {e}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(body) = engine_api::parse_body("fuzz", data) else {
        return;
    };
    if let Ok(doc) = engine_api::from_create(&body, Some("c")) {
        check(doc);
    }
    if let Ok(mut doc) = engine_api::from_inspect(&body, Operation::Audit) {
        if engine_api::apply_image_inspect(&mut doc, &body).is_ok() {
            check(doc);
        }
    }
    if let Ok(doc) = engine_api::from_update(&body, &body) {
        check(doc);
    }
    if let Ok(doc) = engine_api::from_exec(&body, &body) {
        check(doc);
    }
});
