//! `dockgate check` end to end (the real binary, embedded engine): known findings at known
//! lines in text and JSON, exit codes, a multi-file project with an override file and
//! interpolation, input errors with positions, several projects and `--recursive`,
//! `--fail-on warn` with a policy directory, and the JSON report's published schema.
//!
//! Fixtures: `tests/fixtures/check/`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/server.rs"]
mod server_support;

use std::path::Path;
use std::process::Output;

use serde_json::Value;
use server_support::{check_fixtures as fixtures, dockgate, run_bounded, run_in_check_fixtures};

/// `dockgate check ARGS` run in the fixtures directory.
fn check(args: &[&str]) -> Output {
    run_in_check_fixtures(&[&["check"], args].concat())
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(o), stderr(o)))
}

/// `(service, rule, file:line:col, level)` of every finding of a JSON report.
fn located(report: &Value) -> Vec<(String, String, String, String)> {
    let mut out = Vec::new();
    for p in report["projects"].as_array().unwrap() {
        for s in p["services"].as_array().unwrap() {
            for f in s["findings"].as_array().unwrap() {
                out.push((
                    s["name"].as_str().unwrap().to_string(),
                    f["rule_id"].as_str().unwrap().to_string(),
                    format!(
                        "{}:{}:{}",
                        f["file"].as_str().unwrap(),
                        f["line"],
                        f["column"]
                    ),
                    f["level"].as_str().unwrap().to_string(),
                ));
            }
        }
    }
    out
}

fn has(list: &[(String, String, String, String)], service: &str, rule: &str, at: &str) -> bool {
    list.iter()
        .any(|(s, r, a, _)| s == service && r == rule && a == at)
}

#[test]
fn text_report_lists_known_findings_at_their_keys_and_exits_1() {
    let o = check(&["known"]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    let text = stdout(&o);
    for line in [
        "service web (known/compose.yaml:4:3): denied, 3 findings",
        "  known/compose.yaml:6:5  DG-101  critical  service \"web\": remove privileged: true",
        "  known/compose.yaml:12:9  DG-107  high      service \"web\": cap_add SYS_ADMIN",
        "  known/compose.yaml:9:9  DG-201  critical  service \"web\": mounts the container runtime socket",
        "service db (known/compose.yaml:13:3): denied, 1 finding",
        "  known/compose.yaml:14:5  DG-301  medium    service \"db\": image \"postgres\" has no tag",
        "service cache (known/compose.yaml:17:3): allowed, 0 findings",
        "FAILED: 3 services in 1 project, 2 denied; 4 findings (4 deny, 0 warn, 0 audit); 0 input errors",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(line)),
            "missing {line:?} in:\n{text}"
        );
    }
    assert!(
        !text.contains('\u{1b}'),
        "NO_COLOR and a pipe: no colour codes"
    );
}

#[test]
fn json_report_has_positions_counts_and_the_verdict() {
    let o = check(&["known", "--format", "json"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let r = json(&o);
    assert_eq!(r["schema"], "https://dockgate.dev/schemas/check-report/v1");
    assert_eq!(r["passed"], false);
    assert_eq!(r["policy_origin"], "built-in library");
    assert_eq!(
        r["summary"],
        serde_json::json!({"projects": 1, "services": 3, "services_denied": 2, "deny": 4, "warn": 0, "audit": 0, "errors": 0})
    );
    let l = located(&r);
    assert!(has(&l, "web", "DG-101", "known/compose.yaml:6:5"), "{l:?}");
    assert!(has(&l, "web", "DG-107", "known/compose.yaml:12:9"), "{l:?}");
    assert!(has(&l, "web", "DG-201", "known/compose.yaml:9:9"), "{l:?}");
    assert!(has(&l, "db", "DG-301", "known/compose.yaml:14:5"), "{l:?}");
    assert_eq!(l.len(), 4, "{l:?}");
    let web = &r["projects"][0]["services"][0];
    assert_eq!(
        (web["line"].as_u64(), web["column"].as_u64()),
        (Some(4), Some(3))
    );
    assert_eq!(web["findings"][0]["field"], "container.privileged");
    assert_eq!(web["findings"][0]["title"], "container is privileged");
    // The summary goes to stderr when the report is not text.
    assert!(
        stderr(&o).contains("dockgate check FAILED: 3 services"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn restricted_profile_finds_more_and_a_clean_service_passes_with_exit_0() {
    let o = check(&["known", "--profile", "restricted", "--format", "json"]);
    let r = json(&o);
    assert_eq!(r["profile"], "restricted");
    assert!(r["summary"]["deny"].as_u64().unwrap() > 4);
    // beta/two is clean under baseline.
    let o = check(&["tree/beta/docker-compose.yml"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("passed: 1 service in 1 project, 0 denied"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn multi_file_project_with_override_and_interpolation() {
    let o = check(&[
        "-f",
        "multi/compose.yaml",
        "-f",
        "multi/compose.override.yaml",
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let r = json(&o);
    let p = &r["projects"][0];
    assert_eq!(
        p["files"],
        serde_json::json!(["multi/compose.yaml", "multi/compose.override.yaml"])
    );
    let l = located(&r);
    // From the override file.
    assert!(
        has(&l, "api", "DG-103", "multi/compose.override.yaml:4:5"),
        "{l:?}"
    );
    // `${TOKEN_VALUE}` from .env, in the override's list item.
    assert!(
        has(&l, "api", "DG-402", "multi/compose.override.yaml:6:9"),
        "{l:?}"
    );
    // `${API_TAG}` = latest, in the base file.
    assert!(has(&l, "api", "DG-301", "multi/compose.yaml:4:5"), "{l:?}");
    // `network_mode: ${WORKER_NET}` = host.
    assert!(
        has(&l, "worker", "DG-102", "multi/compose.yaml:10:5"),
        "{l:?}"
    );
    // `${WORKER_TAG:-1.36}`: a pinned tag, so no DG-301 for the worker.
    assert!(
        !l.iter().any(|(s, r, ..)| s == "worker" && r == "DG-301"),
        "{l:?}"
    );
    // The service key of api is the override's (the last file that defines it).
    assert_eq!(p["services"][0]["file"], "multi/compose.override.yaml");

    // Discovery picks up the override file by itself; the environment wins over .env.
    let mut cmd = dockgate();
    cmd.current_dir(fixtures().join("multi"))
        .args(["check", "--format", "json"])
        .env("API_TAG", "1.4.2");
    let o = run_bounded(&mut cmd);
    let l = located(&json(&o));
    assert!(
        has(&l, "api", "DG-103", "compose.override.yaml:4:5"),
        "{l:?}"
    );
    assert!(
        !l.iter().any(|(_, r, ..)| r == "DG-301"),
        "API_TAG from the environment: {l:?}"
    );
}

#[test]
fn input_errors_exit_2_with_every_position() {
    for format in ["text", "json", "github"] {
        let o = check(&["broken", "--format", format]);
        assert_eq!(code(&o), 2, "{format}: {}{}", stdout(&o), stderr(&o));
        let all = format!("{}{}", stdout(&o), stderr(&o));
        assert!(
            all.contains("broken/compose.yaml:4:5: ")
                || all.contains("file=broken/compose.yaml,line=4,col=5"),
            "{format}: {all}"
        );
        assert!(all.contains("services.web.ports"), "{format}: {all}");
        assert!(all.contains("services.db.privileged"), "{format}: {all}");
    }
    let r = json(&check(&["broken", "--format", "json"]));
    assert_eq!(r["summary"]["errors"], 2);
    assert_eq!(r["errors"][0]["file"], "broken/compose.yaml");
    assert_eq!(
        (
            r["errors"][0]["line"].as_u64(),
            r["errors"][0]["column"].as_u64()
        ),
        (Some(4), Some(5))
    );
    assert_eq!(r["errors"][1]["line"], 8);

    // A broken project does not hide the findings of the others; the exit code is still 2.
    let o = check(&["broken", "known", "--format", "json"]);
    assert_eq!(code(&o), 2);
    let r = json(&o);
    assert_eq!(r["summary"]["projects"], 1);
    assert_eq!(r["summary"]["deny"], 4);

    // Usage errors are exit 2 too.
    assert_eq!(code(&check(&["-f", "known/compose.yaml", "tree"])), 2);
    assert_eq!(code(&check(&["--format", "yaml"])), 2);
    let o = check(&["does-not-exist"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("does-not-exist"), "{}", stderr(&o));
}

#[test]
fn several_projects_and_recursive() {
    let o = check(&["-r", "tree", "--format", "json"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let r = json(&o);
    let names: Vec<&str> = r["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    // Sorted walk; hidden directories and node_modules skipped.
    assert_eq!(names, ["alpha", "beta", "nested"]);
    let l = located(&r);
    assert!(
        has(&l, "one", "DG-102", "tree/alpha/compose.yaml:4:5"),
        "{l:?}"
    );
    assert!(
        has(&l, "three", "DG-301", "tree/beta/nested/compose.yml:3:5"),
        "{l:?}"
    );
    assert!(!l.iter().any(|(s, ..)| s == "hidden"), "{l:?}");

    // Paths given one by one: each its own project.
    let r = json(&check(&[
        "tree/alpha",
        "known/compose.yaml",
        "--format",
        "json",
    ]));
    assert_eq!(r["summary"]["projects"], 2);
    // --project-name with several projects is a usage error.
    assert_eq!(code(&check(&["tree/alpha", "known", "-p", "x"])), 2);
    // Nothing to check under a directory: exit 2.
    assert_eq!(code(&check(&["-r", "warn-policy"])), 2);
}

#[test]
fn env_file_values_are_checked_at_the_env_file_key() {
    let o = check(&["envfile", "--profile", "restricted", "--format", "json"]);
    let l = located(&json(&o));
    assert!(
        has(&l, "app", "DG-401", "envfile/compose.yaml:4:5"),
        "{l:?}"
    );
}

#[test]
fn fail_on_warn_and_a_policy_directory() {
    let policy = [
        "--policies",
        "warn-policy",
        "-e",
        "acme/compose/warn",
        "-e",
        "acme/compose/deny",
    ];
    // Only a warning: passes by default...
    let mut args = policy.to_vec();
    args.extend(["tree/beta/docker-compose.yml", "--format", "json"]);
    let o = check(&args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let r = json(&o);
    assert_eq!(r["passed"], true);
    assert_eq!(r["summary"]["warn"], 1);
    let l = located(&r);
    assert_eq!(l[0].1, "ACME-1");
    assert_eq!(l[0].3, "warn");
    // ...fails with --fail-on warn.
    args.extend(["--fail-on", "warn"]);
    let o = check(&args);
    assert_eq!(code(&o), 1);
    assert_eq!(json(&o)["passed"], false);
    // The deny rule of the same policy.
    let mut args = policy.to_vec();
    args.extend(["known", "--format", "json"]);
    let l = located(&json(&check(&args)));
    assert!(has(&l, "web", "ACME-2", "known/compose.yaml:6:5"), "{l:?}");
}

#[test]
fn output_file_gets_the_report_and_stderr_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.json");
    let o = check(&["known", "--format", "json", "-o", out.to_str().unwrap()]);
    assert_eq!(code(&o), 1);
    assert!(o.stdout.is_empty(), "{}", stdout(&o));
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(r["summary"]["deny"], 4);
    assert!(stderr(&o).contains("FAILED"), "{}", stderr(&o));
}

#[test]
fn colour_only_when_asked_for() {
    let mut cmd = dockgate();
    cmd.current_dir(fixtures())
        .args(["check", "known"])
        .env_remove("NO_COLOR")
        .env("CLICOLOR_FORCE", "1");
    let o = run_bounded(&mut cmd);
    assert!(
        stdout(&o).contains("\u{1b}["),
        "CLICOLOR_FORCE: colour codes expected"
    );
    let mut cmd = dockgate();
    cmd.current_dir(fixtures())
        .args(["check", "known"])
        .env("CLICOLOR_FORCE", "1");
    let o = run_bounded(&mut cmd);
    assert!(!stdout(&o).contains("\u{1b}["), "NO_COLOR wins");
}

#[test]
fn json_report_matches_its_published_schema() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/check-report.schema.json");
    let committed = std::fs::read_to_string(&path).expect("docs/check-report.schema.json");
    let generated = format!(
        "{}\n",
        serde_json::to_string_pretty(&dockgate::check::report::schema()).unwrap()
    );
    assert!(
        committed == generated,
        "docs/check-report.schema.json is stale: regenerate it with `cargo run -- schema check-report > docs/check-report.schema.json`"
    );
    let schema: Value = serde_json::from_str(&committed).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    for args in [
        vec!["known", "--format", "json"],
        vec!["broken", "known", "--format", "json"],
        vec!["-r", "tree", "--profile", "restricted", "--format", "json"],
    ] {
        let r = json(&check(&args));
        let errors: Vec<String> = validator.iter_errors(&r).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{args:?}: {errors:?}");
    }
}

#[test]
fn generated_500_service_project() {
    let o = check(&["large", "--format", "json"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let r = json(&o);
    assert_eq!(r["summary"]["services"], 500);
    // svc010 is the first privileged service: DG-101 at its `privileged:` key.
    let text = std::fs::read_to_string(fixtures().join("large/compose.yaml")).unwrap();
    let start = text.lines().position(|l| l == "  svc010:").unwrap();
    let line = text
        .lines()
        .enumerate()
        .skip(start)
        .find(|(_, l)| l.trim() == "privileged: true")
        .unwrap()
        .0
        + 1;
    let l = located(&r);
    assert!(
        has(
            &l,
            "svc010",
            "DG-101",
            &format!("large/compose.yaml:{line}:5")
        ),
        "{:?}",
        l.iter().filter(|f| f.0 == "svc010").collect::<Vec<_>>()
    );
}
