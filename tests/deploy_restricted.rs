//! The project's own deployment passes its own library: every compose file under `deploy/`
//! normalises, and each of its services gets zero findings (deny, warn and audit) from the
//! built-in library under the restricted profile, through the real wasm engine — both as a
//! pre-deploy check and as the create request docker-compose sends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use dockgate::compose::{self, LoadOptions};
use dockgate::library::{self, Profile};
use dockgate::model::{AdmissionRequest, Decision, Operation};
use dockgate::policy::{EngineOptions, PolicyEngine};

/// Compose files under `dir`, recursively: the names Compose looks for and their variants
/// (`compose.yaml`, `docker-compose.prod.yml`, `compose.override.yaml`...).
fn compose_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            compose_files(&path, out);
        } else if (name.starts_with("compose") || name.starts_with("docker-compose"))
            && (name.ends_with(".yaml") || name.ends_with(".yml"))
        {
            out.push(path);
        }
    }
}

fn findings(d: &Decision) -> Vec<String> {
    d.violations
        .iter()
        .map(|f| format!("deny  {}", f.message))
        .chain(d.warnings.iter().map(|f| format!("warn  {}", f.message)))
        .chain(d.audits.iter().map(|f| format!("audit {}", f.message)))
        .collect()
}

fn load(file: &Path, operation: Operation) -> Vec<AdmissionRequest> {
    let project = compose::load(&LoadOptions {
        files: vec![file.to_path_buf()],
        ..LoadOptions::default()
    })
    .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    assert!(
        project.warnings.is_empty(),
        "{}: {:?}",
        file.display(),
        project.warnings
    );
    project.admission_requests(operation)
}

#[tokio::test]
async fn every_deploy_compose_file_has_zero_findings_under_restricted() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    compose_files(&root.join("deploy"), &mut files);
    assert!(
        files.iter().any(|f| f.ends_with("deploy/compose.yaml")),
        "deploy/compose.yaml is missing: {files:?}"
    );
    let bundle = library::bundle(Some(Profile::Restricted)).unwrap();
    let engine = PolicyEngine::load(bundle, &EngineOptions::default())
        .await
        .unwrap();

    let mut problems = Vec::new();
    let mut judged = 0;
    for file in &files {
        let shown = file.strip_prefix(root).unwrap().display().to_string();
        for operation in [Operation::Check, Operation::Create] {
            let docs = load(file, operation);
            assert!(!docs.is_empty(), "{shown}: no service");
            for doc in &docs {
                let d = engine.decide(doc).await.unwrap();
                judged += 1;
                let f = findings(&d);
                if !f.is_empty() {
                    problems.push(format!(
                        "{shown} ({}, {}):\n  {}",
                        doc.subject(),
                        operation.as_str(),
                        f.join("\n  ")
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "deploy/ must pass the restricted profile with zero findings:\n{}",
        problems.join("\n")
    );
    assert!(judged >= 2, "{judged}");

    // The verdict is the library's, not an empty engine's: the same service with its root
    // filesystem made writable and its user removed is denied.
    let mut doc = load(&root.join("deploy/compose.yaml"), Operation::Check)
        .into_iter()
        .next()
        .unwrap();
    doc.container.read_only = false;
    doc.container.user = None;
    let d = engine.decide(&doc).await.unwrap();
    assert_eq!(d.violation_ids(), ["DG-113", "DG-204"], "{d:#?}");
}
