//! `dockgate build`, `test` and `eval` as a user runs them: the real binary in a temp dir.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn dockgate() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dockgate"));
    c.env("NO_COLOR", "1");
    c
}

#[test]
fn the_library_tests_pass_through_the_wasm_path() {
    let out = dockgate()
        .args(["test", "policies"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = stdout.lines().last().unwrap();
    let passed: usize = summary.split(' ').next().unwrap().parse().unwrap();
    assert!(summary.ends_with("passed, 0 failed"), "{summary}");
    assert!(passed >= 100, "{summary}");
}

#[test]
fn failing_tests_fail_the_command_with_their_location() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p_test.rego"),
        "package p_test\n\ntest_ok if true\n\ntest_bad if 1 == 2\n\ntest_with_input if input.x == 1 with input as {\"x\": 1}\n",
    )
    .unwrap();
    let out = dockgate().arg("test").arg(dir.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL data.p_test.test_bad"), "{stdout}");
    assert!(stdout.contains("p_test.rego:5"), "{stdout}");
    assert!(
        stdout.lines().any(|l| l == "2 passed, 1 failed"),
        "{stdout}"
    );
}

#[test]
fn build_then_eval_a_user_policy() {
    let dir = tempfile::tempdir().unwrap();
    let pol = dir.path().join("pol");
    std::fs::create_dir_all(pol.join("org")).unwrap();
    std::fs::write(
        pol.join("org/docker.rego"),
        "package org.docker\n\ndeny contains msg if {\n\tinput.container.privileged\n\tmsg := data.org.text\n}\n",
    )
    .unwrap();
    std::fs::write(
        pol.join("org/data.json"),
        r#"{"text": "no privileged containers"}"#,
    )
    .unwrap();
    let bundle = dir.path().join("b.tar.gz");
    let out = dockgate()
        .args(["build", "-e", "org/docker/deny", "-o"])
        .arg(&bundle)
        .arg(&pol)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let input = dir.path().join("in.json");
    std::fs::write(&input, r#"{"container": {"privileged": true}}"#).unwrap();
    let out = dockgate()
        .args(["eval", "--bundle"])
        .arg(&bundle)
        .arg("--input")
        .arg(&input)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["allowed"], false);
    assert_eq!(v["violations"][0]["message"], "no privileged containers");

    // A syntax error: exit 2, file:line in the message.
    std::fs::write(
        pol.join("org/bad.rego"),
        "package org.bad\n\ndeny contains x if {\n",
    )
    .unwrap();
    let out = dockgate()
        .args(["build", "-o"])
        .arg(&bundle)
        .arg(&pol)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.rego:"), "{err}");
}
