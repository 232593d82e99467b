//! The check report: what one `dockgate check` invocation found, in the shape every report
//! format renders and `--format json` prints as it is.
//!
//! This JSON is a stable interface (`docs/check-report.md`; schema
//! `docs/check-report.schema.json`, generated from these types by `dockgate schema
//! check-report` and kept current by a test): fields are only ever added within
//! [`SCHEMA_ID`]; a rename or removal gets a new ID.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::Severity;

/// The `schema` value of every report of this shape.
pub const SCHEMA_ID: &str = "https://dockgate.dev/schemas/check-report/v1";

/// What a finding does to the verdict.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Denies the service (a `deny`/`violation` rule, or action `deny`).
    Deny,
    /// Warns (a `warn` rule, or action `warn`).
    Warn,
    /// Recorded only (an `audit` rule, or action `audit`).
    Audit,
}

impl Level {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deny => "deny",
            Self::Warn => "warn",
            Self::Audit => "audit",
        }
    }
}

/// A whole invocation: every project checked, every input error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// Always `https://dockgate.dev/schemas/check-report/v1`.
    pub schema: String,
    /// `dockgate` and its version.
    pub tool: Tool,
    /// Where the policies came from: `built-in library`, a bundle or policy path, or the
    /// server URI.
    pub policy_origin: String,
    /// Revision of the policy bundle that decided (`""` when nothing was decided).
    pub bundle_revision: String,
    /// The library profile asked for with `--profile` (`null`: the policy's default).
    pub profile: Option<String>,
    /// Which findings fail the check: `deny`, or `warn` (deny and warn).
    pub fail_on: Level,
    /// False when the check fails: a denied finding (or a warning with `fail_on: warn`), or
    /// an input error.
    pub passed: bool,
    /// Counts over the whole report.
    pub summary: Summary,
    /// Every project that loaded, in the order given.
    pub projects: Vec<ProjectReport>,
    /// Input errors: files that could not be read, parsed or validated. A project with an
    /// error has no entry in `projects`.
    pub errors: Vec<FileIssue>,
}

/// The tool that wrote the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    /// `dockgate`.
    pub name: String,
    /// Its version.
    pub version: String,
}

impl Default for Tool {
    fn default() -> Self {
        Self {
            name: "dockgate".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// Counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    /// Projects checked (loaded).
    pub projects: usize,
    /// Services checked.
    pub services: usize,
    /// Services with at least one `deny` finding.
    pub services_denied: usize,
    /// Findings that deny.
    pub deny: usize,
    /// Findings that warn.
    pub warn: usize,
    /// Findings recorded only.
    pub audit: usize,
    /// Input errors.
    pub errors: usize,
}

/// One compose project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectReport {
    /// The project name (as `docker compose` would name it).
    pub name: String,
    /// Its compose files, in merge order.
    pub files: Vec<String>,
    /// Every active service, in file order.
    pub services: Vec<ServiceReport>,
    /// Non-fatal remarks of the compose loader (unknown keys, unset variables).
    pub warnings: Vec<FileIssue>,
}

/// One service and its findings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceReport {
    /// The service name.
    pub name: String,
    /// The file of the service's key (the last file that defines it).
    pub file: String,
    /// Line of the service's key (1-based).
    pub line: usize,
    /// Column of the service's key (1-based).
    pub column: usize,
    /// False when a finding denies it.
    pub allowed: bool,
    /// Its findings: `deny` first, then `warn`, then `audit`; within a level as the policy
    /// engine orders them.
    pub findings: Vec<ReportFinding>,
}

/// One finding, placed in a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportFinding {
    /// The control ID (`DG-101`); `""` when the policy gave only a message.
    pub rule_id: String,
    /// The control's title, as the policy gives it (`""` when it gives none).
    pub title: String,
    /// What it does to the verdict.
    pub level: Level,
    /// How serious it is.
    pub severity: Severity,
    /// What is wrong and what to do.
    pub message: String,
    /// The offending field of the policy input (`container.privileged`), when known.
    pub field: Option<String>,
    /// The Rego package that produced it.
    pub package: String,
    /// The file of the YAML node it is about: the offending key where the file has it, else
    /// the service's key.
    pub file: String,
    /// Line of that node (1-based).
    pub line: usize,
    /// Column of that node (1-based).
    pub column: usize,
}

/// A located remark about an input file: an error that stopped a project from loading, or a
/// loader warning.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileIssue {
    /// The file (`""` when the error concerns no file, e.g. none found).
    pub file: String,
    /// Line (1-based; 0 when unknown).
    pub line: usize,
    /// Column (1-based; 0 when unknown).
    pub column: usize,
    /// Path of the offending node (`services.web.ports[0]`), `""` for none.
    pub path: String,
    /// What is wrong and what to do.
    pub message: String,
}

impl Report {
    /// A report over `projects` and `errors`; counts and the verdict are computed here.
    pub fn new(
        policy_origin: String,
        bundle_revision: String,
        profile: Option<String>,
        fail_on: Level,
        projects: Vec<ProjectReport>,
        errors: Vec<FileIssue>,
    ) -> Self {
        let mut summary = Summary {
            projects: projects.len(),
            errors: errors.len(),
            ..Summary::default()
        };
        for s in projects.iter().flat_map(|p| &p.services) {
            summary.services += 1;
            if s.findings.iter().any(|f| f.level == Level::Deny) {
                summary.services_denied += 1;
            }
            for f in &s.findings {
                match f.level {
                    Level::Deny => summary.deny += 1,
                    Level::Warn => summary.warn += 1,
                    Level::Audit => summary.audit += 1,
                }
            }
        }
        let failing = summary.deny
            + if fail_on == Level::Warn {
                summary.warn
            } else {
                0
            };
        Self {
            schema: SCHEMA_ID.to_string(),
            tool: Tool::default(),
            policy_origin,
            bundle_revision,
            profile,
            fail_on,
            passed: failing == 0 && summary.errors == 0,
            summary,
            projects,
            errors,
        }
    }

    /// Whether findings (not input errors) fail the check.
    pub fn findings_fail(&self) -> bool {
        self.summary.deny > 0 || (self.fail_on == Level::Warn && self.summary.warn > 0)
    }
}

/// Every file name in `projects` and `errors` relative to `base` when it is under `base`
/// (with `/` separators), as reports and code scanners want them.
pub fn relativize(projects: &mut [ProjectReport], errors: &mut [FileIssue], base: &Path) {
    let rel = |f: &mut String| *f = relative(f, base);
    for p in projects {
        p.files.iter_mut().for_each(rel);
        p.warnings.iter_mut().for_each(|w| rel(&mut w.file));
        for s in &mut p.services {
            rel(&mut s.file);
            s.findings.iter_mut().for_each(|f| rel(&mut f.file));
        }
    }
    errors.iter_mut().for_each(|e| rel(&mut e.file));
}

/// `file` relative to `base` when it is under it, else unchanged.
pub fn relative(file: &str, base: &Path) -> String {
    match Path::new(file).strip_prefix(base) {
        Ok(r) if !r.as_os_str().is_empty() => r
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/"),
        _ => file.to_string(),
    }
}

/// The JSON Schema of [`Report`] (`docs/check-report.schema.json`).
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Report)).unwrap_or(serde_json::Value::Null)
}
