//! `dockgate explain`: a control's documentation (its section of `docs/controls.md`, with the
//! library catalogue's metadata), or the list of controls.

use std::process::ExitCode;

use dockgate::catalogue;

/// Explain a control (`DG-101`), or list them all.
#[derive(clap::Args)]
pub struct Args {
    /// The control ID (`DG-101`, `dg-101` or `101`); none to list every control.
    id: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let controls = catalogue::controls()?;
    let Some(id) = args.id else {
        let mut out = String::new();
        for c in controls.values() {
            out.push_str(&format!(
                "{}  {:<10}  {:<8}  {}\n",
                c.id, c.profile, c.severity, c.title
            ));
        }
        out.push_str(&format!(
            "\n{} controls. `dockgate explain DG-nnn` prints one control's documentation.",
            controls.len()
        ));
        super::normalize::print_out(&out)?;
        return Ok(ExitCode::SUCCESS);
    };
    let wanted = {
        let up = id.trim().to_ascii_uppercase();
        if up.starts_with("DG-") {
            up
        } else {
            format!("DG-{up}")
        }
    };
    let Some(c) = controls.get(&wanted) else {
        anyhow::bail!(
            "no control {id:?}: `dockgate explain` lists them ({} to {})",
            controls.keys().next().map_or("", String::as_str),
            controls.keys().last().map_or("", String::as_str)
        );
    };
    let text = if c.doc.is_empty() {
        format!(
            "## {} — {}\n\n- **Profile:** {}\n- **Severity:** {}\n- **Where:** {}\n- **References:** {}",
            c.id,
            c.title,
            c.profile,
            c.severity,
            c.where_.join(", "),
            c.refs.join("; ")
        )
    } else {
        c.doc.clone()
    };
    super::normalize::print_out(&format!("{text}\n\nOnline: {}", c.help_uri()))?;
    Ok(ExitCode::SUCCESS)
}
