//! `--format text`: grouped by project and service, one line per finding
//! (`file:line:col  DG-nnn  severity  message`), input errors with their positions, then the
//! summary. Severity is coloured when [`Context::color`] is set.

use std::fmt::Write;

use anstyle::{AnsiColor, Style};

use super::{Context, location, summary_line};
use crate::check::{Level, Report};
use crate::model::Severity;

fn style(sev: Severity) -> Style {
    let c = match sev {
        Severity::Critical => AnsiColor::BrightRed,
        Severity::High => AnsiColor::Red,
        Severity::Medium => AnsiColor::Yellow,
        Severity::Low => AnsiColor::Cyan,
        Severity::Info => AnsiColor::White,
    };
    let s = Style::new().fg_color(Some(c.into()));
    if sev == Severity::Critical {
        s.bold()
    } else {
        s
    }
}

fn paint(text: &str, s: Style, on: bool) -> String {
    if on {
        format!("{}{text}{}", s.render(), s.render_reset())
    } else {
        text.to_string()
    }
}

pub fn render(report: &Report, cx: &Context) -> String {
    let bold = Style::new().bold();
    let mut out = String::new();
    for e in &report.errors {
        let at = location(&e.file, e.line, e.column);
        let what = if e.path.is_empty() {
            e.message.clone()
        } else {
            format!("{}: {}", e.path, e.message)
        };
        let err = paint("error", style(Severity::Critical), cx.color);
        if at.is_empty() {
            let _ = writeln!(out, "{err}: {what}");
        } else {
            let _ = writeln!(out, "{at}: {err}: {what}");
        }
    }
    if !report.errors.is_empty() {
        out.push('\n');
    }
    let many = report.projects.len() > 1;
    for p in &report.projects {
        for w in &p.warnings {
            let _ = writeln!(
                out,
                "{}: warning: {}",
                location(&w.file, w.line, w.column),
                w.message
            );
        }
        for s in &p.services {
            let verdict = if s.allowed { "allowed" } else { "denied" };
            let name = if many {
                format!("{}/{}", p.name, s.name)
            } else {
                s.name.clone()
            };
            let _ = writeln!(
                out,
                "{} ({}): {verdict}, {} finding{}",
                paint(&format!("service {name}"), bold, cx.color),
                location(&s.file, s.line, s.column),
                s.findings.len(),
                if s.findings.len() == 1 { "" } else { "s" }
            );
            for f in &s.findings {
                let id = if f.rule_id.is_empty() {
                    "-"
                } else {
                    f.rule_id.as_str()
                };
                let sev = format!("{:<8}", f.severity.as_str());
                let level = match f.level {
                    Level::Deny => String::new(),
                    other => format!("[{}] ", other.as_str()),
                };
                let _ = writeln!(
                    out,
                    "  {}  {id:<6}  {}  {level}{}",
                    location(&f.file, f.line, f.column),
                    paint(&sev, style(f.severity), cx.color),
                    f.message
                );
            }
            out.push('\n');
        }
    }
    let line = summary_line(report);
    let _ = writeln!(out, "{}", paint(&line, bold, cx.color));
    out
}
