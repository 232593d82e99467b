//! `dockgate eval`: evaluates a bundle on one input document and prints the result as JSON.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use dockgate::policy::{Bundle, EngineOptions, PolicyEngine};
use serde_json::Value;

use super::PolicyArgs;

/// Evaluate a policy bundle on an input document.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    policy: PolicyArgs,
    /// The input document (JSON; `-` for standard input). An array of documents, as
    /// `dockgate normalize` prints, gets one decision per document.
    #[arg(short, long)]
    input: PathBuf,
    /// Print this entrypoint's raw value instead of the decision.
    #[arg(short, long)]
    entrypoint: Option<String>,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let text = if args.input.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .take(super::MAX_INPUT_BYTES)
            .read_to_string(&mut s)
            .context("reading standard input")?;
        s
    } else {
        super::read_limited(&args.input)?
    };
    let input: Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not valid JSON", args.input.display()))?;
    let bundle: Bundle = args.policy.bundle()?;
    let options = EngineOptions {
        pool_size: 1,
        ..EngineOptions::default()
    };
    let engine = PolicyEngine::load(bundle, &options).await?;
    let out = match (&args.entrypoint, input) {
        (Some(e), input) => engine.evaluate(e, &input).await?,
        // An array (what `dockgate normalize` prints): one decision per document.
        (None, Value::Array(docs)) => {
            let mut out = Vec::with_capacity(docs.len());
            for d in &docs {
                out.push(serde_json::to_value(engine.decide(d).await?)?);
            }
            Value::Array(out)
        }
        (None, input) => serde_json::to_value(engine.decide(&input).await?)?,
    };
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(ExitCode::SUCCESS)
}
