//! Subcommands. Each file owns one subcommand: its `Args` (clap) and its `run`.
//!
//! Errors reach [`main`] as `anyhow::Error` with context; they print as `error: ...` with
//! their causes and exit 2. A policy failure (denied findings, failed tests) is not an error:
//! the subcommand returns exit code 1.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "dockgate", version, about = "Admission control for Docker and Docker Compose")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    let result: anyhow::Result<ExitCode> = match cli.command {};
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
