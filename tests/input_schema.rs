//! The published input schema (`docs/input.schema.json`) is what the Rust types generate, and
//! `validate_input_json` accepts every document the adapters make and reports every error of
//! a bad one with its JSON path.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use dockgate::engine_api;
use dockgate::model::{Operation, input_schema, validate_input_json};
use serde_json::json;

#[test]
fn the_committed_schema_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/input.schema.json");
    let committed = std::fs::read_to_string(&path).expect("docs/input.schema.json");
    let generated = format!(
        "{}\n",
        serde_json::to_string_pretty(&input_schema()).unwrap()
    );
    assert!(
        committed == generated,
        "docs/input.schema.json is stale: regenerate it with `cargo run -- schema input > docs/input.schema.json`"
    );
}

fn engine_doc() -> serde_json::Value {
    let body = json!({
        "Image": "nginx:1.27",
        "HostConfig": {"Privileged": true, "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}}
    });
    serde_json::to_value(engine_api::from_create(&body, Some("web")).unwrap()).unwrap()
}

#[test]
fn adapter_documents_validate_and_round_trip() {
    let doc = engine_doc();
    let typed = validate_input_json(&doc).unwrap();
    assert_eq!(typed.operation, Operation::Create);
    assert!(typed.container.privileged);
    assert_eq!(serde_json::to_value(&typed).unwrap(), doc);
}

#[test]
fn every_error_is_reported_with_its_path() {
    let mut doc = engine_doc();
    doc["container"]["privileged"] = json!("yes");
    doc["container"]["ports"][0]["host_port"] = json!(70000);
    doc["container"].as_object_mut().unwrap().remove("image");
    doc["container"]["surprise"] = json!(1);
    doc["operation"] = json!("DELETE");
    let err = validate_input_json(&doc).unwrap_err();
    let paths: Vec<&str> = err.errors.iter().map(|e| e.path.as_str()).collect();
    for expected in [
        "$.container.privileged",
        "$.container.ports[0].host_port",
        "$.container",
        "$.operation",
    ] {
        assert!(
            paths.contains(&expected),
            "{expected} missing from {paths:?}"
        );
    }
    assert!(err.errors.len() >= 5, "{:?}", err.errors);
    let text = err.to_string();
    assert!(text.contains("$.container.privileged"), "{text}");
    assert!(validate_input_json(&json!([])).is_err());
}
