//! `dockgate normalize`: loads a compose project and prints one input document per active
//! service, as a JSON array (what policies will see).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use dockgate::compose::{self, LoadOptions};
use dockgate::model::Operation;

/// Print the admission input documents of a compose project.
#[derive(clap::Args)]
pub struct Args {
    /// Compose file(s), merged in order (default: compose.yaml & co. in the project directory).
    #[arg(short = 'f', long = "file")]
    files: Vec<PathBuf>,
    /// Project name (default: COMPOSE_PROJECT_NAME, the file's `name:`, the directory name).
    #[arg(short = 'p', long)]
    project_name: Option<String>,
    /// Project directory (default: the first file's directory).
    #[arg(long)]
    project_directory: Option<PathBuf>,
    /// Enable a profile (repeatable; default: COMPOSE_PROFILES).
    #[arg(long = "profile")]
    profiles: Vec<String>,
    /// Environment file(s) instead of <project dir>/.env.
    #[arg(long = "env-file")]
    env_files: Vec<PathBuf>,
    /// The operation the documents describe.
    #[arg(long, value_enum, default_value = "check")]
    operation: OperationArg,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum OperationArg {
    Check,
    Create,
    Audit,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let options = LoadOptions {
        files: args.files,
        project_dir: args.project_directory,
        project_name: args.project_name,
        env_files: args.env_files,
        profiles: args.profiles,
        env: std::env::vars().collect(),
        working_dir: None,
    };
    let project = compose::load(&options).context("cannot load the compose project")?;
    for w in &project.warnings {
        eprintln!("warning: {w}");
    }
    let operation = match args.operation {
        OperationArg::Check => Operation::Check,
        OperationArg::Create => Operation::Create,
        OperationArg::Audit => Operation::Audit,
    };
    let docs = project.admission_requests(operation);
    print_out(&serde_json::to_string_pretty(&docs)?)?;
    Ok(ExitCode::SUCCESS)
}

/// Prints `text` and a newline to stdout; a closed pipe (`| head`) is not an error.
pub fn print_out(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}
