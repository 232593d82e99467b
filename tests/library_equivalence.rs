//! The library's decisions, pinned: about a thousand inputs under ten variants of policy data
//! go through the built-in library compiled to WebAssembly, and every decision (or evaluation
//! error) must hash to what `tests/fixtures/library-decisions.txt` records.
//!
//! This is the proof that a change meant to be invisible — a faster Rego formulation in
//! `policies/`, a change of the wasm runtime in `runtime/` — changes no decision. A change that
//! is meant to alter decisions (a new control, a bug fix) re-records the file and says which
//! lines changed and why in its commit:
//!
//! ```sh
//! DOCKGATE_BLESS=1 cargo test --test library_equivalence
//! ```
//!
//! Inputs: every service of the awesome-compose corpus (`../shared/corpus/awesome-compose/`),
//! every compose/create/exec fixture of `tests/fixtures/controls/`, and the `dockgate bench`
//! sample; each as it is and with three mutations (secrets and credentials in env, labels,
//! command and build args; no container name, no user and a `START` operation; the dangerous
//! settings of most controls at once). Policy data: the ten variants of [`variants`]
//! (profiles, per-rule overrides, exemptions by every matcher, custom patterns and tables).
//! A decision is hashed as the JSON of its `Decision` with the bundle revision blanked (the
//! revision is the module's hash, which a runtime change alters by design).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use dockgate::build::{self, BuildOptions, Evaluator};
use dockgate::compose::{self, LoadOptions};
use dockgate::engine_api;
use dockgate::library::{self, Profile};
use dockgate::model::{AdmissionRequest, Operation};
use dockgate::policy::{EngineOptions, PolicyEngine};
use serde_json::{Value, json};
use sha2::Digest;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn golden() -> PathBuf {
    root().join("tests/fixtures/library-decisions.txt")
}

fn compose_services(file: &Path, project: &str) -> Vec<AdmissionRequest> {
    let loaded = compose::load(&LoadOptions {
        files: vec![file.to_path_buf()],
        project_dir: file.parent().map(Path::to_path_buf),
        project_name: Some(project.to_lowercase()),
        ..LoadOptions::default()
    })
    .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    loaded.admission_requests(Operation::Check)
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The inspect of the container a compose service creates (what the exec adapter reads).
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

fn to_value(req: &AdmissionRequest) -> Value {
    serde_json::to_value(req).unwrap()
}

/// The base inputs, by a stable name.
fn base_inputs() -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let corpus = root().join("../shared/corpus/awesome-compose");
    let index = std::fs::read_to_string(corpus.join("INDEX.tsv")).expect("the corpus INDEX.tsv");
    for line in index.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let listed = corpus.join(cols[1]);
        let file = if listed.is_file() {
            listed
        } else {
            corpus.join(cols[0]).join("compose.yaml")
        };
        for req in compose_services(&file, cols[0]) {
            let service = req.origin.service.clone().unwrap_or_default();
            out.insert(format!("corpus/{}/{service}", cols[0]), to_value(&req));
        }
    }
    let controls = root().join("tests/fixtures/controls");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&controls)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let id = dir.file_name().unwrap().to_string_lossy().to_string();
        for kind in ["fail", "pass"] {
            let compose_file = dir.join(format!("{kind}.compose.yaml"));
            let mut docs = Vec::new();
            if compose_file.is_file() {
                docs = compose_services(&compose_file, &id);
                for req in &docs {
                    let service = req.origin.service.clone().unwrap_or_default();
                    out.insert(
                        format!("controls/{id}/{kind}.compose/{service}"),
                        to_value(req),
                    );
                }
            }
            let create = dir.join(format!("{kind}.create.json"));
            if create.is_file() {
                let body = read_json(&create);
                for name in [Some("app"), None] {
                    let req = engine_api::from_create(&body, name).unwrap();
                    let label = name.unwrap_or("unnamed");
                    out.insert(
                        format!("controls/{id}/{kind}.create/{label}"),
                        to_value(&req),
                    );
                }
            }
            let exec = dir.join(format!("{kind}.exec.json"));
            if exec.is_file() {
                let body = read_json(&exec);
                for doc in &docs {
                    let req = engine_api::from_exec(&body, &inspect_of(doc)).unwrap();
                    let service = doc.origin.service.clone().unwrap_or_default();
                    out.insert(
                        format!("controls/{id}/{kind}.exec/{service}"),
                        to_value(&req),
                    );
                }
            }
        }
    }
    let bench: Value =
        serde_json::from_str(dockgate::model::SAMPLE_REQUEST_JSON).expect("bench input");
    out.insert("bench/nginx".into(), bench);
    out
}

fn set(v: &mut Value, pointer: &str, value: Value) {
    if let Some(slot) = v.pointer_mut(pointer) {
        *slot = value;
    }
}

fn merge_into(v: &mut Value, pointer: &str, extra: Value) {
    match (v.pointer_mut(pointer), extra) {
        (Some(Value::Object(map)), Value::Object(add)) => map.extend(add),
        (Some(slot), extra) => *slot = extra,
        (None, _) => {}
    }
}

/// The mutations applied to every base input (the first is the identity).
fn mutations(base: &Value) -> Vec<(&'static str, Value)> {
    let mut secrets = base.clone();
    merge_into(
        &mut secrets,
        "/container/env",
        json!({
            "DB_PASSWORD": "hunter2",
            "API_TOKEN_TTL": "3600",
            "PASSWORD_FILE": "/run/secrets/db",
            "client_secret": "",
            "GH": "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
            "AWS": "key=AKIAIOSFODNN7EXAMPLE",
            "DATABASE_URL": "postgres://app:s3cret@db:5432/app",
            "EMPTY": null,
        }),
    );
    merge_into(
        &mut secrets,
        "/container/labels",
        json!({"slack": "xoxb-1234567890-abcdef", "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.sig"}),
    );
    set(
        &mut secrets,
        "/container/command",
        json!([
            "--token",
            "glpat-abcdefghijklmnopqrstu",
            "-----BEGIN RSA PRIVATE KEY-----"
        ]),
    );
    set(
        &mut secrets,
        "/container/build",
        json!({"context": ".", "dockerfile": null, "args": {"NPM_TOKEN": "x", "VERSION": "1"}, "secrets": []}),
    );

    let mut anonymous = base.clone();
    set(&mut anonymous, "/origin/container_name", Value::Null);
    set(&mut anonymous, "/container/user", Value::Null);
    set(&mut anonymous, "/operation", json!("START"));

    let mut dangerous = base.clone();
    for (pointer, value) in [
        ("/container/privileged", json!(true)),
        (
            "/container/cap_add",
            json!(["SYS_ADMIN", "NET_ADMIN", "ALL"]),
        ),
        ("/container/network_mode", json!("host")),
        ("/container/pid_mode", json!("host")),
        ("/container/user", json!("root")),
        ("/container/read_only", json!(false)),
        (
            "/container/security_opt",
            json!(["seccomp=unconfined", "apparmor:unconfined"]),
        ),
        ("/container/image", json!("python:3.12")),
        (
            "/container/image_ref",
            json!({"registry": "docker.io", "repository": "library/python", "tag": "3.12", "digest": null}),
        ),
        (
            "/container/mounts",
            json!([
                {"type": "bind", "source": "/var/run/docker.sock", "target": "/var/run/docker.sock", "read_only": false, "propagation": ""},
                {"type": "bind", "source": "//etc//", "target": "/host-etc", "read_only": true, "propagation": "rshared"},
                {"type": "volume", "source": "data", "target": "/data", "read_only": false, "propagation": ""}
            ]),
        ),
        (
            "/container/ports",
            json!([
                {"host_ip": "", "host_port": 5432, "container_port": 5432, "protocol": "tcp"},
                {"host_ip": "0.0.0.0", "host_port": 80, "container_port": 8080, "protocol": "tcp"}
            ]),
        ),
        (
            "/container/sysctls",
            json!({"kernel.shmmax": "1", "net.ipv4.tcp_syncookies": "1"}),
        ),
        (
            "/container/devices",
            json!([{"host_path": "/dev/kmsg", "container_path": "/dev/kmsg", "permissions": "rwm"}]),
        ),
        ("/container/cgroup_parent", json!("/custom")),
        (
            "/container/logging",
            json!({"driver": "syslog", "options": {}}),
        ),
        (
            "/container/restart_policy",
            json!({"name": "always", "max_retries": 0}),
        ),
    ] {
        set(&mut dangerous, pointer, value);
    }
    vec![
        ("as-is", base.clone()),
        ("secrets", secrets),
        ("anonymous", anonymous),
        ("dangerous", dangerous),
    ]
}

/// Ten variants of the library's policy data: (name, profile, config keys to set).
fn variants() -> Vec<(&'static str, Profile, Value)> {
    vec![
        ("baseline", Profile::Baseline, json!({})),
        ("restricted", Profile::Restricted, json!({})),
        (
            "overrides",
            Profile::Restricted,
            json!({"rules": {
                "DG-108": {"action": "warn"},
                "DG-113": {"action": "audit", "severity": "low"},
                "DG-301": {"enabled": false},
                "DG-112": {"severity": "bogus"},
                "DG-204": {"action": "bogus"},
                "DG-999": {"action": "warn"}
            }}),
        ),
        (
            "baseline-enabled",
            Profile::Baseline,
            json!({"rules": {
                "DG-302": {"enabled": true},
                "DG-501": {"enabled": true, "action": "warn"},
                "DG-101": {"enabled": false}
            }}),
        ),
        (
            "exemptions",
            Profile::Restricted,
            json!({"exemptions": [
                {"reason": "legacy web", "match": {"image": "nginx*"}, "rules": ["DG-113", "DG-204"]},
                {"reason": "ci", "match": {"project": "*"}, "rules": ["DG-302"], "expires": "2099-12-31"},
                {"reason": "gone", "match": {"service": "*"}, "rules": ["*"], "expires": "2020-01-01"},
                {"reason": "", "match": {"service": "*"}, "rules": ["*"]},
                {"reason": "bad date", "match": {"service": "*"}, "rules": ["*"], "expires": "2099-02-30"}
            ]}),
        ),
        (
            "exempt-by-name",
            Profile::Restricted,
            json!({"exemptions": [
                {"reason": "named", "match": {"container_name": "*"}, "rules": ["DG-5*", "DG-501", "DG-502"]},
                {"reason": "all of app", "match": {"container_name": "app", "image": "*"}, "rules": ["*"]}
            ]}),
        ),
        (
            "registries",
            Profile::Restricted,
            json!({
                "allowed_registries": ["ghcr.io", "docker.io/library/*", "registry.example.com/team/**"],
                "minimal_variants": {"docker.io/library/nginx": ["alpine", "slim"], "docker.io/library/python": ["distroless"]}
            }),
        ),
        (
            "patterns",
            Profile::Restricted,
            json!({
                "secret_name_patterns": ["(?i)^MY_", "(?i)KEY$", "(?i)(^|_)PASS(WORD)?(_|$)"],
                "secret_name_ignore_patterns": [],
                "credential_patterns": {
                    "digits": {"regex": "[0-9]{6,}"},
                    "GitHub token": {"regex": "gh[pousr]_[A-Za-z0-9]{36,}", "hints": ["gh"]}
                },
                "secret_file_dirs": ["/run/secrets/", "/secrets/"]
            }),
        ),
        (
            "unknown-profile",
            Profile::Baseline,
            json!({
                "profile": "bogus",
                "exemptions": [
                    {"reason": "root user", "match": {"user": "root"}, "rules": ["DG-118"]},
                    {"reason": "svc", "match": {"service": "web*", "project": "dg-*"}, "rules": ["*"]}
                ]
            }),
        ),
        (
            "tables",
            Profile::Restricted,
            json!({
                "allowed_capabilities": [],
                "safe_sysctls": ["kernel.shmmax"],
                "allowed_log_drivers": ["local"],
                "max_restart_retries": 3,
                "database_ports": [],
                "runtime_sockets": ["docker.sock"],
                "sensitive_host_paths": ["/etc"]
            }),
        ),
    ]
}

/// The library under `profile` and `config`, run by `evaluator` (the built-in library's is
/// the VM).
async fn engine(profile: Profile, config: &Value, evaluator: Evaluator) -> PolicyEngine {
    let mut bundle = library::bundle(Some(profile)).unwrap();
    if evaluator != Evaluator::Vm {
        let sources = library::sources().unwrap();
        let mut rebuilt = build::build(
            &sources,
            &BuildOptions {
                evaluator,
                ..BuildOptions::default()
            },
        )
        .unwrap();
        rebuilt.data = bundle.data.clone();
        bundle = rebuilt;
    }
    if let Value::Object(keys) = config {
        for (k, v) in keys {
            bundle.set_data(&["dockgate", "config", k.as_str()], v.clone());
        }
    }
    // A generous time limit: a timeout would be recorded as an outcome, and this test runs
    // debug builds on busy machines.
    let options = EngineOptions {
        eval_timeout: std::time::Duration::from_secs(30),
        ..EngineOptions::default()
    };
    PolicyEngine::load(bundle, &options).await.unwrap()
}

/// One outcome in a line: the finding IDs by action, or the error.
fn outline(outcome: &Result<dockgate::model::Decision, dockgate::policy::EngineError>) -> String {
    match outcome {
        Ok(d) => serde_json::to_value(d)
            .map(|v| {
                let ids = |k: &str| {
                    v[k].as_array()
                        .map(|a| {
                            a.iter()
                                .map(|f| f["rule_id"].as_str().unwrap_or("?").to_string())
                                .collect::<Vec<_>>()
                                .join(",")
                        })
                        .unwrap_or_default()
                };
                format!(
                    "deny [{}] warn [{}] audit [{}]",
                    ids("violations"),
                    ids("warnings"),
                    ids("audits")
                )
            })
            .unwrap_or_default(),
        Err(e) => format!("error: {e}"),
    }
}

/// The hash of one outcome: the decision's JSON with the revision blanked, or the error.
fn outcome_hash(
    outcome: &Result<dockgate::model::Decision, dockgate::policy::EngineError>,
) -> String {
    let text = match outcome {
        Ok(d) => {
            let mut d = d.clone();
            d.bundle_revision.clear();
            serde_json::to_string(&d).unwrap()
        }
        Err(e) => format!("error: {e}"),
    };
    hex::encode(&sha2::Sha256::digest(text.as_bytes())[..6])
}

#[tokio::test(flavor = "multi_thread")]
async fn library_decisions_are_unchanged() {
    let mut inputs = BTreeMap::new();
    for (name, base) in base_inputs() {
        for (m, v) in mutations(&base) {
            inputs.insert(format!("{name}#{m}"), v);
        }
    }
    let variants = variants();
    let mut lines: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut errors = 0usize;
    let mut departures = Vec::new();
    for (name, profile, config) in &variants {
        let engine_vm = engine(*profile, config, Evaluator::Vm).await;
        let interpreter = engine(*profile, config, Evaluator::Interpreter).await;
        let mut first_error = None;
        let mut variant_errors = 0usize;
        for (id, input) in &inputs {
            let outcome = engine_vm.decide(input).await;
            let interpreted = interpreter.decide(input).await;
            if outcome_hash(&outcome) != outcome_hash(&interpreted) {
                departures.push(format!(
                    "{id} under {name}:\n  vm:          {}\n  interpreter: {}",
                    outline(&outcome),
                    outline(&interpreted)
                ));
            }
            if let Err(e) = &outcome {
                variant_errors += 1;
                first_error.get_or_insert_with(|| format!("{id}: {e}"));
            }
            lines
                .entry(id.clone())
                .or_default()
                .push(outcome_hash(&outcome));
        }
        if let Some(first) = first_error {
            println!("{name}: {variant_errors} evaluation errors, the first: {first}");
        }
        errors += variant_errors;
    }
    let mut text = format!(
        "# {} inputs x {} policy-data variants ({}); see tests/library_equivalence.rs\n",
        inputs.len(),
        variants.len(),
        variants.iter().map(|v| v.0).collect::<Vec<_>>().join(", ")
    );
    for (id, hashes) in &lines {
        writeln!(text, "{id} {}", hashes.join(" ")).unwrap();
    }
    println!(
        "{} decisions ({} inputs x {} variants), {errors} evaluation errors",
        inputs.len() * variants.len(),
        inputs.len(),
        variants.len()
    );
    assert!(
        departures.is_empty(),
        "{} decisions of the VM differ from the interpreter's (the first 10):\n{}",
        departures.len(),
        departures[..departures.len().min(10)].join("\n")
    );
    if std::env::var_os("DOCKGATE_BLESS").is_some() {
        std::fs::write(golden(), &text).unwrap();
        return;
    }
    let recorded = std::fs::read_to_string(golden())
        .expect("tests/fixtures/library-decisions.txt (record it with DOCKGATE_BLESS=1)");
    let want: BTreeMap<&str, &str> = recorded
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(' '))
        .collect();
    let mut diffs = Vec::new();
    for (id, hashes) in &lines {
        let got = hashes.join(" ");
        match want.get(id.as_str()) {
            Some(w) if *w == got => {}
            Some(w) => {
                let changed: Vec<&str> = w
                    .split(' ')
                    .zip(hashes)
                    .zip(&variants)
                    .filter(|((a, b), _)| a != b)
                    .map(|(_, v)| v.0)
                    .collect();
                diffs.push(format!("{id}: changed under {}", changed.join(", ")));
            }
            None => diffs.push(format!("{id}: not recorded")),
        }
    }
    for id in want.keys() {
        if !lines.contains_key(*id) {
            diffs.push(format!("{id}: recorded but no longer an input"));
        }
    }
    assert!(
        diffs.is_empty(),
        "{} of {} inputs decide differently from tests/fixtures/library-decisions.txt:\n{}",
        diffs.len(),
        lines.len(),
        diffs.join("\n")
    );
}
