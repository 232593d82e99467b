//! Turning entrypoint results into a [`Decision`], following Conftest's conventions.
//!
//! An entrypoint's value is read in one of two ways:
//! - its last path segment is `deny`, `violation`, `warn` or `audit`: the value is a set
//!   (array) of findings of that kind;
//! - otherwise the value must be an object (a package document, or a rule such as the
//!   library's `dockgate/main/decision`) whose `deny`/`violation`/`warn`/`audit` keys hold
//!   those sets. An object with none of those keys is an error.
//!
//! A finding is a string (the message) or an object with `msg` (or `message`) and optionally
//! `id` (or `rule_id`), `severity`, `field` (or `path`), `package`; every other key is kept in
//! `details`. Severity defaults by kind: deny → high, warn → medium, audit → info.

use serde_json::{Map, Value};

use crate::model::{Decision, Finding, Severity, json_kind};

/// The kind of a set of findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Deny,
    Warn,
    Audit,
}

impl Kind {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "deny" | "violation" => Some(Self::Deny),
            "warn" => Some(Self::Warn),
            "audit" => Some(Self::Audit),
            _ => None,
        }
    }

    fn default_severity(self) -> Severity {
        match self {
            Self::Deny => Severity::High,
            Self::Warn => Severity::Medium,
            Self::Audit => Severity::Info,
        }
    }
}

/// Collects findings from entrypoint results into `decision`.
///
/// `entrypoint` is the OPA entrypoint (`a/b/deny`); `value` its result.
pub fn collect(decision: &mut Decision, entrypoint: &str, value: Value) -> Result<(), String> {
    let segments: Vec<&str> = entrypoint.split('/').filter(|s| !s.is_empty()).collect();
    let last = segments.last().copied().unwrap_or("");
    if let Some(kind) = Kind::from_name(last) {
        let package = segments[..segments.len() - 1].join(".");
        return add_set(decision, kind, &package, value);
    }
    let Value::Object(map) = value else {
        return Err(format!(
            "entrypoint {entrypoint} must be a deny/violation/warn/audit rule or an object with those keys, got {}",
            json_kind(&value)
        ));
    };
    let package = segments.join(".");
    let mut found = false;
    for (key, v) in map {
        if let Some(kind) = Kind::from_name(&key) {
            found = true;
            add_set(decision, kind, &package, v)
                .map_err(|e| format!("entrypoint {entrypoint}, key {key}: {e}"))?;
        }
    }
    if !found {
        return Err(format!(
            "entrypoint {entrypoint} has none of the keys deny, violation, warn, audit"
        ));
    }
    Ok(())
}

fn add_set(decision: &mut Decision, kind: Kind, package: &str, value: Value) -> Result<(), String> {
    let items = match value {
        Value::Array(items) => items,
        // A partial object rule (`deny[id] := msg`) yields an object: take its values.
        Value::Object(map) => map.into_iter().map(|(_, v)| v).collect(),
        Value::Bool(false) | Value::Null => Vec::new(),
        other => {
            return Err(format!(
                "expected a set of findings, got {}",
                json_kind(&other)
            ));
        }
    };
    for item in items {
        let finding = to_finding(kind, package, item)?;
        match kind {
            Kind::Deny => decision.violations.push(finding),
            Kind::Warn => decision.warnings.push(finding),
            Kind::Audit => decision.audits.push(finding),
        }
    }
    Ok(())
}

fn to_finding(kind: Kind, package: &str, item: Value) -> Result<Finding, String> {
    match item {
        Value::String(message) => Ok(Finding {
            rule_id: String::new(),
            package: package.to_string(),
            severity: kind.default_severity(),
            message,
            field: None,
            details: Map::new(),
        }),
        Value::Object(mut map) => {
            let message = take_str(&mut map, &["msg", "message"])
                .ok_or("a finding object needs a string `msg`")?;
            let rule_id = take_str(&mut map, &["id", "rule_id"]).unwrap_or_default();
            let severity = take_str(&mut map, &["severity"])
                .and_then(|s| Severity::parse(&s))
                .unwrap_or(kind.default_severity());
            let field = take_str(&mut map, &["field", "path"]);
            let package = take_str(&mut map, &["package"]).unwrap_or_else(|| package.to_string());
            Ok(Finding {
                rule_id,
                package,
                severity,
                message,
                field,
                details: map,
            })
        }
        other => Err(format!(
            "a finding must be a string or an object, got {}",
            json_kind(&other)
        )),
    }
}

fn take_str(map: &mut Map<String, Value>, keys: &[&str]) -> Option<String> {
    for k in keys {
        if let Some(Value::String(s)) = map.get(*k) {
            let s = s.clone();
            map.remove(*k);
            return Some(s);
        }
    }
    None
}

/// Sorts findings for stable output: by rule id, then message.
pub fn sort(decision: &mut Decision) {
    for list in [
        &mut decision.violations,
        &mut decision.warnings,
        &mut decision.audits,
    ] {
        list.sort_by(|a, b| (&a.rule_id, &a.message).cmp(&(&b.rule_id, &b.message)));
        list.dedup_by(|a, b| {
            a.rule_id == b.rule_id && a.message == b.message && a.field == b.field
        });
    }
    decision.allowed = decision.violations.is_empty();
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn empty() -> Decision {
        Decision {
            allowed: true,
            violations: vec![],
            warnings: vec![],
            audits: vec![],
            bundle_revision: String::new(),
        }
    }

    #[test]
    fn conftest_string_sets_by_rule_name() {
        let mut d = empty();
        collect(&mut d, "main/deny", json!(["no root"])).unwrap();
        collect(&mut d, "main/warn", json!(["old image"])).unwrap();
        sort(&mut d);
        assert!(!d.allowed);
        assert_eq!(d.violations[0].message, "no root");
        assert_eq!(d.violations[0].package, "main");
        assert_eq!(d.violations[0].severity, Severity::High);
        assert_eq!(d.warnings[0].severity, Severity::Medium);
    }

    #[test]
    fn objects_with_ids_and_extra_keys() {
        let mut d = empty();
        let v = json!({"deny": [{"id": "DG-101", "msg": "m", "severity": "critical",
                                  "field": "container.privileged", "profile": "baseline"}],
                       "warn": [], "audit": [{"id": "DG-1", "msg": "a"}]});
        collect(&mut d, "dockgate/main/decision", v).unwrap();
        sort(&mut d);
        let f = &d.violations[0];
        assert_eq!(f.rule_id, "DG-101");
        assert_eq!(f.severity, Severity::Critical);
        assert_eq!(f.field.as_deref(), Some("container.privileged"));
        assert_eq!(f.details.get("profile"), Some(&json!("baseline")));
        assert_eq!(d.audits.len(), 1);
    }

    #[test]
    fn malformed_results_are_errors() {
        let mut d = empty();
        assert!(collect(&mut d, "x/allow", json!(true)).is_err());
        assert!(collect(&mut d, "x", json!({"allow": true})).is_err());
        assert!(collect(&mut d, "x/deny", json!([{"id": "no message"}])).is_err());
        assert!(collect(&mut d, "x/deny", json!(3)).is_err());
    }

    #[test]
    fn malformed_results_name_what_they_got() {
        let mut d = empty();
        let e = collect(&mut d, "x/deny", json!("one string")).unwrap_err();
        assert_eq!(e, "expected a set of findings, got a string");
        let e = collect(&mut d, "x/deny", json!([3])).unwrap_err();
        assert_eq!(e, "a finding must be a string or an object, got a number");
        let e = collect(&mut d, "dockgate/main/decision", json!(null)).unwrap_err();
        assert!(e.ends_with("got null"), "{e}");
    }
}
