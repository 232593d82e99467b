//! `--format sarif`: SARIF 2.1.0 as GitHub code scanning reads it.
//!
//! - one run, tool `dockgate`, one rule per control that has a result (its title as short
//!   description, its documentation as help text and Markdown, `helpUri` to it, its
//!   references and profile as properties, `security-severity` for GitHub's severity);
//! - one result per finding: `error` (deny), `warning` (warn) or `note` (audit), at the
//!   YAML node's file, line and column, the file as a relative URI against `%SRCROOT%`
//!   (`originalUriBaseIds` gives the absolute directory); the service as a logical location;
//!   a `partialFingerprints` entry that survives line moves (project, service, control);
//! - input errors as tool execution notifications (`executionSuccessful: false`).
//!
//! `tests/check_sarif.rs` validates the output against the official SARIF 2.1.0 schema.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::Context;
use crate::check::{Level, Report, ReportFinding};
use crate::model::Severity;

/// The base ID of relative URIs.
pub const SRCROOT: &str = "%SRCROOT%";

fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "1.0",
    }
}

fn level(l: Level) -> &'static str {
    match l {
        Level::Deny => "error",
        Level::Warn => "warning",
        Level::Audit => "note",
    }
}

/// A file name as a URI reference: relative ones percent-encoded against `%SRCROOT%`,
/// absolute ones as `file://` URIs.
fn artifact(file: &str) -> Value {
    let enc = encode(file);
    if file.starts_with('/') {
        json!({ "uri": format!("file://{enc}") })
    } else {
        json!({ "uri": enc, "uriBaseId": SRCROOT })
    }
}

fn encode(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn rule_id(f: &ReportFinding) -> String {
    if f.rule_id.is_empty() {
        format!("{}/policy", f.package)
    } else {
        f.rule_id.clone()
    }
}

fn rule(id: &str, first: &ReportFinding, cx: &Context) -> Value {
    if let Some(c) = cx.controls.get(id) {
        let refs = c.refs.join("; ");
        let mut text = format!(
            "{} — {}\n\nProfile: {}. Default severity: {}. References: {}.\n\n{}",
            c.id,
            c.title,
            c.profile,
            c.severity,
            refs,
            c.body()
        );
        text.truncate(text.trim_end().len());
        let markdown = if c.doc.is_empty() {
            text.clone()
        } else {
            c.doc.clone()
        };
        let sev = Severity::parse(&c.severity).unwrap_or(first.severity);
        return json!({
            "id": c.id,
            "name": c.id.replace('-', ""),
            "shortDescription": { "text": c.title },
            "fullDescription": { "text": format!("{}: {}", c.id, c.title) },
            "help": { "text": text, "markdown": markdown },
            "helpUri": c.help_uri(),
            "defaultConfiguration": { "level": "error" },
            "properties": {
                "tags": ["security", "docker-compose", c.profile],
                "precision": "high",
                "problem.severity": "error",
                "security-severity": security_severity(sev),
                "profile": c.profile,
                "references": c.refs,
            }
        });
    }
    let title = if first.title.is_empty() {
        id.to_string()
    } else {
        first.title.clone()
    };
    json!({
        "id": id,
        "shortDescription": { "text": title },
        "help": { "text": format!("{title} (policy package {})", first.package) },
        "properties": {
            "tags": ["security", "docker-compose"],
            "security-severity": security_severity(first.severity),
        }
    })
}

/// The SARIF log of `report`.
pub fn sarif(report: &Report, cx: &Context) -> Value {
    let mut rules: BTreeMap<String, (usize, Value)> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut results = Vec::new();
    for p in &report.projects {
        for s in &p.services {
            for f in &s.findings {
                let id = rule_id(f);
                if !rules.contains_key(&id) {
                    rules.insert(id.clone(), (order.len(), rule(&id, f, cx)));
                    order.push(id.clone());
                }
                let index = rules.get(&id).map_or(0, |r| r.0);
                let mut region = json!({ "startLine": f.line.max(1) });
                if f.column > 0 {
                    region["startColumn"] = json!(f.column);
                }
                results.push(json!({
                    "ruleId": id,
                    "ruleIndex": index,
                    "level": level(f.level),
                    "message": { "text": f.message },
                    "locations": [{
                        "physicalLocation": {
                            "artifactLocation": artifact(&f.file),
                            "region": region,
                        },
                        "logicalLocations": [{
                            "name": s.name,
                            "fullyQualifiedName": format!("{}/{}", p.name, s.name),
                            "kind": "object",
                        }],
                    }],
                    "partialFingerprints": {
                        "dockgateFinding/v1": format!("{}/{}/{}/{}", p.name, s.name, id, f.field.as_deref().unwrap_or("")),
                    },
                    "properties": {
                        "severity": f.severity.as_str(),
                        "field": f.field,
                        "project": p.name,
                        "service": s.name,
                    },
                }));
            }
        }
    }
    let notifications: Vec<Value> = report
        .errors
        .iter()
        .map(|e| {
            let mut n = json!({
                "level": "error",
                "message": { "text": if e.path.is_empty() { e.message.clone() } else { format!("{}: {}", e.path, e.message) } },
            });
            if !e.file.is_empty() {
                let mut loc = json!({ "physicalLocation": { "artifactLocation": artifact(&e.file) } });
                if e.line > 0 {
                    let mut region = json!({ "startLine": e.line });
                    if e.column > 0 {
                        region["startColumn"] = json!(e.column);
                    }
                    loc["physicalLocation"]["region"] = region;
                }
                n["locations"] = json!([loc]);
            }
            n
        })
        .collect();
    let rules: Vec<Value> = order
        .iter()
        .filter_map(|id| rules.remove(id).map(|r| r.1))
        .collect();
    let mut base = cx.base_dir.clone();
    if !base.ends_with('/') {
        base.push('/');
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "dockgate",
                    "version": report.tool.version,
                    "semanticVersion": report.tool.version,
                    "informationUri": super::super::catalogue::DOCS_URL,
                    "rules": rules,
                }
            },
            "originalUriBaseIds": {
                SRCROOT: { "uri": format!("file://{}", encode(&base)) }
            },
            "invocations": [{
                "executionSuccessful": report.errors.is_empty(),
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
            "properties": {
                "policyOrigin": report.policy_origin,
                "bundleRevision": report.bundle_revision,
                "profile": report.profile,
            }
        }]
    })
}
