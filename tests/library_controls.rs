//! Every control of the default library, end to end: the fixtures of
//! `tests/fixtures/controls/DG-nnn/` go through the real adapters (compose files through
//! `dockgate::compose`, Engine API create and exec bodies through `dockgate::engine_api`) and
//! the library compiled to WebAssembly, restricted profile, one engine for the whole walk.
//!
//! For each control of the catalogue (`data.dockgate.catalogue.controls`, evaluated from the
//! same module): a `fail.*` fixture must deny with that control's ID, its catalogue severity
//! and a message naming the subject; a `pass.*` fixture must not produce that ID at all (deny,
//! warn or audit). Other controls may fire on either: the fixtures are minimal (see
//! `tests/fixtures/controls/README.md`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dockgate::build::{BuildOptions, build};
use dockgate::compose::{self, LoadOptions};
use dockgate::engine_api;
use dockgate::library::{self, PROFILE_PATH, Profile};
use dockgate::model::{AdmissionRequest, Decision, Operation};
use dockgate::policy::{Bundle, EngineOptions, PolicyEngine};
use serde_json::{Value, json};

const DECISION: &str = "dockgate/main/decision";
const CATALOGUE: &str = "dockgate/catalogue/controls";

/// Exec controls whose verdict on an exec *without* `User` depends on the container it
/// enters: the fixtures' `fail.compose.yaml` container runs as root, `pass.compose.yaml` as a
/// non-root user (README, "Exec controls").
const PLAIN_EXEC_FOLLOWS_CONTAINER: &[&str] = &["DG-118"];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/controls")
}

/// One catalogue entry, as the policies declare it.
#[derive(Debug)]
struct Control {
    title: String,
    severity: String,
    where_: Vec<String>,
}

/// The library's sources with the decision and the catalogue as entrypoints, restricted
/// profile. The data is the library's own, as `library::bundle` sets it.
fn library_bundle() -> Bundle {
    let mut bundle = build(
        &library::sources().expect("the embedded library"),
        &BuildOptions {
            entrypoints: vec![DECISION.into(), CATALOGUE.into()],
            ..BuildOptions::default()
        },
    )
    .expect("the library builds");
    bundle.set_data(&PROFILE_PATH, json!(Profile::Restricted.as_str()));
    let shipped = library::bundle(Some(Profile::Restricted)).unwrap();
    assert_eq!(
        bundle.data, shipped.data,
        "the test's bundle carries the shipped library's data"
    );
    bundle
}

async fn load(bundle: Bundle) -> PolicyEngine {
    let options = EngineOptions {
        decision_entrypoints: Some(vec![DECISION.into()]),
        ..EngineOptions::default()
    };
    PolicyEngine::load(bundle, &options)
        .await
        .expect("the library loads")
}

async fn catalogue(engine: &PolicyEngine) -> BTreeMap<String, Control> {
    let v = engine.evaluate(CATALOGUE, &Value::Null).await.unwrap();
    let Value::Object(map) = v else {
        panic!("{CATALOGUE} is not an object: {v}")
    };
    map.into_iter()
        .map(|(id, c)| {
            let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            let where_ = c["where"]
                .as_array()
                .unwrap_or_else(|| panic!("{id}: `where` is not a list"))
                .iter()
                .map(|w| w.as_str().unwrap().to_string())
                .collect();
            let control = Control {
                title: s("title"),
                severity: s("severity"),
                where_,
            };
            (id, control)
        })
        .collect()
}

/// The fixture's name relative to the repository, for messages.
fn shown(path: &Path) -> String {
    path.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(path)
        .display()
        .to_string()
}

fn load_compose(path: &Path, id: &str) -> Result<Vec<AdmissionRequest>, String> {
    let options = LoadOptions {
        files: vec![path.to_path_buf()],
        project_dir: path.parent().map(Path::to_path_buf),
        project_name: Some(id.to_lowercase()),
        ..LoadOptions::default()
    };
    let project = compose::load(&options).map_err(|e| format!("does not load: {e}"))?;
    let docs = project.admission_requests(Operation::Check);
    if docs.is_empty() {
        return Err("has no service".into());
    }
    Ok(docs)
}

fn read_json(path: &Path) -> Result<Value, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))
}

/// The inspect of the container a compose service creates (what the exec adapter reads:
/// name, image, user, labels).
fn inspect_of(doc: &AdmissionRequest) -> Value {
    let name = doc.origin.container_name.clone().unwrap_or_default();
    json!({
        "Id": "",
        "Name": format!("/{name}"),
        "Config": {
            "Image": doc.container.image,
            "User": doc.container.user.clone().unwrap_or_default(),
            "Labels": doc.container.labels,
        },
        "HostConfig": {},
    })
}

/// What a fixture must do to its control.
#[derive(Clone, Copy, PartialEq)]
enum Expect {
    Deny,
    Silent,
}

/// Checks one decision against the expectation; `None` when it holds.
fn verdict(
    id: &str,
    control: &Control,
    expect: Expect,
    doc: &AdmissionRequest,
    decision: &Decision,
) -> Option<String> {
    let in_deny: Vec<_> = decision
        .violations
        .iter()
        .filter(|f| f.rule_id == id)
        .collect();
    let elsewhere = decision
        .warnings
        .iter()
        .chain(&decision.audits)
        .any(|f| f.rule_id == id);
    match expect {
        Expect::Silent if in_deny.is_empty() && !elsewhere => None,
        Expect::Silent => {
            let fired: Vec<_> = decision
                .violations
                .iter()
                .chain(&decision.warnings)
                .chain(&decision.audits)
                .filter(|f| f.rule_id == id)
                .collect();
            Some(format!("{id} fired on a pass fixture: {fired:#?}"))
        }
        Expect::Deny if in_deny.is_empty() => Some(format!(
            "{id} did not deny (it {} elsewhere); denied: {:?}",
            if elsewhere { "appears" } else { "is nowhere" },
            decision.violation_ids()
        )),
        Expect::Deny => {
            let subject = doc.subject();
            in_deny.iter().find_map(|f| {
                let mut wrong = Vec::new();
                if f.severity.as_str() != control.severity {
                    wrong.push(format!(
                        "severity {} instead of the catalogue's {}",
                        f.severity.as_str(),
                        control.severity
                    ));
                }
                if !f.message.contains(&subject) {
                    wrong.push(format!("message does not name {subject}"));
                }
                if !f.message.contains(&format!("({id})")) {
                    wrong.push("message does not end with the ID".into());
                }
                if f.details.get("title") != Some(&json!(control.title)) {
                    wrong.push(format!("title {:?}", f.details.get("title")));
                }
                if f.field.as_deref().is_none_or(str::is_empty) {
                    wrong.push("no field".into());
                }
                (!wrong.is_empty()).then(|| format!("{}: {f:#?}", wrong.join("; ")))
            })
        }
    }
}

/// One control and its fixture directory.
struct Case<'a> {
    id: &'a str,
    control: &'a Control,
    dir: PathBuf,
}

/// The walk's state: engines (one per policy data), problems and counts.
struct Walk {
    engine: PolicyEngine,
    base: Bundle,
    with_data: BTreeMap<String, PolicyEngine>,
    problems: Vec<String>,
    judged: BTreeMap<&'static str, usize>,
}

impl Walk {
    /// The engine for a control directory: the shared one, or (with `policy-data.json`) one
    /// with that file merged into `data.dockgate.config`.
    async fn engine_for(&mut self, dir: &Path) -> Result<&PolicyEngine, String> {
        let data_file = dir.join("policy-data.json");
        if !data_file.exists() {
            return Ok(&self.engine);
        }
        let key = shown(&data_file);
        if !self.with_data.contains_key(&key) {
            let Value::Object(extra) = read_json(&data_file)? else {
                return Err(format!("{key}: not a JSON object"));
            };
            let mut bundle = self.base.clone();
            for (k, v) in extra {
                bundle.set_data(&["dockgate", "config", &k], v);
            }
            self.with_data.insert(key.clone(), load(bundle).await);
        }
        Ok(&self.with_data[&key])
    }

    async fn judge(
        &mut self,
        case: &Case<'_>,
        kind: &'static str,
        label: String,
        expect: Expect,
        doc: &AdmissionRequest,
    ) {
        let outcome = match self.engine_for(&case.dir).await {
            Ok(engine) => engine.decide(doc).await.map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        *self.judged.entry(kind).or_default() += 1;
        let problem = match outcome {
            Ok(decision) => verdict(case.id, case.control, expect, doc, &decision),
            Err(e) => Some(format!("evaluation failed: {e}")),
        };
        if let Some(p) = problem {
            self.problems.push(format!("{label}: {p}"));
        }
    }

    fn problem(&mut self, path: &Path, message: impl std::fmt::Display) {
        self.problems.push(format!("{}: {message}", shown(path)));
    }
}

#[tokio::test]
async fn every_control_denies_its_fail_fixtures_and_spares_its_pass_fixtures() {
    let base = library_bundle();
    let engine = load(base.clone()).await;
    let catalogue = catalogue(&engine).await;
    assert!(catalogue.len() >= 43, "{} controls", catalogue.len());

    let mut dirs: Vec<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("DG-"))
        .collect();
    dirs.sort();
    let ids: Vec<String> = catalogue.keys().cloned().collect();
    assert_eq!(
        dirs, ids,
        "one fixture directory per catalogue control, and no other"
    );

    let mut walk = Walk {
        engine,
        base,
        with_data: BTreeMap::new(),
        problems: Vec::new(),
        judged: BTreeMap::new(),
    };
    for (id, control) in &catalogue {
        let dir = fixtures().join(id);
        let case = Case {
            id,
            control,
            dir: dir.clone(),
        };
        let decides = |w: &str| control.where_.iter().any(|x| x == w);
        let is_exec = decides("exec");
        for (file, expect) in [
            ("fail.compose.yaml", Expect::Deny),
            ("pass.compose.yaml", Expect::Silent),
        ] {
            let path = dir.join(file);
            let docs = match load_compose(&path, id) {
                Ok(d) => d,
                Err(e) => {
                    walk.problem(&path, e);
                    continue;
                }
            };
            if is_exec {
                // The compose file is the container the exec enters; every exec body must
                // keep its verdict in it.
                for doc in &docs {
                    let inspect = inspect_of(doc);
                    for (body, exec_expect) in [
                        ("fail.exec.json", Expect::Deny),
                        ("pass.exec.json", Expect::Silent),
                    ] {
                        let body_path = dir.join(body);
                        let exec = read_json(&body_path)
                            .and_then(|b| {
                                engine_api::from_exec(&b, &inspect).map_err(|e| e.to_string())
                            })
                            .map_err(|e| format!("{} into {file}: {e}", shown(&body_path)));
                        match exec {
                            Ok(req) => {
                                let label = format!("{} into {}", shown(&body_path), shown(&path));
                                walk.judge(&case, "exec", label, exec_expect, &req).await;
                            }
                            Err(e) => walk.problems.push(e),
                        }
                    }
                    if PLAIN_EXEC_FOLLOWS_CONTAINER.contains(&id.as_str()) {
                        let plain = json!({"Cmd": ["sh"]});
                        let req = engine_api::from_exec(&plain, &inspect).unwrap();
                        let label = format!("an exec without User into {}", shown(&path));
                        walk.judge(&case, "exec", label, expect, &req).await;
                    }
                }
            } else {
                for doc in &docs {
                    let service = doc.origin.service.clone().unwrap_or_default();
                    let label = format!("{} (service {service})", shown(&path));
                    walk.judge(&case, "compose", label, expect, doc).await;
                }
            }
        }
        for (file, expect) in [
            ("fail.create.json", Expect::Deny),
            ("pass.create.json", Expect::Silent),
        ] {
            let path = dir.join(file);
            match (decides("engine"), path.exists()) {
                (false, false) => continue,
                (false, true) => {
                    walk.problem(
                        &path,
                        "a create body for a control that engine bodies cannot decide",
                    );
                    continue;
                }
                (true, false) => {
                    walk.problem(&path, "missing: the control is decided on engine bodies");
                    continue;
                }
                (true, true) => {}
            }
            let req = read_json(&path)
                .and_then(|b| engine_api::from_create(&b, Some("app")).map_err(|e| e.to_string()));
            match req {
                Ok(req) => {
                    walk.judge(&case, "create", shown(&path), expect, &req)
                        .await
                }
                Err(e) => walk.problem(&path, e),
            }
        }
        if !is_exec {
            for file in ["fail.exec.json", "pass.exec.json"] {
                if dir.join(file).exists() {
                    walk.problem(
                        &dir.join(file),
                        "an exec body for a control that is not decided on exec",
                    );
                }
            }
        }
    }

    assert!(
        walk.problems.is_empty(),
        "{} fixture problem(s):\n\n{}",
        walk.problems.len(),
        walk.problems.join("\n\n")
    );
    // Every kind of fixture was judged: compose services (one or two per file), create
    // bodies for the engine controls, exec bodies for the exec controls.
    let count = |w: &str| {
        catalogue
            .values()
            .filter(|c| c.where_.iter().any(|x| x == w))
            .count()
    };
    let judged = |k: &str| walk.judged.get(k).copied().unwrap_or(0);
    assert!(
        judged("compose") >= 2 * (catalogue.len() - count("exec")),
        "{:?}",
        walk.judged
    );
    assert_eq!(judged("create"), 2 * count("engine"), "{:?}", walk.judged);
    assert!(judged("exec") >= 4 * count("exec"), "{:?}", walk.judged);
}
