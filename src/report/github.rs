//! `--format github`: GitHub Actions workflow commands — one annotation per finding and per
//! input error (`::error file=F,line=L,col=C,title=T::message`; deny = error, warn =
//! warning, audit = notice), then the summary as a plain line.

use std::fmt::Write;

use super::summary_line;
use crate::check::{Level, Report};

/// Escapes a command's message.
fn data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property value.
fn property(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}

fn command(kind: &str, file: &str, line: usize, col: usize, title: &str, message: &str) -> String {
    let mut props = Vec::new();
    if !file.is_empty() {
        props.push(format!("file={}", property(file)));
    }
    if line > 0 {
        props.push(format!("line={line}"));
    }
    if col > 0 {
        props.push(format!("col={col}"));
    }
    if !title.is_empty() {
        props.push(format!("title={}", property(title)));
    }
    format!("::{kind} {}::{}", props.join(","), data(message))
}

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    for e in &report.errors {
        let msg = if e.path.is_empty() {
            e.message.clone()
        } else {
            format!("{}: {}", e.path, e.message)
        };
        let _ = writeln!(
            out,
            "{}",
            command(
                "error",
                &e.file,
                e.line,
                e.column,
                "dockgate: input error",
                &msg
            )
        );
    }
    for p in &report.projects {
        for s in &p.services {
            for f in &s.findings {
                let kind = match f.level {
                    Level::Deny => "error",
                    Level::Warn => "warning",
                    Level::Audit => "notice",
                };
                let title = match (f.rule_id.is_empty(), f.title.is_empty()) {
                    (true, _) => format!("dockgate: {}", s.name),
                    (false, true) => f.rule_id.clone(),
                    (false, false) => format!("{} {}", f.rule_id, f.title),
                };
                let _ = writeln!(
                    out,
                    "{}",
                    command(kind, &f.file, f.line, f.column, &title, &f.message)
                );
            }
        }
    }
    let _ = writeln!(out, "dockgate check {}", summary_line(report));
    out
}
