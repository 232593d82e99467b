//! `dockgate serve`: the gRPC policy server. Flags and an optional YAML file are resolved here
//! into a validated `ServerConfig` (flags win over the file).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use dockgate::library::Profile;
use dockgate::policy::EngineOptions;
use dockgate::server::{PolicySource, Role, ServerConfig, TlsFiles};
use serde::Deserialize;

/// Run the gRPC policy server (default: 127.0.0.1:50051 with the built-in library).
#[derive(clap::Args)]
pub struct Args {
    /// A YAML config file (same names as the flags, snake_case; `roles: {IDENTITY: admin}`).
    #[arg(long)]
    config: Option<PathBuf>,
    /// TCP address to listen on (repeatable).
    #[arg(long)]
    listen: Vec<SocketAddr>,
    /// Unix socket to listen on (repeatable).
    #[arg(long)]
    socket: Vec<PathBuf>,
    /// An OPA bundle to serve instead of the built-in library.
    #[arg(long, conflicts_with = "policies")]
    bundle: Option<PathBuf>,
    /// A directory of Rego policies to build and serve.
    #[arg(long)]
    policies: Option<PathBuf>,
    /// Library profile.
    #[arg(long, value_enum)]
    profile: Option<Profile>,
    /// Prometheus metrics listener, e.g. 127.0.0.1:9464.
    #[arg(long)]
    metrics_listen: Option<SocketAddr>,
    /// Server certificate (PEM).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Server key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// CA of client certificates (PEM): turns on mTLS.
    #[arg(long, requires = "tls_cert")]
    client_ca: Option<PathBuf>,
    /// Give the admin role to this client identity (certificate CN or DNS name; repeatable).
    #[arg(long)]
    admin: Vec<String>,
    /// Allow plaintext on a non-loopback address.
    #[arg(long)]
    insecure: bool,
    /// Log only denied decisions.
    #[arg(long)]
    denied_only: bool,
    /// Do not watch the policy path for changes (SIGHUP and Reload still work).
    #[arg(long)]
    no_watch: bool,
    /// Log format on stdout.
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `warn,dockgate::decision=info`.
    #[arg(long)]
    log_level: Option<String>,
    /// Per-call timeout, milliseconds.
    #[arg(long)]
    call_timeout_ms: Option<u64>,
    /// Maximum concurrent calls; more are refused with UNAVAILABLE.
    #[arg(long)]
    max_concurrency: Option<usize>,
    /// Largest request message, bytes.
    #[arg(long)]
    max_message_bytes: Option<usize>,
    /// Policy instances (concurrent evaluations); default: the number of cores.
    #[arg(long)]
    pool_size: Option<usize>,
    /// Time limit of one evaluation, milliseconds.
    #[arg(long)]
    eval_timeout_ms: Option<u64>,
    /// Keep up to N decisions by input (per loaded policy generation) and answer a repeated
    /// input from them; off (0) by default. Hits and misses are counted in the metrics.
    #[arg(long)]
    decision_cache: Option<usize>,
    /// How long a cached decision is served, milliseconds (default 10000).
    #[arg(long)]
    decision_cache_ttl_ms: Option<u64>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line (production).
    Json,
    /// Human-readable.
    Text,
}

/// The YAML file: every field optional.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<Vec<SocketAddr>>,
    socket: Option<Vec<PathBuf>>,
    bundle: Option<PathBuf>,
    policies: Option<PathBuf>,
    profile: Option<String>,
    metrics_listen: Option<SocketAddr>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    client_ca: Option<PathBuf>,
    roles: Option<HashMap<String, Role>>,
    insecure: Option<bool>,
    denied_only: Option<bool>,
    watch: Option<bool>,
    log_format: Option<LogFormat>,
    log_level: Option<String>,
    call_timeout_ms: Option<u64>,
    max_concurrency: Option<usize>,
    max_message_bytes: Option<usize>,
    pool_size: Option<usize>,
    eval_timeout_ms: Option<u64>,
    decision_cache: Option<usize>,
    decision_cache_ttl_ms: Option<u64>,
}

/// Sets up JSON (or text) logging on stdout (`serve` and `authz`).
///
/// Lines are written by a background thread (tracing-appender), so a decision never waits for
/// stdout; the queue is not lossy: when the writer falls 128k lines behind, calls wait rather
/// than lose records. Keep the returned guard until exit: dropping it flushes what is queued.
/// opa-wasm's spans stay off unless the filter names `opa_wasm` (they cost time per call).
pub(super) fn init_logging(
    format: LogFormat,
    level: Option<&str>,
) -> tracing_appender::non_blocking::WorkerGuard {
    let with_opa_wasm_off = |f: &str| {
        if f.contains("opa_wasm") {
            f.to_string()
        } else {
            format!("{f},opa_wasm=off")
        }
    };
    let filter = level
        .map(|l| tracing_subscriber::EnvFilter::new(with_opa_wasm_off(l)))
        .or_else(|| {
            std::env::var("DOCKGATE_LOG")
                .ok()
                .map(|l| tracing_subscriber::EnvFilter::new(with_opa_wasm_off(&l)))
        })
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("info,opa_wasm=off"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("dockgate-log")
        .finish(std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
    guard
}

fn resolve(args: Args) -> anyhow::Result<(ServerConfig, LogFormat, Option<String>)> {
    let file: FileConfig = match &args.config {
        Some(p) => {
            let text = super::read_limited(p)?;
            serde_yaml::from_str(&text)
                .with_context(|| format!("{}: invalid server config", p.display()))?
        }
        None => FileConfig::default(),
    };
    let mut c = ServerConfig::local();
    let listen = if args.listen.is_empty() {
        file.listen.unwrap_or_default()
    } else {
        args.listen
    };
    let sockets = if args.socket.is_empty() {
        file.socket.unwrap_or_default()
    } else {
        args.socket
    };
    c.listen = listen;
    c.sockets = sockets;
    if c.listen.is_empty() && c.sockets.is_empty() {
        c.listen = ServerConfig::local().listen;
    }
    c.source = match (args.bundle.or(file.bundle), args.policies.or(file.policies)) {
        (Some(b), None) => PolicySource::Bundle(b),
        (None, Some(p)) => PolicySource::Policies(p),
        (Some(_), Some(_)) => anyhow::bail!("give either bundle or policies, not both"),
        (None, None) => PolicySource::Library,
    };
    c.profile = match (args.profile, file.profile.as_deref()) {
        (Some(p), _) => Some(p),
        (None, Some("baseline")) => Some(Profile::Baseline),
        (None, Some("restricted")) => Some(Profile::Restricted),
        (None, Some(other)) => anyhow::bail!("profile {other:?}: use baseline or restricted"),
        (None, None) => None,
    };
    c.metrics_listen = args.metrics_listen.or(file.metrics_listen);
    let cert = args.tls_cert.or(file.tls_cert);
    let key = args.tls_key.or(file.tls_key);
    let ca = args.client_ca.or(file.client_ca);
    c.tls = match (cert, key) {
        (Some(cert), Some(key)) => Some(TlsFiles {
            cert,
            key,
            client_ca: ca,
        }),
        (None, None) if ca.is_none() => None,
        _ => anyhow::bail!("TLS needs both tls_cert and tls_key (and client_ca for mTLS)"),
    };
    c.roles = file.roles.unwrap_or_default();
    for id in args.admin {
        c.roles.insert(id, Role::Admin);
    }
    c.insecure = args.insecure || file.insecure.unwrap_or(false);
    c.denied_only_log = args.denied_only || file.denied_only.unwrap_or(false);
    c.watch = !args.no_watch && file.watch.unwrap_or(true);
    if let Some(ms) = args.call_timeout_ms.or(file.call_timeout_ms) {
        c.call_timeout = Duration::from_millis(ms);
    }
    if let Some(n) = args.max_concurrency.or(file.max_concurrency) {
        c.max_concurrency = n.max(1);
    }
    if let Some(n) = args.max_message_bytes.or(file.max_message_bytes) {
        c.max_message_bytes = n;
    }
    let mut engine = EngineOptions::default();
    if let Some(n) = args.pool_size.or(file.pool_size) {
        engine.pool_size = n.max(1);
    }
    if let Some(ms) = args.eval_timeout_ms.or(file.eval_timeout_ms) {
        engine.eval_timeout = Duration::from_millis(ms);
    }
    c.engine = engine;
    if let Some(n) = args.decision_cache.or(file.decision_cache) {
        c.decision_cache.entries = n;
    }
    if let Some(ms) = args.decision_cache_ttl_ms.or(file.decision_cache_ttl_ms) {
        c.decision_cache.ttl = Duration::from_millis(ms);
    }
    c.validate()?;
    let format = args
        .log_format
        .or(file.log_format)
        .unwrap_or(LogFormat::Json);
    Ok((c, format, args.log_level.or(file.log_level)))
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (config, format, level) = resolve(args)?;
    let _log = init_logging(format, level.as_deref());
    let shutdown = async {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term.recv() => {},
        }
        tracing::info!("shutting down: draining in-flight calls");
    };
    dockgate::server::run(config, shutdown).await?;
    Ok(ExitCode::SUCCESS)
}
