//! Fuzzes the compose adapter end to end: the input is split on NUL bytes into
//! `compose.yaml`, `compose.override.yaml` and `.env` of an in-memory project. Loading must
//! never panic, and every document of a project that loads must conform to the published
//! input schema.
#![no_main]

use std::path::PathBuf;

use dockgate::compose::{LoadOptions, MemFs, load_with};
use dockgate::model::{Operation, validate_input_json};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |b| *b == 0);
    let mut fs = MemFs::new();
    for name in ["compose.yaml", "compose.override.yaml", ".env"] {
        if let Some(part) = parts.next() {
            fs.add(PathBuf::from("/p").join(name), part.to_vec());
        }
    }
    fs.add("/p/app.env", b"A=1\n".to_vec());
    let options = LoadOptions {
        project_dir: Some(PathBuf::from("/p")),
        ..LoadOptions::default()
    };
    if let Ok(project) = load_with(&options, &fs) {
        for doc in project.admission_requests(Operation::Check) {
            let json = serde_json::to_value(&doc).expect("documents serialise");
            if let Err(e) = validate_input_json(&json) {
                panic!("a compose document does not conform to the input schema: {e}");
            }
            let _ = project.position(doc.origin.service.as_deref().unwrap_or(""), "ports.0");
        }
    }
});
