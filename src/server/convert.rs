//! Conversions between domain types and protobuf messages, and the one place where errors
//! become gRPC `Status`es.

use crate::check::{Evaluated, ProjectReport, ReportFinding, TaskFailed};
use crate::compose::{ComposeError, Diagnostic, Position};
use crate::model::{Decision, Finding, InputValidationError, Severity};
use crate::policy::EngineError;

use super::pb;

fn severity(s: Severity) -> i32 {
    let v = match s {
        Severity::Info => pb::Severity::Info,
        Severity::Low => pb::Severity::Low,
        Severity::Medium => pb::Severity::Medium,
        Severity::High => pb::Severity::High,
        Severity::Critical => pb::Severity::Critical,
    };
    v as i32
}

fn position(p: &Position) -> pb::FilePosition {
    pb::FilePosition {
        file: p.file.to_string(),
        line: u32::try_from(p.line).unwrap_or(u32::MAX),
        column: u32::try_from(p.col).unwrap_or(u32::MAX),
    }
}

/// A finding, with the subject it is about and its position in a compose file when known.
pub fn finding(f: &Finding, subject: &str, pos: Option<&Position>) -> pb::Finding {
    pb::Finding {
        rule_id: f.rule_id.clone(),
        package: f.package.clone(),
        severity: severity(f.severity),
        message: f.message.clone(),
        service: subject.to_string(),
        field: f.field.clone().unwrap_or_default(),
        position: pos.map(position),
        details_json: if f.details.is_empty() {
            String::new()
        } else {
            serde_json::Value::Object(f.details.clone()).to_string()
        },
    }
}

/// A decision; `locate` gives a finding's position (compose checks) or `None`.
pub fn decision(
    d: &Decision,
    subject: &str,
    audit_id: &str,
    evaluation_time_us: u64,
    locate: &dyn Fn(&Finding) -> Option<Position>,
) -> pb::Decision {
    let conv = |list: &[Finding]| {
        list.iter()
            .map(|f| finding(f, subject, locate(f).as_ref()))
            .collect()
    };
    pb::Decision {
        allowed: d.allowed,
        violations: conv(&d.violations),
        warnings: conv(&d.warnings),
        audits: conv(&d.audits),
        audit_id: audit_id.to_string(),
        bundle_revision: d.bundle_revision.clone(),
        evaluation_time_us,
    }
}

fn diagnostic(d: &Diagnostic) -> pb::FileError {
    pb::FileError {
        file: d.pos.file.to_string(),
        line: u32::try_from(d.pos.line).unwrap_or(u32::MAX),
        column: u32::try_from(d.pos.col).unwrap_or(u32::MAX),
        path: d.path.clone(),
        message: d.message.clone(),
    }
}

/// Compose load errors as located file errors (every schema violation separately), as
/// `dockgate check` reports them ([`crate::check::input_errors`]).
pub fn compose_errors(e: &ComposeError) -> Vec<pb::FileError> {
    crate::check::input_errors(e)
        .into_iter()
        .map(|i| pb::FileError {
            file: i.file,
            line: u32::try_from(i.line).unwrap_or(u32::MAX),
            column: u32::try_from(i.column).unwrap_or(u32::MAX),
            path: i.path,
            message: i.message,
        })
        .collect()
}

/// Compose warnings.
pub fn compose_warnings(list: &[Diagnostic]) -> Vec<pb::FileError> {
    list.iter().map(diagnostic).collect()
}

/// Bad input: every schema error with its path.
pub fn invalid_input(e: &InputValidationError) -> tonic::Status {
    let lines: Vec<String> = e
        .errors
        .iter()
        .take(20)
        .map(|f| format!("{}: {}", f.path, f.message))
        .collect();
    tonic::Status::invalid_argument(format!(
        "admission_request_json does not match the AdmissionRequest schema (docs/input.schema.json): {}",
        lines.join("; ")
    ))
}

/// Engine errors. Every one is a failure the caller must treat as a deny.
pub fn engine_error(e: &EngineError) -> tonic::Status {
    match e {
        EngineError::Closed => tonic::Status::unavailable(e.to_string()),
        EngineError::Timeout { .. } => tonic::Status::deadline_exceeded(e.to_string()),
        EngineError::MemoryLimit { .. } => tonic::Status::resource_exhausted(e.to_string()),
        _ => tonic::Status::internal(format!("policy evaluation failed (deny): {e}")),
    }
}

/// The services of a check: each decision as the engine made it, each finding at the
/// position [`crate::check::check_project`] found for it; `file` maps file names for the
/// caller.
pub fn check_services(
    report: &ProjectReport,
    evaluated: &[Evaluated],
    file: &dyn Fn(&str) -> String,
) -> Vec<pb::ServiceDecision> {
    report
        .services
        .iter()
        .zip(evaluated)
        .map(|(s, ev)| {
            let at = |f: &ReportFinding| pb::FilePosition {
                file: file(&f.file),
                line: u32::try_from(f.line).unwrap_or(u32::MAX),
                column: u32::try_from(f.column).unwrap_or(u32::MAX),
            };
            let d = &ev.decision;
            let mut located = s.findings.iter();
            let mut conv = |list: &[Finding]| -> Vec<pb::Finding> {
                list.iter()
                    .map(|f| {
                        let mut out = finding(f, &s.name, None);
                        out.position = located.next().map(at);
                        out
                    })
                    .collect()
            };
            let violations = conv(&d.violations);
            let warnings = conv(&d.warnings);
            let audits = conv(&d.audits);
            pb::ServiceDecision {
                service: s.name.clone(),
                decision: Some(pb::Decision {
                    allowed: d.allowed,
                    violations,
                    warnings,
                    audits,
                    audit_id: ev.audit_id.clone(),
                    bundle_revision: d.bundle_revision.clone(),
                    evaluation_time_us: ev.evaluation_time_us,
                }),
                position: Some(pb::FilePosition {
                    file: file(&s.file),
                    line: u32::try_from(s.line).unwrap_or(u32::MAX),
                    column: u32::try_from(s.column).unwrap_or(u32::MAX),
                }),
            }
        })
        .collect()
}

impl From<TaskFailed> for tonic::Status {
    fn from(e: TaskFailed) -> Self {
        tonic::Status::internal(format!("policy evaluation failed (deny): {e}"))
    }
}
