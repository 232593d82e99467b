//! `--format junit`: JUnit XML as CI systems read it — one `<testsuite>` per project, one
//! `<testcase>` per service × control (classname `project.service`, name `DG-nnn title`).
//! The controls are the catalogue's when the library decided (passing controls are passing
//! test cases), else those with findings. A `deny` finding (and a `warn` one with
//! `--fail-on warn`) is a `<failure>`; other findings go to `<system-out>`. Input errors are a
//! suite of their own with one `<error>` each.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{Context, location};
use crate::check::{Level, Report, ReportFinding};

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

pub fn render(report: &Report, cx: &Context) -> String {
    let mut suites = String::new();
    let (mut tests, mut failures, mut errors) = (0usize, 0usize, 0usize);
    if !report.errors.is_empty() {
        let n = report.errors.len();
        let _ = writeln!(
            suites,
            "  <testsuite name=\"input errors\" tests=\"{n}\" failures=\"0\" errors=\"{n}\">"
        );
        for e in &report.errors {
            let at = location(&e.file, e.line, e.column);
            let _ = writeln!(
                suites,
                "    <testcase classname=\"input\" name=\"{}\" file=\"{}\" line=\"{}\">\n      <error message=\"{}\" type=\"input\">{}: {}</error>\n    </testcase>",
                esc(&at),
                esc(&e.file),
                e.line,
                esc(&e.message),
                esc(&at),
                esc(&e.message)
            );
        }
        suites.push_str("  </testsuite>\n");
        tests += n;
        errors += n;
    }
    for p in &report.projects {
        let mut cases = String::new();
        let (mut t, mut f_count) = (0usize, 0usize);
        for s in &p.services {
            let mut by_control: BTreeMap<String, (String, Vec<&ReportFinding>)> = cx
                .controls
                .values()
                .map(|c| (c.id.clone(), (c.title.clone(), Vec::new())))
                .collect();
            for f in &s.findings {
                let id = if f.rule_id.is_empty() {
                    format!("{}/policy", f.package)
                } else {
                    f.rule_id.clone()
                };
                by_control
                    .entry(id)
                    .or_insert_with(|| (f.title.clone(), Vec::new()))
                    .1
                    .push(f);
            }
            for (id, (title, findings)) in &by_control {
                t += 1;
                let failing: Vec<&&ReportFinding> = findings
                    .iter()
                    .filter(|f| {
                        f.level == Level::Deny
                            || (f.level == Level::Warn && report.fail_on == Level::Warn)
                    })
                    .collect();
                let name = if title.is_empty() {
                    id.clone()
                } else {
                    format!("{id} {title}")
                };
                let (file, line) = findings
                    .first()
                    .map_or((s.file.as_str(), s.line), |f| (f.file.as_str(), f.line));
                let _ = write!(
                    cases,
                    "    <testcase classname=\"{}.{}\" name=\"{}\" file=\"{}\" line=\"{line}\"",
                    esc(&p.name),
                    esc(&s.name),
                    esc(&name),
                    esc(file)
                );
                if findings.is_empty() {
                    cases.push_str("/>\n");
                    continue;
                }
                cases.push_str(">\n");
                if let Some(first) = failing.first() {
                    f_count += 1;
                    let body: Vec<String> = failing
                        .iter()
                        .map(|f| {
                            format!(
                                "{}  {}  {}",
                                location(&f.file, f.line, f.column),
                                f.severity.as_str(),
                                f.message
                            )
                        })
                        .collect();
                    let _ = writeln!(
                        cases,
                        "      <failure message=\"{}\" type=\"{}\">{}</failure>",
                        esc(&first.message),
                        first.severity.as_str(),
                        esc(&body.join("\n"))
                    );
                }
                let other: Vec<String> = findings
                    .iter()
                    .filter(|f| !failing.iter().any(|x| std::ptr::eq(**x, **f)))
                    .map(|f| {
                        format!(
                            "[{}] {}  {}  {}",
                            f.level.as_str(),
                            location(&f.file, f.line, f.column),
                            f.severity.as_str(),
                            f.message
                        )
                    })
                    .collect();
                if !other.is_empty() {
                    let _ = writeln!(
                        cases,
                        "      <system-out>{}</system-out>",
                        esc(&other.join("\n"))
                    );
                }
                cases.push_str("    </testcase>\n");
            }
        }
        let _ = writeln!(
            suites,
            "  <testsuite name=\"{}\" tests=\"{t}\" failures=\"{f_count}\" errors=\"0\">",
            esc(&p.name)
        );
        suites.push_str(&cases);
        suites.push_str("  </testsuite>\n");
        tests += t;
        failures += f_count;
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"dockgate check\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\">\n{suites}</testsuites>\n"
    )
}
