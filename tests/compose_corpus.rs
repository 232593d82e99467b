//! Every compose file of the awesome-compose corpus (`../shared/corpus/awesome-compose/`,
//! listed in its INDEX.tsv) loads and normalises, each document conforms to the published
//! input schema, and our parse of each file agrees with an independent YAML parser
//! (serde_yaml) and with the official Compose schema.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dockgate::compose::{self, LoadOptions, yaml};
use dockgate::model::{Operation, validate_input_json};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/awesome-compose")
}

/// (app, expected service count) from INDEX.tsv. The files sit at `<app>/compose.yaml`.
fn index() -> Vec<(String, usize)> {
    let text = std::fs::read_to_string(corpus().join("INDEX.tsv")).expect("the corpus INDEX.tsv");
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            (cols[0].to_string(), cols[2].parse().unwrap())
        })
        .collect()
}

#[test]
fn every_corpus_file_loads_and_normalises() {
    let index = index();
    assert!(
        index.len() >= 39,
        "the corpus index lists {} apps",
        index.len()
    );
    let mut services = 0;
    for (app, expected) in &index {
        let dir = corpus().join(app);
        let options = LoadOptions {
            files: vec![dir.join("compose.yaml")],
            project_dir: Some(dir.clone()),
            project_name: Some(app.to_lowercase()),
            ..LoadOptions::default()
        };
        let project = compose::load(&options).unwrap_or_else(|e| panic!("{app}: {e}"));
        let docs = project.admission_requests(Operation::Check);
        assert_eq!(docs.len(), *expected, "{app}: service count");
        for doc in docs {
            let json = serde_json::to_value(&doc).unwrap();
            let back = validate_input_json(&json).unwrap_or_else(|e| panic!("{app}: {e}"));
            assert_eq!(back, doc);
            assert!(!doc.container.image.is_empty());
            services += 1;
        }
    }
    assert!(services >= 80, "only {services} services");
}

fn cross_check(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let name: Arc<str> = Arc::from(path.to_string_lossy().as_ref());
    let ours = yaml::parse(&name, &text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut theirs: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    theirs.apply_merge().unwrap();
    let theirs = serde_json::to_value(&theirs).unwrap();
    assert!(
        same(&ours.to_json(), &theirs),
        "{}: the two parsers disagree:\n ours: {}\n serde_yaml: {theirs}",
        path.display(),
        ours.to_json()
    );
    let (errors, warnings) = compose::validate_against_spec(&ours);
    assert!(errors.is_empty(), "{}: {errors:?}", path.display());
    assert!(warnings.is_empty(), "{}: {warnings:?}", path.display());
}

/// Equal, except that serde_yaml keeps a leading-zero integer (`0400`) as a string where we,
/// like both Compose implementations, read it as octal.
fn same(ours: &serde_json::Value, theirs: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match (ours, theirs) {
        (J::Number(n), J::String(s)) if s.len() > 1 && s.starts_with('0') => {
            i64::from_str_radix(s, 8).ok() == n.as_i64()
        }
        (J::Array(a), J::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        (J::Object(a), J::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| same(v, w)))
        }
        _ => ours == theirs,
    }
}

#[test]
fn our_parse_agrees_with_serde_yaml_and_the_official_schema() {
    let mut checked = 0;
    for (app, _) in index() {
        cross_check(&corpus().join(app).join("compose.yaml"));
        checked += 1;
    }
    // The captured fixtures use anchors, merge keys and extension fields.
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/engine-capture");
    for entry in std::fs::read_dir(fixtures).unwrap().flatten() {
        let file = entry.path().join("compose.yaml");
        if file.is_file() {
            cross_check(&file);
            checked += 1;
        }
    }
    assert!(checked >= 45, "{checked}");
}
