//! `dockgate build`: Rego sources → an OPA wasm bundle.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use dockgate::build::{BuildOptions, Evaluator, PolicySources, build};

/// Compile Rego policies to an OPA WebAssembly bundle (no Go toolchain needed).
#[derive(clap::Args)]
pub struct Args {
    /// Directories or files with .rego sources and data.json/data.yaml files.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Where to write the bundle (.tar.gz).
    #[arg(short, long, default_value = "bundle.tar.gz")]
    output: PathBuf,
    /// Entrypoint (`package/path/rule`); repeat for several. Default: dockgate/main/decision.
    #[arg(short, long = "entrypoint")]
    entrypoints: Vec<String>,
    /// Revision written in the manifest (default: a hash of the inputs).
    #[arg(long)]
    revision: Option<String>,
    /// The evaluator inside the module. `vm` is about five times faster, but departs from
    /// Rego in places (docs/writing-policies.md): prove the policies first with `dockgate test
    /// --evaluator vm`.
    #[arg(long, value_enum, default_value_t)]
    evaluator: Evaluator,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let sources = PolicySources::load(&args.paths)?;
    let bundle = build(
        &sources,
        &BuildOptions {
            entrypoints: args.entrypoints,
            revision: args.revision,
            include_tests: false,
            evaluator: args.evaluator,
        },
    )?;
    let bytes = bundle.to_tar_gz().context("writing the bundle")?;
    std::fs::write(&args.output, &bytes)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    eprintln!(
        "built {} ({} bytes): revision {}, {} module(s), entrypoints: {}",
        args.output.display(),
        bytes.len(),
        bundle.manifest.revision,
        bundle.rego.len(),
        bundle.entrypoints().join(", ")
    );
    Ok(ExitCode::SUCCESS)
}
