//! `dockgate check` report formats over the same fixture, each with the known findings at
//! the known lines: SARIF 2.1.0 validated against the official schema (vendored in
//! `tests/fixtures/sarif/`, see its SOURCE.txt), JUnit XML parsed as XML, GitHub workflow
//! commands; and `dockgate explain`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/server.rs"]
mod server_support;

use std::path::Path;
use std::process::Output;

use serde_json::Value;
use server_support::run_in_check_fixtures;

fn run(args: &[&str]) -> Output {
    run_in_check_fixtures(args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The official schema, with one fix at load time: `run.language`'s pattern has an unescaped
/// `]` that ECMA-262 reads as a literal and Rust's regex engines refuse; it is escaped here
/// (same meaning). The vendored file is unchanged.
fn sarif_validator() -> jsonschema::Validator {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sarif/sarif-2.1.0-rtm.5.json");
    let text = std::fs::read_to_string(path).unwrap();
    let bad = r#""^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$""#;
    assert!(text.contains(bad), "the known pattern is in the schema");
    let text = text.replace(bad, r#""^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}\\]?$""#);
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .build(&schema)
        .expect("the SARIF schema compiles")
}

fn assert_valid(v: &jsonschema::Validator, doc: &Value, what: &str) {
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}: {errors:#?}");
}

#[test]
fn sarif_is_valid_and_places_results_at_the_keys() {
    let o = run(&["check", "known", "--format", "sarif"]);
    assert_eq!(o.status.code(), Some(1));
    let log: Value = serde_json::from_slice(&o.stdout).expect("SARIF is JSON");
    assert_valid(&sarif_validator(), &log, "known");
    assert_eq!(log["version"], "2.1.0");
    let run0 = &log["runs"][0];
    let base = run0["originalUriBaseIds"]["%SRCROOT%"]["uri"]
        .as_str()
        .unwrap();
    assert!(
        base.starts_with("file:///") && base.ends_with('/'),
        "{base}"
    );
    let rules = run0["tool"]["driver"]["rules"].as_array().unwrap();
    let results = run0["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    let mut seen = Vec::new();
    for r in results {
        let id = r["ruleId"].as_str().unwrap();
        let rule = &rules[r["ruleIndex"].as_u64().unwrap() as usize];
        assert_eq!(rule["id"], id, "ruleIndex points at the rule");
        let loc = &r["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uriBaseId"], "%SRCROOT%");
        seen.push(format!(
            "{id} {}:{}:{} {}",
            loc["artifactLocation"]["uri"].as_str().unwrap(),
            loc["region"]["startLine"],
            loc["region"]["startColumn"],
            r["level"].as_str().unwrap()
        ));
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "DG-101 known/compose.yaml:6:5 error",
            "DG-107 known/compose.yaml:12:9 error",
            "DG-201 known/compose.yaml:9:9 error",
            "DG-301 known/compose.yaml:14:5 error",
        ]
    );
    // Rules carry the control's documentation, link and references.
    let dg101 = rules.iter().find(|r| r["id"] == "DG-101").unwrap();
    assert_eq!(dg101["shortDescription"]["text"], "container is privileged");
    assert!(dg101["help"]["text"].as_str().unwrap().contains("CIS 5.5"));
    assert!(
        dg101["help"]["markdown"]
            .as_str()
            .unwrap()
            .starts_with("## DG-101")
    );
    assert!(dg101["helpUri"].as_str().unwrap().ends_with("#dg-101"));
    assert_eq!(dg101["properties"]["security-severity"], "9.5");
    assert_eq!(
        dg101["properties"]["references"],
        serde_json::json!(["CIS 5.5", "KICS Privileged Containers Enabled"])
    );
}

#[test]
fn sarif_with_input_errors_warnings_and_a_custom_policy_is_valid() {
    let v = sarif_validator();
    let o = run(&["check", "broken", "known", "--format", "sarif"]);
    assert_eq!(o.status.code(), Some(2));
    let log: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_valid(&v, &log, "broken + known");
    let inv = &log["runs"][0]["invocations"][0];
    assert_eq!(inv["executionSuccessful"], false);
    let n = &inv["toolExecutionNotifications"][0];
    assert_eq!(
        n["locations"][0]["physicalLocation"]["region"]["startLine"],
        4
    );

    let o = run(&[
        "check",
        "--policies",
        "warn-policy",
        "-e",
        "acme/compose/warn",
        "-e",
        "acme/compose/deny",
        "known",
        "--format",
        "sarif",
    ]);
    let log: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_valid(&v, &log, "custom policy");
    let levels: Vec<&str> = log["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["level"].as_str().unwrap())
        .collect();
    assert!(
        levels.contains(&"warning") && levels.contains(&"error"),
        "{levels:?}"
    );

    let o = run(&[
        "check",
        "-r",
        "tree",
        "--profile",
        "restricted",
        "--format",
        "sarif",
    ]);
    assert_valid(
        &v,
        &serde_json::from_slice(&o.stdout).unwrap(),
        "restricted tree",
    );
}

#[test]
fn the_schema_validation_catches_a_broken_log() {
    // The validator is not vacuous: a result without a message is refused.
    let v = sarif_validator();
    let bad = serde_json::json!({
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"ruleId": "a"}]}]
    });
    assert!(v.iter_errors(&bad).next().is_some());
}

#[test]
fn junit_has_one_case_per_service_and_control() {
    let o = run(&["check", "known", "--format", "junit"]);
    assert_eq!(o.status.code(), Some(1));
    let xml = stdout(&o);
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let controls = 43;
    // 3 services × every control of the library.
    assert_eq!(
        root.attribute("tests"),
        Some((3 * controls).to_string().as_str())
    );
    assert_eq!(root.attribute("failures"), Some("4"));
    let cases: Vec<_> = root
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 3 * controls);
    let failing: Vec<String> = cases
        .iter()
        .filter(|c| c.children().any(|n| n.has_tag_name("failure")))
        .map(|c| {
            format!(
                "{} {} {}",
                c.attribute("classname").unwrap(),
                c.attribute("name").unwrap().split(' ').next().unwrap(),
                c.attribute("line").unwrap()
            )
        })
        .collect();
    assert_eq!(
        failing,
        [
            "known.web DG-101 6",
            "known.web DG-107 12",
            "known.web DG-201 9",
            "known.db DG-301 14"
        ]
    );

    let o = run(&["check", "broken", "--format", "junit"]);
    assert_eq!(o.status.code(), Some(2));
    let xml = stdout(&o);
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let errors = doc
        .descendants()
        .filter(|n| n.has_tag_name("error"))
        .count();
    assert_eq!(errors, 2);
    assert!(xml.contains("broken/compose.yaml:4:5"), "{xml}");
}

#[test]
fn github_annotations_point_at_the_keys() {
    let o = run(&["check", "known", "--format", "github"]);
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o);
    for prefix in [
        "::error file=known/compose.yaml,line=6,col=5,title=DG-101 container is privileged::service \"web\": remove privileged",
        "::error file=known/compose.yaml,line=12,col=9,title=DG-107 ",
        "::error file=known/compose.yaml,line=9,col=9,title=DG-201 ",
        "::error file=known/compose.yaml,line=14,col=5,title=DG-301 ",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(prefix)),
            "{prefix}\n{text}"
        );
    }
    assert_eq!(text.lines().filter(|l| l.starts_with("::")).count(), 4);
    let o = run(&[
        "check",
        "--policies",
        "warn-policy",
        "-e",
        "acme/compose/warn",
        "tree/beta",
        "--format",
        "github",
    ]);
    assert!(
        stdout(&o).starts_with("::warning file=tree/beta/docker-compose.yml,line=2,col=3"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn explain_prints_a_control_and_lists_them_all() {
    let o = run(&["explain", "DG-101"]);
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    assert!(
        text.starts_with("## DG-101 — container is privileged\n"),
        "{text}"
    );
    assert!(text.contains("- **References:** CIS 5.5; KICS Privileged Containers Enabled"));
    assert!(
        text.contains("privileged: true"),
        "the failing snippet: {text}"
    );
    // The same text as docs/controls.md's section.
    let md =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/controls.md"))
            .unwrap();
    let section = text.split("\n\nOnline: ").next().unwrap();
    assert!(md.contains(section));
    // `dg-101` and `101` work too; an unknown ID is an error.
    assert_eq!(stdout(&run(&["explain", "dg-101"])), text);
    assert_eq!(stdout(&run(&["explain", "101"])), text);
    let o = run(&["explain", "DG-999"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no control \"DG-999\""));

    let o = run(&["explain"]);
    assert_eq!(o.status.code(), Some(0));
    let list = stdout(&o);
    let rows: Vec<&str> = list.lines().filter(|l| l.starts_with("DG-")).collect();
    assert_eq!(rows.len(), 43);
    assert!(
        rows[0].starts_with("DG-101  baseline    critical  container is privileged"),
        "{}",
        rows[0]
    );
    let sections = md.lines().filter(|l| l.starts_with("## DG-")).count();
    assert_eq!(rows.len(), sections);
}

/// Every `dockgate check` command line of the CI examples (`docs/ci/github-actions.yml`,
/// `action.yml`) parses as YAML and uses only flags `dockgate check --help` has.
#[test]
fn ci_examples_use_real_flags() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let help = stdout(&run(&["check", "--help"]));
    let mut checked = 0;
    for file in ["docs/ci/github-actions.yml", "action.yml"] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let _: serde_yaml::Value =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        for line in text
            .lines()
            .filter(|l| l.contains("check ") && l.contains("dockgate") || l.contains("args=(check"))
        {
            for word in line.split_whitespace() {
                let flag = word.trim_matches(|c| c == '(' || c == ')' || c == '"');
                if flag.starts_with("--") && flag.len() > 2 {
                    let flag = flag.split('=').next().unwrap();
                    assert!(
                        help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
                        "{file}: {flag} is not a `dockgate check` flag:\n{line}"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 10, "the examples' flags were found ({checked})");
}
