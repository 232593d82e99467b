//! The docs and the policies' own metadata agree.
//!
//! `docs/controls.md` has one section per control (`## DG-nnn — title` followed by
//! `- **Profile:**`, `- **Severity:**`, `- **Where:**`, `- **References:**` lines); the
//! library declares the same in `data.dockgate.catalogue.controls`, evaluated here through
//! the wasm engine. Every ID must be in both with equal fields. The shared catalogue
//! (`../shared/controls.md`, the issue's table) must list only controls the library has, with
//! the same profile, severity and inputs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use dockgate::build::{BuildOptions, build};
use dockgate::library;
use dockgate::policy::{EngineOptions, PolicyEngine};
use serde_json::Value;

const CATALOGUE: &str = "dockgate/catalogue/controls";

/// A control's metadata, from either side.
#[derive(Debug, Clone, PartialEq, Default)]
struct Meta {
    title: String,
    profile: String,
    severity: String,
    where_: Vec<String>,
    refs: Vec<String>,
}

/// The catalogue as the wasm engine evaluates it; loaded once for the whole test binary.
fn catalogue() -> &'static BTreeMap<String, Meta> {
    static CATALOGUE_VALUE: OnceLock<BTreeMap<String, Meta>> = OnceLock::new();
    CATALOGUE_VALUE.get_or_init(|| {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(evaluate_catalogue())
    })
}

async fn evaluate_catalogue() -> BTreeMap<String, Meta> {
    let bundle = build(
        &library::sources().expect("the embedded library"),
        &BuildOptions {
            entrypoints: vec![CATALOGUE.into()],
            ..BuildOptions::default()
        },
    )
    .expect("the library builds with the catalogue as entrypoint");
    let engine = PolicyEngine::load(
        bundle,
        &EngineOptions {
            pool_size: 1,
            ..EngineOptions::default()
        },
    )
    .await
    .expect("the catalogue bundle loads");
    let value = engine.evaluate(CATALOGUE, &Value::Null).await.unwrap();
    let Value::Object(controls) = value else {
        panic!("{CATALOGUE} is not an object: {value}");
    };
    controls
        .into_iter()
        .map(|(id, c)| {
            let text = |k: &str| {
                c[k].as_str()
                    .unwrap_or_else(|| panic!("catalogue {id}: `{k}` is not a string"))
                    .to_string()
            };
            let list = |k: &str| -> Vec<String> {
                c[k].as_array()
                    .unwrap_or_else(|| panic!("catalogue {id}: `{k}` is not a list"))
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect()
            };
            let meta = Meta {
                title: text("title"),
                profile: text("profile"),
                severity: text("severity"),
                where_: list("where"),
                refs: list("refs"),
            };
            (id, meta)
        })
        .collect()
}

fn split(text: &str, sep: char) -> Vec<String> {
    text.split(sep)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The control sections of docs/controls.md. Code blocks are skipped (snippets hold `#`
/// comments); a section ends at the next heading. Malformed sections are errors.
fn parse_controls_md(text: &str) -> Result<BTreeMap<String, Meta>, Vec<String>> {
    let mut out: BTreeMap<String, Meta> = BTreeMap::new();
    let mut errors = Vec::new();
    let mut current: Option<(String, Meta, usize)> = None;
    let mut in_code = false;
    let mut finish = |cur: Option<(String, Meta, usize)>, errors: &mut Vec<String>| {
        if let Some((id, meta, line)) = cur {
            let mut missing = Vec::new();
            for (name, empty) in [
                ("Profile", meta.profile.is_empty()),
                ("Severity", meta.severity.is_empty()),
                ("Where", meta.where_.is_empty()),
                ("References", meta.refs.is_empty()),
            ] {
                if empty {
                    missing.push(name);
                }
            }
            if !missing.is_empty() {
                errors.push(format!("line {line}: {id} has no {}", missing.join(", ")));
            }
            if out.insert(id.clone(), meta).is_some() {
                errors.push(format!("line {line}: {id} has a second section"));
            }
        }
    };
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        if line.starts_with('#') {
            finish(current.take(), &mut errors);
            if let Some(rest) = line.strip_prefix("## DG-") {
                match rest.split_once(" — ") {
                    Some((num, title))
                        if num.len() == 3 && num.bytes().all(|b| b.is_ascii_digit()) =>
                    {
                        let meta = Meta {
                            title: title.trim().to_string(),
                            ..Meta::default()
                        };
                        current = Some((format!("DG-{num}"), meta, n));
                    }
                    _ => errors.push(format!("line {n}: not `## DG-nnn — title`: {line}")),
                }
            }
            continue;
        }
        let Some((_, meta, _)) = current.as_mut() else {
            continue;
        };
        let Some(item) = line.strip_prefix("- **") else {
            continue;
        };
        let Some((key, value)) = item.split_once(":** ") else {
            continue;
        };
        let value = value.trim();
        let slot_was_set = match key {
            "Profile" => !std::mem::replace(&mut meta.profile, value.into()).is_empty(),
            "Severity" => !std::mem::replace(&mut meta.severity, value.into()).is_empty(),
            "Where" => !std::mem::replace(&mut meta.where_, split(value, ',')).is_empty(),
            "References" => !std::mem::replace(&mut meta.refs, split(value, ';')).is_empty(),
            _ => false,
        };
        if slot_was_set {
            errors.push(format!("line {n}: a second `{key}` line"));
        }
    }
    finish(current.take(), &mut errors);
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Field-by-field differences of two entries.
fn differences(doc: &Meta, policy: &Meta) -> Vec<String> {
    let mut d = Vec::new();
    let mut cmp = |name: &str, a: String, b: String| {
        if a != b {
            d.push(format!("{name}: docs say {a}, the catalogue says {b}"));
        }
    };
    cmp("title", doc.title.clone(), policy.title.clone());
    cmp("profile", doc.profile.clone(), policy.profile.clone());
    cmp("severity", doc.severity.clone(), policy.severity.clone());
    cmp(
        "where",
        format!("{:?}", doc.where_),
        format!("{:?}", policy.where_),
    );
    cmp(
        "references",
        format!("{:?}", doc.refs),
        format!("{:?}", policy.refs),
    );
    d
}

/// Compares both maps: every ID on both sides, equal fields.
fn disagreements(docs: &BTreeMap<String, Meta>, policy: &BTreeMap<String, Meta>) -> Vec<String> {
    let mut out = Vec::new();
    for id in docs.keys().filter(|id| !policy.contains_key(*id)) {
        out.push(format!("{id}: in docs/controls.md, not in the catalogue"));
    }
    for id in policy.keys().filter(|id| !docs.contains_key(*id)) {
        out.push(format!(
            "{id}: in the catalogue, no section in docs/controls.md"
        ));
    }
    for (id, doc) in docs {
        if let Some(p) = policy.get(id) {
            out.extend(
                differences(doc, p)
                    .into_iter()
                    .map(|d| format!("{id}: {d}")),
            );
        }
    }
    out
}

#[test]
fn docs_controls_md_and_the_catalogue_agree() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/controls.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let docs =
        parse_controls_md(&text).unwrap_or_else(|e| panic!("docs/controls.md:\n{}", e.join("\n")));
    let policy = catalogue();
    assert!(
        policy.len() >= 43,
        "{} controls in the catalogue",
        policy.len()
    );
    let problems = disagreements(&docs, policy);
    assert!(
        problems.is_empty(),
        "docs/controls.md and data.dockgate.catalogue.controls disagree:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_comparison_sees_each_kind_of_drift() {
    let doc = "# Area\n\n## DG-901 — a title\n\n- **Profile:** baseline\n- **Severity:** high\n\
               - **Where:** compose, engine\n- **References:** CIS 1.1; SEED x\n\n\
               ```yaml\n# DG-901 fails: a comment, not a heading\n```\n";
    let parsed = parse_controls_md(doc).unwrap();
    let meta = &parsed["DG-901"];
    assert_eq!(meta.where_, ["compose", "engine"]);
    assert_eq!(meta.refs, ["CIS 1.1", "SEED x"]);
    let mut policy = parsed.clone();
    assert!(disagreements(&parsed, &policy).is_empty());
    policy.get_mut("DG-901").unwrap().severity = "low".into();
    policy.get_mut("DG-901").unwrap().refs.pop();
    policy.insert("DG-902".into(), meta.clone());
    let found = disagreements(&parsed, &policy);
    assert_eq!(found.len(), 3, "{found:?}");

    let broken = "## DG-903 — no metadata\n\ntext\n## DG-9x — bad\n";
    let errors = parse_controls_md(broken).unwrap_err();
    assert_eq!(errors.len(), 2, "{errors:?}");
}

/// One row of a table of `../shared/controls.md`:
/// `| ID | control | profile | sev | where | refs |`.
struct SharedRow {
    id: String,
    title: String,
    profile: String,
    severity: String,
    where_: Vec<String>,
}

fn parse_shared(text: &str) -> Vec<SharedRow> {
    text.lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l
                .trim()
                .strip_prefix('|')?
                .split('|')
                .map(str::trim)
                .collect();
            let id = *cells.first()?;
            if !id.starts_with("DG-") || cells.len() < 6 {
                return None;
            }
            let where_ = cells[4]
                .split_whitespace()
                .map(|w| {
                    match w {
                        "C" => "compose",
                        "E" => "engine",
                        "X" => "exec",
                        "P" => "project",
                        other => other,
                    }
                    .to_string()
                })
                .collect();
            Some(SharedRow {
                id: id.to_string(),
                title: cells[1].to_string(),
                profile: cells[2].to_string(),
                severity: cells[3].to_string(),
                where_,
            })
        })
        .collect()
}

#[test]
fn the_shared_catalogue_matches_the_library() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/controls.md");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} (the issue's catalogue): {e}", path.display()));
    let rows = parse_shared(&text);
    assert!(
        rows.len() >= 43,
        "{} rows in {}",
        rows.len(),
        path.display()
    );
    let policy = catalogue();
    let mut problems = Vec::new();
    for row in &rows {
        let Some(p) = policy.get(&row.id) else {
            problems.push(format!("{}: not in the library's catalogue", row.id));
            continue;
        };
        for (name, shared, ours) in [
            ("title", &row.title, &p.title),
            ("profile", &row.profile, &p.profile),
            ("severity", &row.severity, &p.severity),
        ] {
            if shared != ours {
                problems.push(format!(
                    "{}: {name} {shared:?} there, {ours:?} here",
                    row.id
                ));
            }
        }
        if row.where_ != p.where_ {
            problems.push(format!(
                "{}: where {:?} there, {:?} here",
                row.id, row.where_, p.where_
            ));
        }
    }
    for id in policy
        .keys()
        .filter(|id| !rows.iter().any(|r| &r.id == *id))
    {
        problems.push(format!("{id}: in the library, not in the shared catalogue"));
    }
    assert!(
        problems.is_empty(),
        "{} and the library disagree:\n{}",
        path.display(),
        problems.join("\n")
    );
}
