//! Pre-deploy checks of compose projects: one loaded [`Project`] → a [`ProjectReport`] of
//! located findings, the shape every report format (`crate::report`) renders.
//!
//! [`check_project`] is the one function both `dockgate check` (embedded engine) and the
//! server's `CheckCompose` RPC run, so a check gives the same findings at the same positions
//! either way: it builds the `check` admission request of every active service, has the
//! caller decide them (each in its own task, so an engine pool evaluates services in
//! parallel), and places each finding at the YAML node it is about — the offending key where
//! the file has it (`privileged: true`), else the service's key — from the YAML's own marks.
//!
//! - [`report`]: the report model (its JSON is the `--format json` schema, documented in
//!   `docs/check-report.md`, `docs/check-report.schema.json`);
//! - [`remote`]: the client side of `CheckCompose` (files sent, reply read back into the same
//!   model);
//! - [`projects`]: which compose projects one invocation checks (`-f`, directories,
//!   `--recursive`).

pub mod projects;
pub mod remote;
pub mod report;

use std::future::Future;

use crate::compose::{ComposeError, Diagnostic, Position, Project};
use crate::model::{AdmissionRequest, Decision, Finding, Operation};

pub use report::{FileIssue, Level, ProjectReport, Report, ReportFinding, ServiceReport, Summary};

/// One service's decision, as the caller's decide function returns it.
#[derive(Debug, Clone)]
pub struct Evaluated {
    /// The decision.
    pub decision: Decision,
    /// The decision log's id for it (`""` when nothing was logged).
    pub audit_id: String,
    /// Evaluation time, microseconds.
    pub evaluation_time_us: u64,
}

/// An evaluation task that did not finish (it panicked or the runtime is shutting down).
#[derive(Debug, thiserror::Error)]
#[error("a policy evaluation task failed: {0}")]
pub struct TaskFailed(pub String);

/// Decides every active service of `project` with `decide` (each in a task of its own) and
/// locates every finding. Services keep their file order. The first failed decision fails
/// the whole check (the other evaluations are aborted): a check never reports a service it
/// could not decide as clean.
pub async fn check_project<F, Fut, E>(
    project: &Project,
    decide: F,
) -> Result<(ProjectReport, Vec<Evaluated>), E>
where
    F: Fn(AdmissionRequest) -> Fut,
    Fut: Future<Output = Result<Evaluated, E>> + Send + 'static,
    E: From<TaskFailed> + Send + 'static,
{
    // A JoinSet aborts what is still running when the check is dropped (a caller's timeout
    // or cancellation), so no evaluation outlives it.
    let mut set = tokio::task::JoinSet::new();
    let mut names = Vec::new();
    for (i, req) in project
        .admission_requests(Operation::Check)
        .into_iter()
        .enumerate()
    {
        names.push(req.origin.service.clone().unwrap_or_default());
        let decided = decide(req);
        set.spawn(async move { (i, decided.await) });
    }
    let mut slots: Vec<Option<Evaluated>> = vec![None; names.len()];
    while let Some(joined) = set.join_next().await {
        let (i, outcome) = joined.map_err(|e| TaskFailed(e.to_string()))?;
        slots[i] = Some(outcome?);
    }
    let mut services = Vec::with_capacity(names.len());
    let mut evaluated = Vec::with_capacity(names.len());
    for (service, ev) in names.iter().zip(slots) {
        let ev = ev.ok_or_else(|| TaskFailed(format!("service {service:?} was not decided")))?;
        services.push(service_report(project, service, &ev.decision));
        evaluated.push(ev);
    }
    Ok((
        ProjectReport {
            name: project.name.clone(),
            files: project
                .files
                .iter()
                .map(|f| f.to_string_lossy().into_owned())
                .collect(),
            services,
            warnings: project.warnings.iter().map(FileIssue::from).collect(),
        },
        evaluated,
    ))
}

fn service_report(project: &Project, service: &str, d: &Decision) -> ServiceReport {
    let key = project.position(service, "");
    let doc = project.services().iter().find(|s| s.name == service);
    let mut findings = Vec::new();
    for (level, list) in [
        (Level::Deny, &d.violations),
        (Level::Warn, &d.warnings),
        (Level::Audit, &d.audits),
    ] {
        for f in list {
            let field = f.field.as_deref().unwrap_or("container");
            let pos = project
                .position_of_input_field(service, field)
                .or_else(|| key.clone());
            findings.push(ReportFinding::new(f, level, pos.as_ref()));
        }
    }
    let (file, line, column) = match &key {
        Some(p) => (p.file.to_string(), p.line, p.col),
        None => (doc.map(|s| s.file.clone()).unwrap_or_default(), 0, 0),
    };
    ServiceReport {
        name: service.to_string(),
        file,
        line,
        column,
        allowed: d.allowed,
        findings,
    }
}

impl ReportFinding {
    /// A finding at `pos`.
    pub fn new(f: &Finding, level: Level, pos: Option<&Position>) -> Self {
        let title = f
            .details
            .get("title")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_string();
        Self {
            rule_id: f.rule_id.clone(),
            title,
            level,
            severity: f.severity,
            message: f.message.clone(),
            field: f.field.clone(),
            package: f.package.clone(),
            file: pos.map(|p| p.file.to_string()).unwrap_or_default(),
            line: pos.map_or(0, |p| p.line),
            column: pos.map_or(0, |p| p.col),
        }
    }
}

impl From<&Diagnostic> for FileIssue {
    fn from(d: &Diagnostic) -> Self {
        Self::at(&d.pos, &d.path, &d.message)
    }
}

impl FileIssue {
    /// An issue at `pos`.
    pub fn at(pos: &Position, path: &str, message: &str) -> Self {
        Self {
            file: pos.file.to_string(),
            line: pos.line,
            column: pos.col,
            path: path.to_string(),
            message: message.to_string(),
        }
    }
}

/// A compose load error as located issues (every schema violation separately). Errors
/// without a position in a file (a file that cannot be read) name the file, line 0.
pub fn input_errors(e: &ComposeError) -> Vec<FileIssue> {
    match e {
        ComposeError::Schema { errors } => errors.iter().map(FileIssue::from).collect(),
        ComposeError::Yaml { pos, message }
        | ComposeError::Interpolation { pos, message }
        | ComposeError::Project { pos, message } => vec![FileIssue::at(pos, "", message)],
        ComposeError::Service {
            service,
            field,
            pos,
            message,
        } => vec![FileIssue::at(
            pos,
            &format!("services.{service}.{field}"),
            message,
        )],
        ComposeError::EnvFile {
            file,
            line,
            message,
        } => vec![FileIssue {
            file: file.clone(),
            line: *line,
            column: 0,
            path: String::new(),
            message: message.clone(),
        }],
        ComposeError::Io { path, .. } | ComposeError::TooLarge { path, .. } => {
            vec![FileIssue {
                file: path.to_string_lossy().into_owned(),
                line: 0,
                column: 0,
                path: String::new(),
                message: error_chain(e),
            }]
        }
        ComposeError::NotFound { .. } => vec![FileIssue {
            message: e.to_string(),
            ..FileIssue::default()
        }],
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
