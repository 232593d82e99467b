//! `dockgate normalize` run as a user would: good projects print documents; every kind of bad
//! input is a clear error (file, line:col or service and field, and what to do) with exit
//! code 2 — never a panic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

fn dockgate(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dockgate"))
        .current_dir(dir)
        .args(args)
        .env_remove("COMPOSE_PROJECT_NAME")
        .env_remove("COMPOSE_PROFILES")
        .env("HOME", "/home/tester")
        .output()
        .expect("run dockgate")
}

fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("cliproj")
        .tempdir()
        .unwrap();
    for (name, content) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    dir
}

/// Runs `normalize` expecting failure; returns stderr.
fn fails(dir: &Path, args: &[&str]) -> String {
    let out = dockgate(dir, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    stderr
}

fn docs(out: &Output) -> Vec<serde_json::Value> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn normalize_prints_one_document_per_active_service() {
    let dir = project(&[
        (
            "compose.yaml",
            "services:\n  web:\n    image: nginx:${TAG:-1.27}\n    ports: ['8080:80']\n  debug:\n    image: busybox\n    profiles: [debug]\n",
        ),
        (
            "compose.override.yaml",
            "services:\n  web:\n    privileged: true\n",
        ),
    ]);
    let d = docs(&dockgate(
        dir.path(),
        &["normalize", "--project-name", "demo"],
    ));
    assert_eq!(d.len(), 1);
    assert_eq!(d[0]["apiVersion"], "dockgate.dev/v1");
    assert_eq!(d[0]["operation"], "CHECK");
    assert_eq!(d[0]["origin"]["container_name"], "demo_web_1");
    assert_eq!(d[0]["container"]["image"], "nginx:1.27");
    assert_eq!(d[0]["container"]["privileged"], true);
    assert_eq!(d[0]["container"]["network_mode"], "demo_default");
    let both = docs(&dockgate(
        dir.path(),
        &["normalize", "-p", "demo", "--profile", "debug"],
    ));
    assert_eq!(both.len(), 2);
    let schema = dockgate(dir.path(), &["schema", "input"]);
    let schema: serde_json::Value = serde_json::from_slice(&schema.stdout).unwrap();
    assert_eq!(schema["title"], "AdmissionRequest");
}

#[test]
fn malformed_yaml_names_the_position() {
    let dir = project(&[("compose.yaml", "services:\n  web:\n    image: [nginx\n")]);
    let e = fails(dir.path(), &["normalize"]);
    assert!(e.contains("compose.yaml:"), "{e}");
    assert!(e.contains("fix the YAML syntax"), "{e}");
}

#[test]
fn schema_violations_are_all_reported_with_paths_and_positions() {
    let dir = project(&[(
        "compose.yaml",
        "services:\n  web:\n    image: nginx\n    privileged: [1]\n    ports: {a: 1}\n  db:\n    image: postgres\n    mem_limit: [x]\n    surprise: 1\n",
    )]);
    let e = fails(dir.path(), &["normalize", "-f", "compose.yaml"]);
    assert!(e.contains("compose.yaml:4:"), "{e}");
    assert!(e.contains("services.web.privileged"), "{e}");
    assert!(e.contains("services.web.ports"), "{e}");
    assert!(e.contains("services.db.mem_limit"), "{e}");
    assert!(e.contains("3 error(s)"), "{e}");
}

#[test]
fn unknown_keys_warn_but_load() {
    let dir = project(&[(
        "compose.yaml",
        "services:\n  web:\n    image: nginx\n    surprise: 1\n",
    )]);
    let out = dockgate(dir.path(), &["normalize"]);
    assert_eq!(docs(&out).len(), 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning:") && stderr.contains(":4:5") && stderr.contains("surprise"),
        "{stderr}"
    );
}

#[test]
fn a_billion_laughs_is_refused_quickly() {
    let mut bomb = String::from("x-a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        bomb.push_str(&format!(
            "x-a{i}: &a{i} [{}]\n",
            vec![format!("*a{}", i - 1); 10].join(", ")
        ));
    }
    bomb.push_str("services:\n  web:\n    image: nginx\n    command: *a9\n");
    let dir = project(&[("compose.yaml", &bomb)]);
    let started = std::time::Instant::now();
    let e = fails(dir.path(), &["normalize"]);
    assert!(e.contains("alias bomb"), "{e}");
    assert!(started.elapsed().as_secs() < 10);
}

#[test]
fn oversized_files_are_refused_before_reading() {
    let dir = project(&[]);
    let f = std::fs::File::create(dir.path().join("compose.yaml")).unwrap();
    f.set_len(11 * 1024 * 1024).unwrap();
    let e = fails(dir.path(), &["normalize"]);
    assert!(e.contains("over the 10485760-byte limit"), "{e}");
}

#[test]
fn deep_nesting_is_refused() {
    let deep = format!(
        "services:\n  web:\n    image: nginx\n    labels: {}{}\n",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let dir = project(&[("compose.yaml", &deep)]);
    let e = fails(dir.path(), &["normalize"]);
    assert!(e.contains("nesting deeper than"), "{e}");
    let deep = format!(
        "services:\n  web:\n    image: nginx\n    labels: {}{}\n",
        "[".repeat(150),
        "]".repeat(150)
    );
    let dir = project(&[("compose.yaml", &deep)]);
    let e = fails(dir.path(), &["normalize"]);
    assert!(e.contains("nesting deeper than 100 levels"), "{e}");
}

#[test]
fn invalid_image_references_name_service_and_field() {
    let dir = project(&[(
        "compose.yaml",
        "services:\n  web:\n    image: Nginx:latest\n",
    )]);
    let e = fails(dir.path(), &["normalize"]);
    assert!(e.contains("compose.yaml:3:5"), "{e}");
    assert!(
        e.contains("service \"web\"") && e.contains("`image`"),
        "{e}"
    );
}

#[test]
fn required_variables_fail_with_the_authors_message() {
    let dir = project(&[(
        "compose.yaml",
        "services:\n  web:\n    image: nginx:${TAG:?set TAG to the release}\n",
    )]);
    let e = fails(dir.path(), &["normalize"]);
    assert!(e.contains("compose.yaml:3:12"), "{e}");
    assert!(
        e.contains("required variable TAG") && e.contains("set TAG to the release"),
        "{e}"
    );
    let ok = Command::new(env!("CARGO_BIN_EXE_dockgate"))
        .current_dir(dir.path())
        .args(["normalize"])
        .env("TAG", "1.27")
        .output()
        .unwrap();
    assert_eq!(docs(&ok)[0]["container"]["image"], "nginx:1.27");
}

#[test]
fn bad_values_name_the_field() {
    let dir = project(&[(
        "compose.yaml",
        "services:\n  web:\n    image: nginx\n    mem_limit: lots\n",
    )]);
    let e = fails(dir.path(), &["normalize"]);
    assert!(
        e.contains("`mem_limit`") && e.contains("compose.yaml:4:5"),
        "{e}"
    );
    let dir = project(&[(
        "compose.yaml",
        "services:\n  web:\n    image: nginx\n    ports: ['80000:80']\n",
    )]);
    let e = fails(dir.path(), &["normalize"]);
    assert!(
        e.contains("`ports.0`") && e.contains("compose.yaml:4:13"),
        "{e}"
    );
}

#[test]
fn missing_files_and_not_utf8() {
    let dir = project(&[]);
    let e = fails(dir.path(), &["normalize"]);
    assert!(e.contains("no compose file"), "{e}");
    std::fs::write(
        dir.path().join("compose.yaml"),
        b"services:\n  web:\n    image: \xff\n",
    )
    .unwrap();
    let e = fails(dir.path(), &["normalize"]);
    assert!(
        e.contains("compose.yaml:3:12") && e.contains("not UTF-8"),
        "{e}"
    );
}
