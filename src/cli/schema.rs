//! `dockgate schema`: prints a JSON Schema — the input document's (generated from the Rust
//! types; `docs/input.schema.json` is this output) or the bundled Compose specification's.

use std::process::ExitCode;

/// Print a JSON Schema.
#[derive(clap::Args)]
pub struct Args {
    /// Which schema.
    #[arg(value_enum)]
    which: Which,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Which {
    /// The policy input document (`AdmissionRequest`).
    Input,
    /// The Compose specification the compose adapter validates against.
    Compose,
    /// The report of `dockgate check --format json`.
    CheckReport,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let text = match args.which {
        Which::Input => serde_json::to_string_pretty(&dockgate::model::input_schema())?,
        Which::Compose => dockgate::compose::COMPOSE_SPEC_JSON.trim_end().to_string(),
        Which::CheckReport => serde_json::to_string_pretty(&dockgate::check::report::schema())?,
    };
    super::normalize::print_out(&text)?;
    Ok(ExitCode::SUCCESS)
}
