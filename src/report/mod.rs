//! Report formats of `dockgate check`: one [`Report`](crate::check::Report) rendered as
//! text, JSON, SARIF 2.1.0, JUnit XML or GitHub workflow commands. One file per format; each
//! is a pure function of the report and [`Context`] (no I/O).

mod github;
mod junit;
mod sarif;
mod text;

use std::collections::BTreeMap;

use crate::catalogue::Control;
use crate::check::Report;

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Grouped by service, `file:line:col  DG-nnn  severity  message`, then a summary.
    Text,
    /// The report as JSON (`docs/check-report.md`).
    Json,
    /// SARIF 2.1.0, for code scanning (GitHub, GitLab, Azure DevOps).
    Sarif,
    /// JUnit XML: one test case per service and control.
    Junit,
    /// GitHub Actions workflow commands (`::error file=...,line=...::`).
    Github,
}

/// What a format needs besides the report.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The controls the policies implement, by ID: the built-in library's catalogue when it
    /// decided, else empty (rules are then described from the findings alone).
    pub controls: BTreeMap<String, Control>,
    /// Absolute directory the report's relative file names start from (SARIF's
    /// `%SRCROOT%`).
    pub base_dir: String,
    /// Use ANSI colours (text only).
    pub color: bool,
}

/// Renders `report` as `format`.
pub fn render(report: &Report, format: Format, cx: &Context) -> String {
    match format {
        Format::Text => text::render(report, cx),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(report).unwrap_or_default();
            s.push('\n');
            s
        }
        Format::Sarif => {
            let mut s = serde_json::to_string_pretty(&sarif::sarif(report, cx)).unwrap_or_default();
            s.push('\n');
            s
        }
        Format::Junit => junit::render(report, cx),
        Format::Github => github::render(report),
    }
}

/// `file:line:col` (the parts that are known).
fn location(file: &str, line: usize, column: usize) -> String {
    match (line, column) {
        (0, _) => file.to_string(),
        (l, 0) => format!("{file}:{l}"),
        (l, c) => format!("{file}:{l}:{c}"),
    }
}

/// The summary line every human-readable format ends with.
pub fn summary_line(report: &Report) -> String {
    let s = &report.summary;
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let verdict = if report.passed { "passed" } else { "FAILED" };
    format!(
        "{}: {} in {}, {} denied; {} ({} deny, {} warn, {} audit); {}",
        verdict,
        plural(s.services, "service", "services"),
        plural(s.projects, "project", "projects"),
        s.services_denied,
        plural(s.deny + s.warn + s.audit, "finding", "findings"),
        s.deny,
        s.warn,
        s.audit,
        plural(s.errors, "input error", "input errors"),
    )
}
