//! Subcommands. Each file owns one subcommand: its `Args` (clap) and its `run`.
//!
//! Errors reach [`main`] as `anyhow::Error` with context; they print as `error: ...` with
//! their causes and exit 2. A policy failure (denied findings, failed tests) is not an error:
//! the subcommand returns exit code 1.

mod authz;
mod authz_bench;
mod bench;
mod build;
mod check;
mod doctor;
mod eval;
mod explain;
mod health;
mod normalize;
mod pace;
mod schema;
mod serve;
mod test;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use dockgate::library::{self, Profile};
use dockgate::policy::Bundle;

/// Largest input document a command reads.
pub const MAX_INPUT_BYTES: u64 = 10 * 1024 * 1024;

#[derive(Parser)]
#[command(
    name = "dockgate",
    version,
    about = "Admission control for Docker and Docker Compose"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Build(build::Args),
    Test(test::Args),
    Eval(eval::Args),
    Serve(Box<serve::Args>),
    Health(health::Args),
    Doctor(doctor::Args),
    Bench(bench::Args),
    Normalize(normalize::Args),
    Schema(schema::Args),
    Check(check::Args),
    Explain(explain::Args),
    Authz(authz::Args),
    AuthzBench(authz_bench::Args),
}

/// Which policies a command uses: a bundle, a policy directory, or the built-in library.
#[derive(clap::Args, Debug, Clone)]
pub struct PolicyArgs {
    /// An OPA bundle (.tar.gz, directory, or bare .wasm) built by `dockgate build` or
    /// `opa build -t wasm`.
    #[arg(long, conflicts_with = "policies")]
    pub bundle: Option<PathBuf>,
    /// A directory of Rego policies, built on the fly.
    #[arg(long)]
    pub policies: Option<PathBuf>,
    /// Profile of the built-in library (or of any policy that reads
    /// `data.dockgate.config.profile`).
    #[arg(long, value_enum)]
    pub profile: Option<Profile>,
}

impl PolicyArgs {
    /// Reads or builds the bundle.
    pub fn bundle(&self) -> anyhow::Result<Bundle> {
        let mut bundle = match (&self.bundle, &self.policies) {
            (Some(b), _) => Bundle::read(b)?,
            (None, Some(dir)) => {
                let sources = dockgate::build::PolicySources::load(std::slice::from_ref(dir))?;
                let mut b = dockgate::build::build(&sources, &Default::default())?;
                b.origin = dir.display().to_string();
                b
            }
            (None, None) => return Ok(library::bundle(self.profile)?),
        };
        if let Some(p) = self.profile {
            bundle.set_data(
                &library::PROFILE_PATH,
                serde_json::Value::String(p.as_str().into()),
            );
        }
        Ok(bundle)
    }
}

/// How a command reaches a dockgate server.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerArgs {
    /// The server: http://HOST:PORT, https://HOST:PORT or unix:///PATH.
    #[arg(
        long,
        default_value = "http://127.0.0.1:50051",
        env = "DOCKGATE_SERVER"
    )]
    pub server: String,
    /// CA certificate of the server (PEM), for https.
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM), for mTLS.
    #[arg(long, requires = "key")]
    pub cert: Option<PathBuf>,
    /// Client key (PEM), for mTLS.
    #[arg(long, requires = "cert")]
    pub key: Option<PathBuf>,
}

impl ServerArgs {
    /// The TLS material.
    pub fn tls(&self) -> dockgate::client::ClientTls {
        dockgate::client::ClientTls {
            ca: self.ca.clone(),
            cert: self.cert.clone(),
            key: self.key.clone(),
            domain: None,
        }
    }
}

/// Reads a file of at most [`MAX_INPUT_BYTES`].
pub fn read_limited(path: &Path) -> anyhow::Result<String> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut s = String::new();
    let n = f
        .take(MAX_INPUT_BYTES + 1)
        .read_to_string(&mut s)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if n as u64 > MAX_INPUT_BYTES {
        anyhow::bail!(
            "{}: larger than {MAX_INPUT_BYTES} bytes; refusing to read it",
            path.display()
        );
    }
    Ok(s)
}

/// Logs to stderr; `DOCKGATE_LOG` sets the filter (default `warn`). opa-wasm's own spans and
/// messages are off unless asked for: they cost time on the hot path and our errors already
/// carry their content.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DOCKGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,opa_wasm=off"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    // `serve` and `authz` set up their own (JSON on stdout) logging.
    if !matches!(cli.command, Command::Serve(_) | Command::Authz(_)) {
        init_logging();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result: anyhow::Result<ExitCode> = runtime.block_on(async {
        match cli.command {
            Command::Build(args) => build::run(args),
            Command::Test(args) => test::run(args).await,
            Command::Eval(args) => eval::run(args).await,
            Command::Serve(args) => serve::run(*args).await,
            Command::Health(args) => health::run(args).await,
            Command::Doctor(args) => doctor::run(args).await,
            Command::Bench(args) => bench::run(args).await,
            Command::Normalize(args) => normalize::run(args),
            Command::Schema(args) => schema::run(args),
            Command::Check(args) => check::run(args).await,
            Command::Explain(args) => explain::run(args),
            Command::Authz(args) => authz::run(args).await,
            Command::AuthzBench(args) => authz_bench::run(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
