//! The worked example of `docs/writing-policies.md`, end to end with the real binary.
//!
//! The commands are read from the doc (the `sh` block after `<!-- writing-policies-test:
//! commands -->`) and run as written, from a scratch copy of the repository's layout
//! (`policies/` and `docs/examples/writing-policies/`), so the doc cannot drift from what
//! works. The decisions `dockgate eval` prints must match the doc's verdict table (after
//! `<!-- writing-policies-test: verdict -->`), and `dockgate test` must pass.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

const DOC: &str = "docs/writing-policies.md";
const COMMANDS: &str = "<!-- writing-policies-test: commands -->";
const VERDICT: &str = "<!-- writing-policies-test: verdict -->";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The lines of the fenced block right after `marker` (continuations joined).
fn commands(doc: &str) -> Vec<String> {
    let after = doc
        .split_once(COMMANDS)
        .unwrap_or_else(|| panic!("{DOC}: no {COMMANDS}"))
        .1;
    let block = after
        .trim_start()
        .strip_prefix("```sh\n")
        .unwrap_or_else(|| panic!("{DOC}: {COMMANDS} is not followed by a ```sh block"));
    let block = &block[..block.find("```").expect("the block ends")];
    block
        .replace("\\\n", " ")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// What the doc says one service's decision is: allowed, and per kind the findings as
/// `ID (severity)` (`no ID` for a finding without one), sorted.
#[derive(Debug, PartialEq)]
struct Verdict {
    allowed: bool,
    kinds: [Vec<String>; 3],
}

fn documented_verdicts(doc: &str) -> BTreeMap<String, Verdict> {
    let after = doc
        .split_once(VERDICT)
        .unwrap_or_else(|| panic!("{DOC}: no {VERDICT}"))
        .1;
    let rows: Vec<Vec<String>> = after
        .trim_start()
        .lines()
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            l.trim()
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect();
    assert_eq!(
        rows.first().map(|r| r.join(",")),
        Some("service,allowed,deny,warn,audit".to_string()),
        "{DOC}: the verdict table's header"
    );
    let list = |cell: &str| -> Vec<String> {
        let mut v: Vec<String> = cell
            .split(", ")
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        v.sort();
        v
    };
    rows[2..]
        .iter()
        .map(|r| {
            let verdict = Verdict {
                allowed: r[1].parse().expect("allowed is true or false"),
                kinds: [list(&r[2]), list(&r[3]), list(&r[4])],
            };
            (r[0].clone(), verdict)
        })
        .collect()
}

fn actual_verdict(decision: &Value) -> Verdict {
    let list = |key: &str| -> Vec<String> {
        let mut v: Vec<String> = decision[key]
            .as_array()
            .unwrap_or_else(|| panic!("no {key} in {decision}"))
            .iter()
            .map(|f| {
                let id = f["rule_id"].as_str().unwrap();
                let id = if id.is_empty() { "no ID" } else { id };
                format!("{id} ({})", f["severity"].as_str().unwrap())
            })
            .collect();
        v.sort();
        v
    };
    Verdict {
        allowed: decision["allowed"].as_bool().unwrap(),
        kinds: [list("violations"), list("warnings"), list("audits")],
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// Runs one documented command line (`dockgate ARGS [> FILE]`) in `dir`; returns stdout.
fn run(line: &str, dir: &Path) -> String {
    let words = shlex::split(line).unwrap_or_else(|| panic!("cannot split: {line}"));
    let (args, redirect) = match words.iter().position(|w| w == ">") {
        Some(i) => (&words[..i], Some(words[i + 1].clone())),
        None => (&words[..], None),
    };
    assert_eq!(
        args.first().map(String::as_str),
        Some("dockgate"),
        "{DOC}: {line}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_dockgate"))
        .args(&args[1..])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "`{line}` failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    if let Some(file) = redirect {
        std::fs::write(dir.join(file), &stdout).unwrap();
    }
    stdout
}

#[test]
fn the_documented_commands_give_the_documented_verdict() {
    let doc = std::fs::read_to_string(repo().join(DOC)).unwrap();
    let lines = commands(&doc);
    let verbs: Vec<&str> = lines
        .iter()
        .map(|l| l.split_whitespace().nth(1).unwrap_or(""))
        .collect();
    assert_eq!(
        verbs,
        ["test", "build", "normalize", "eval"],
        "{DOC}: the example's commands: {lines:#?}"
    );

    // The repository's layout, with only what the example uses.
    let scratch = tempfile::tempdir().unwrap();
    copy_tree(&repo().join("policies"), &scratch.path().join("policies"));
    copy_tree(
        &repo().join("docs/examples/writing-policies"),
        &scratch.path().join("docs/examples/writing-policies"),
    );

    let outputs: Vec<String> = lines.iter().map(|l| run(l, scratch.path())).collect();

    // dockgate test: every test of the example passes, and there are some.
    let summary = outputs[0].lines().last().unwrap_or_default();
    let passed: usize = summary.split(' ').next().unwrap().parse().unwrap();
    assert!(
        summary.ends_with(" passed, 0 failed") && passed >= 6,
        "{summary}"
    );
    assert!(
        doc.contains(&format!("`{summary}`")),
        "{DOC} quotes another summary than `{summary}`"
    );

    // dockgate build: the bundle it names exists.
    let bundle = lines[1]
        .split_whitespace()
        .skip_while(|w| *w != "-o")
        .nth(1)
        .unwrap();
    assert!(scratch.path().join(bundle).is_file(), "no {bundle}");

    // normalize + eval: one decision per service, as the doc's table says.
    let input: Value = serde_json::from_str(&outputs[2]).unwrap();
    let decisions: Value = serde_json::from_str(&outputs[3]).unwrap();
    let services: Vec<String> = input
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["origin"]["service"].as_str().unwrap().to_string())
        .collect();
    let decisions = decisions.as_array().expect("one decision per service");
    assert_eq!(decisions.len(), services.len());
    let actual: BTreeMap<String, Verdict> = services
        .into_iter()
        .zip(decisions.iter().map(actual_verdict))
        .collect();
    assert_eq!(actual, documented_verdicts(&doc), "{}", outputs[3]);

    // The messages the doc quotes are the real ones.
    for d in decisions {
        for kind in ["violations", "warnings"] {
            for f in d[kind].as_array().unwrap() {
                let quoted = serde_json::to_string(&f["message"]).unwrap();
                assert!(doc.contains(&quoted), "{DOC} does not quote {quoted}");
            }
        }
    }
}
