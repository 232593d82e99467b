//! Noise of the default library over real compose files: every service of every file of the
//! awesome-compose corpus (`../shared/corpus/awesome-compose/`, listed in its INDEX.tsv) gets a
//! verdict from the built-in library without error, under baseline and under restricted,
//! through the real wasm engine.
//!
//! Run with `--nocapture` to print how many services each control flags under restricted
//! (the table of BENCHMARKS.md, "Library noise over the awesome-compose corpus"):
//!
//! ```sh
//! cargo test --test library_corpus -- --nocapture
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use dockgate::build::{BuildOptions, build};
use dockgate::compose::{self, LoadOptions};
use dockgate::library::{self, PROFILE_PATH, Profile};
use dockgate::model::{AdmissionRequest, Decision, Operation};
use dockgate::policy::{EngineOptions, PolicyEngine};
use serde_json::{Value, json};

const DECISION: &str = "dockgate/main/decision";
const CATALOGUE: &str = "dockgate/catalogue/controls";

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/awesome-compose")
}

/// (app, compose file, expected service count) from INDEX.tsv. A file listed as
/// `compose.yml` may be stored as `compose.yaml`.
fn index() -> Vec<(String, PathBuf, usize)> {
    let text = std::fs::read_to_string(corpus().join("INDEX.tsv")).expect("the corpus INDEX.tsv");
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            let listed = corpus().join(cols[1]);
            let file = if listed.is_file() {
                listed
            } else {
                corpus().join(cols[0]).join("compose.yaml")
            };
            assert!(file.is_file(), "{}: no compose file", cols[0]);
            (cols[0].to_string(), file, cols[2].parse().unwrap())
        })
        .collect()
}

fn services(app: &str, file: &Path) -> Vec<AdmissionRequest> {
    let project = compose::load(&LoadOptions {
        files: vec![file.to_path_buf()],
        project_dir: file.parent().map(Path::to_path_buf),
        project_name: Some(app.to_lowercase()),
        ..LoadOptions::default()
    })
    .unwrap_or_else(|e| panic!("{app}: {e}"));
    project.admission_requests(Operation::Check)
}

/// The library with its decision and catalogue as entrypoints, under `profile`.
async fn engine(profile: Profile) -> PolicyEngine {
    let mut bundle = build(
        &library::sources().unwrap(),
        &BuildOptions {
            entrypoints: vec![DECISION.into(), CATALOGUE.into()],
            ..BuildOptions::default()
        },
    )
    .unwrap();
    bundle.set_data(&PROFILE_PATH, json!(profile.as_str()));
    let options = EngineOptions {
        decision_entrypoints: Some(vec![DECISION.into()]),
        ..EngineOptions::default()
    };
    PolicyEngine::load(bundle, &options).await.unwrap()
}

/// A service that only builds its image: compose names the image `<project>_<service>`
/// (docs/input.md), with no tag.
fn is_build_only(doc: &AdmissionRequest) -> bool {
    let o = &doc.origin;
    doc.container.build.is_some()
        && o.project
            .as_ref()
            .zip(o.service.as_ref())
            .is_some_and(|(p, s)| doc.container.image == format!("{p}_{s}"))
}

/// Control IDs a decision mentions, whatever the action.
fn ids(d: &Decision) -> BTreeSet<String> {
    d.violations
        .iter()
        .chain(&d.warnings)
        .chain(&d.audits)
        .map(|f| f.rule_id.clone())
        .collect()
}

#[tokio::test]
async fn every_corpus_service_gets_a_verdict_and_the_noise_per_control() {
    let baseline = engine(Profile::Baseline).await;
    let restricted = engine(Profile::Restricted).await;
    let Value::Object(catalogue) = restricted.evaluate(CATALOGUE, &Value::Null).await.unwrap()
    else {
        panic!("the catalogue is not an object")
    };

    let index = index();
    assert!(index.len() >= 39, "{} apps in the index", index.len());
    let mut errors = Vec::new();
    let mut total = 0usize;
    let mut denied = BTreeMap::from([("baseline", 0usize), ("restricted", 0usize)]);
    let mut flagged: BTreeMap<String, usize> = BTreeMap::new();
    let mut flagged_built: BTreeMap<String, usize> = BTreeMap::new();
    let mut built = 0usize;
    let mut baseline_only_301 = 0usize;
    let mut findings = 0usize;
    for (app, file, expected) in &index {
        let docs = services(app, file);
        assert_eq!(docs.len(), *expected, "{app}: service count");
        for doc in &docs {
            total += 1;
            let subject = format!("{app}: {}", doc.subject());
            let build_only = is_build_only(doc);
            built += usize::from(build_only);
            for (name, engine) in [("baseline", &baseline), ("restricted", &restricted)] {
                match engine.decide(doc).await {
                    Ok(d) => {
                        if !d.allowed {
                            *denied.get_mut(name).unwrap() += 1;
                        }
                        let found = ids(&d);
                        if found.iter().any(String::is_empty) {
                            errors.push(format!("{subject} ({name}): a finding without an ID"));
                        }
                        if let Some(id) = found.iter().find(|id| !catalogue.contains_key(*id)) {
                            errors.push(format!("{subject} ({name}): unknown control {id}"));
                        }
                        if name == "restricted" {
                            findings += d.violations.len() + d.warnings.len() + d.audits.len();
                            for id in found {
                                if build_only {
                                    *flagged_built.entry(id.clone()).or_default() += 1;
                                }
                                *flagged.entry(id).or_default() += 1;
                            }
                        } else {
                            if d.violation_ids() == ["DG-301"] {
                                baseline_only_301 += 1;
                            }
                            // Baseline findings are a subset of restricted ones.
                            let r = restricted.decide(doc).await.unwrap();
                            if !ids(&d).is_subset(&ids(&r)) {
                                errors.push(format!(
                                    "{subject}: baseline finds more than restricted"
                                ));
                            }
                        }
                    }
                    Err(e) => errors.push(format!("{subject} ({name}): {e}")),
                }
            }
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    assert!(total >= 80, "only {total} services");

    println!();
    println!(
        "{} compose files, {total} services ({built} build-only); denied: baseline {} \
         ({baseline_only_301} by DG-301 alone), restricted {}; {findings} findings under restricted",
        index.len(),
        denied["baseline"],
        denied["restricted"]
    );
    println!();
    println!(
        "| control | title | profile | services flagged (restricted) | share | of which build-only |"
    );
    println!("|---|---|---|---:|---:|---:|");
    for (id, c) in &catalogue {
        let n = flagged.get(id).copied().unwrap_or(0);
        println!(
            "| {id} | {} | {} | {n} | {:.0} % | {} |",
            c["title"].as_str().unwrap().replace('|', "\\|"),
            c["profile"].as_str().unwrap(),
            100.0 * n as f64 / total as f64,
            flagged_built.get(id).copied().unwrap_or(0)
        );
    }
}
