//! The property the input adapters exist for: for every service of every fixture project under
//! `tests/fixtures/engine-capture/`, the container-create body that Debian's docker-compose
//! 1.29.2 really sent to dockerd (captured there) normalises, through the Engine API adapter,
//! to the same `ContainerSpec` as the compose adapter makes of the service.
//!
//! Documented exceptions (facts only one side can know), and nothing else:
//! - `labels["com.docker.compose.config-hash"]`: compose's hash over its internal options and
//!   the image ID; only the engine side has it.
//! - `secrets`: only compose knows a bind at `/run/secrets/x` is a secret (both sides have the
//!   bind mount itself, which is compared).
//! - `build`: build-time facts exist only in the compose file.
//! - `networks`: docker-compose creates the container on its first network and connects the
//!   others afterwards, so the create body names only the first one: it must be the compose
//!   side's first network, and the engine side's networks a prefix of the compose side's.
//! - order of `mounts` and `ports` carries no meaning (compose builds them from sets): both are
//!   compared sorted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use dockgate::compose::{self, ComposeError, FileSystem, LoadOptions, RealFs};
use dockgate::engine_api;
use dockgate::model::{ContainerSpec, Operation};
use serde_json::Value;

/// Where capture.sh ran each project (see the fixtures' README).
const CAPTURE_ROOT: &str = "/tmp/dockgate-capture";

/// Serves `/tmp/dockgate-capture/<project>/...` from the fixture directory, so paths come out
/// exactly as they did on the capture machine.
struct Remap {
    from: PathBuf,
    to: PathBuf,
}

impl Remap {
    fn map(&self, p: &Path) -> PathBuf {
        match p.strip_prefix(&self.from) {
            Ok(rest) => self.to.join(rest),
            Err(_) => p.to_path_buf(),
        }
    }
}

impl FileSystem for Remap {
    fn read(&self, path: &Path) -> Result<Vec<u8>, ComposeError> {
        RealFs.read(&self.map(path))
    }
    fn is_file(&self, path: &Path) -> bool {
        RealFs.is_file(&self.map(path))
    }
}

fn fixture_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/engine-capture")
}

fn projects() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixture_root())
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    dirs.retain(|d| d.join("compose.yaml").is_file() && d.join("create").is_dir());
    dirs.sort();
    dirs
}

fn sorted_for_comparison(mut s: ContainerSpec) -> ContainerSpec {
    s.mounts
        .sort_by(|a, b| (&a.target, &a.kind, &a.source).cmp(&(&b.target, &b.kind, &b.source)));
    s.ports.sort_by(|a, b| {
        (a.container_port, &a.protocol, &a.host_ip, a.host_port).cmp(&(
            b.container_port,
            &b.protocol,
            &b.host_ip,
            b.host_port,
        ))
    });
    s
}

/// Field-by-field differences between the compose side and the engine side.
fn differences(compose: &ContainerSpec, engine: &ContainerSpec) -> Vec<String> {
    let mut c = sorted_for_comparison(compose.clone());
    let mut e = sorted_for_comparison(engine.clone());
    let mut diffs = Vec::new();
    // Exceptions (see the module doc).
    e.labels.remove("com.docker.compose.config-hash");
    c.secrets.clear();
    c.build = None;
    if !c.networks.starts_with(&e.networks) || c.networks.first() != e.networks.first() {
        diffs.push(format!(
            "networks: compose {:?}, engine {:?}",
            c.networks, e.networks
        ));
    }
    c.networks.clear();
    e.networks.clear();
    let (cj, ej) = (
        serde_json::to_value(&c).unwrap(),
        serde_json::to_value(&e).unwrap(),
    );
    if let (Value::Object(cm), Value::Object(em)) = (&cj, &ej) {
        for (k, cv) in cm {
            let ev = em.get(k).unwrap_or(&Value::Null);
            if cv != ev {
                diffs.push(format!("{k}:\n    compose: {cv}\n    engine:  {ev}"));
            }
        }
    }
    diffs
}

#[test]
fn every_captured_create_body_matches_its_compose_service() {
    let projects = projects();
    let mut compared = 0;
    let mut failures = Vec::new();
    let mut covered: std::collections::BTreeMap<&str, usize> = Default::default();
    for dir in &projects {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let from = Path::new(CAPTURE_ROOT).join(&name);
        let fs = Remap {
            from: from.clone(),
            to: dir.clone(),
        };
        let options = LoadOptions {
            files: vec![PathBuf::from("compose.yaml")],
            project_dir: Some(from),
            project_name: Some(name.clone()),
            env: [
                ("DOCKGATE_FROM_SHELL", "set-in-shell"),
                ("PYTHONHASHSEED", "0"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            ..LoadOptions::default()
        };
        let project = compose::load_with(&options, &fs).unwrap_or_else(|e| panic!("{name}: {e}"));
        let docs = project.admission_requests(Operation::Create);
        let mut captured: Vec<PathBuf> = std::fs::read_dir(dir.join("create"))
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        captured.sort();
        assert_eq!(
            captured.len(),
            docs.len(),
            "{name}: {} captured bodies but {} active services",
            captured.len(),
            docs.len()
        );
        for file in captured {
            let service = file.file_stem().unwrap().to_string_lossy().into_owned();
            let capture: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
            let uri = capture["uri"].as_str().unwrap();
            let container = uri
                .split("name=")
                .nth(1)
                .map(|n| n.split('&').next().unwrap_or(n));
            let engine = engine_api::from_create(&capture["body"], container)
                .unwrap_or_else(|e| panic!("{name}/{service}: {e}"));
            let doc = docs
                .iter()
                .find(|d| d.origin.service.as_deref() == Some(service.as_str()))
                .unwrap_or_else(|| panic!("{name}: no compose service {service}"));
            assert_eq!(engine.origin.project.as_deref(), Some(name.as_str()));
            assert_eq!(engine.origin.service.as_deref(), Some(service.as_str()));
            assert_eq!(
                engine.origin.container_name, doc.origin.container_name,
                "{name}/{service}"
            );
            let c = &engine.container;
            for (field, set) in [
                ("privileged", c.privileged),
                ("read_only", c.read_only),
                ("user", c.user.is_some()),
                ("cap_add", !c.cap_add.is_empty()),
                ("cap_drop", !c.cap_drop.is_empty()),
                ("security_opt", !c.security_opt.is_empty()),
                (
                    "host namespaces",
                    c.pid_mode == "host" || c.ipc_mode == "host",
                ),
                ("network_mode host", c.network_mode == "host"),
                ("env", !c.env.is_empty()),
                ("bind mounts", c.mounts.iter().any(|m| m.kind == "bind")),
                (
                    "named volumes",
                    c.mounts
                        .iter()
                        .any(|m| m.kind == "volume" && !m.source.is_empty()),
                ),
                ("tmpfs", c.mounts.iter().any(|m| m.kind == "tmpfs")),
                ("ports", !c.ports.is_empty()),
                ("devices", !c.devices.is_empty()),
                ("sysctls", !c.sysctls.is_empty()),
                ("memory", c.resources.memory_bytes.is_some()),
                ("cpus", c.resources.nano_cpus.is_some()),
                ("pids", c.resources.pids_limit.is_some()),
                ("logging", !c.logging.driver.is_empty()),
                ("healthcheck", c.healthcheck.is_some()),
                ("restart", c.restart_policy.name != "no"),
                ("command", c.command.is_some()),
                ("entrypoint", c.entrypoint.is_some()),
            ] {
                *covered.entry(field).or_default() += usize::from(set);
            }
            let diffs = differences(&doc.container, &engine.container);
            if !diffs.is_empty() {
                failures.push(format!("{name}/{service}:\n  {}", diffs.join("\n  ")));
            }
            compared += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} service(s) differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!(
        "compared {compared} services in {} projects",
        projects.len()
    );
    // The fixtures' README lists 9 projects and 34 services; do not pass on a handful.
    assert!(
        compared >= 30,
        "only {compared} services compared: are the fixtures all there?"
    );
    // And the comparisons are about something: every field policies rely on is set
    // (non-default) in at least one captured body.
    let missing: Vec<&&str> = covered
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(f, _)| f)
        .collect();
    assert!(missing.is_empty(), "no captured body sets {missing:?}");
}

#[test]
fn the_comparison_sees_a_difference() {
    let a = ContainerSpec::default();
    let mut b = a.clone();
    assert!(differences(&a, &b).is_empty());
    b.privileged = true;
    b.labels
        .insert("com.docker.compose.config-hash".into(), "x".into());
    let d = differences(&a, &b);
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].starts_with("privileged"));
}
