//! `dockgate test`: runs every `test_*` rule through the compiled (wasm) path, as `opa test`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use dockgate::build::{BuildOptions, Evaluator, PolicySources, build, check, discover_tests};
use dockgate::policy::{EngineError, EngineOptions, PolicyEngine};
use serde_json::Value;

/// Run the `test_*` rules of Rego policies, compiled to WebAssembly.
#[derive(clap::Args)]
pub struct Args {
    /// Directories or files with .rego sources (tests included) and data files.
    #[arg(default_value = "policies")]
    paths: Vec<PathBuf>,
    /// Only run tests whose `package.rule` name contains this text.
    #[arg(long)]
    run: Option<String>,
    /// Print passing tests too.
    #[arg(short, long)]
    verbose: bool,
    /// The evaluator to run the tests with (as `dockgate build --evaluator`): run them with
    /// `vm` before building a bundle for it.
    #[arg(long, value_enum, default_value_t)]
    evaluator: Evaluator,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let sources = PolicySources::load(&args.paths)?;
    let mut native = check(&sources, true)?;
    let tests: Vec<_> = discover_tests(&mut native)
        .into_iter()
        .filter(|t| {
            args.run
                .as_deref()
                .is_none_or(|f| format!("{}.{}", t.package, t.name).contains(f))
        })
        .collect();
    if tests.is_empty() {
        eprintln!("no test_* rules found");
        println!("0 passed, 0 failed");
        return Ok(ExitCode::SUCCESS);
    }
    let bundle = build(
        &sources,
        &BuildOptions {
            entrypoints: tests.iter().map(|t| t.entrypoint.clone()).collect(),
            revision: Some("test".into()),
            include_tests: true,
            evaluator: args.evaluator,
        },
    )?;
    let options = EngineOptions {
        pool_size: 1,
        decision_entrypoints: Some(Vec::new()),
        ..EngineOptions::default()
    };
    let engine = PolicyEngine::load(bundle, &options).await?;
    let (mut passed, mut failed) = (0usize, 0usize);
    for t in &tests {
        let started = Instant::now();
        let outcome = engine.evaluate(&t.entrypoint, &Value::Null).await;
        let took = started.elapsed();
        let name = format!("data.{}.{}", t.package, t.name);
        match outcome {
            Ok(Value::Bool(true)) => {
                passed += 1;
                if args.verbose {
                    println!("PASS {name} ({took:.1?})");
                }
            }
            Ok(other) => {
                failed += 1;
                println!("FAIL {name} ({}): result {other}", t.location);
            }
            Err(EngineError::Undefined { .. }) => {
                failed += 1;
                println!("FAIL {name} ({}): undefined", t.location);
            }
            Err(e) => {
                failed += 1;
                println!("ERROR {name} ({}): {e}", t.location);
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
