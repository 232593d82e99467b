//! `dockgate authz`: the Docker authorization plugin (the runtime gate). Resolves flags into
//! the gate's configuration, connects (lazily) to the policy servers and the Docker API, and
//! serves the plugin socket until SIGTERM/SIGINT.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use dockgate::authz::gate::{DockerLink, FailOpen, Gate, GateConfig};
use dockgate::authz::serve;
use dockgate::authz::upstream::Upstream;
use dockgate::client::ClientTls;

use super::serve::{LogFormat, init_logging};

/// Run the Docker authorization plugin (AuthZ) on a unix socket.
#[derive(clap::Args)]
pub struct Args {
    /// The plugin socket the daemon connects to (named by a spec file in
    /// /etc/docker/plugins/, or this default path).
    #[arg(long, default_value = "/run/docker/plugins/dockgate.sock")]
    socket: PathBuf,
    /// A policy server: http://HOST:PORT, https://HOST:PORT or unix:///PATH (repeatable:
    /// calls are balanced over the serving ones, with failover).
    #[arg(long = "server", default_value = "http://127.0.0.1:50051")]
    servers: Vec<String>,
    /// CA certificate of the servers (PEM), for https.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Client certificate (PEM), for mTLS.
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// Client key (PEM), for mTLS.
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// Expected server name in the servers' certificates, when it differs from the URI's host.
    #[arg(long)]
    server_name: Option<String>,
    /// Deadline of a policy decision (and of each Docker API lookup), e.g. 2s or 500ms.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    timeout: Duration,
    /// Allow this operation when no policy server answers (repeatable; default: every
    /// operation fails closed).
    #[arg(long, value_enum)]
    fail_open: Vec<Op>,
    /// Swarm `services/create` and `services/{id}/update`: allow or deny.
    #[arg(long, value_enum, default_value = "deny")]
    swarm: Swarm,
    /// The Docker daemon's API socket, for container and image inspects.
    #[arg(
        long,
        default_value = "unix:///var/run/docker.sock",
        env = "DOCKER_HOST"
    )]
    docker_host: String,
    /// Containers whose allowed verdict is remembered for their start.
    #[arg(long, default_value_t = 4096)]
    cache_size: usize,
    /// Evaluate every start, even of a container just allowed at create, and inspect the image
    /// for every call (no cache at all).
    #[arg(long)]
    no_cache: bool,
    /// Seconds an image inspect is reused for later calls naming the same image (any pull,
    /// tag, delete, load, build or commit clears them at once); 0: inspect every time.
    #[arg(long, default_value_t = 30)]
    image_cache_ttl: u64,
    /// Log format on stdout.
    #[arg(long, value_enum, default_value = "json")]
    log_format: LogFormat,
    /// Log filter (tracing `EnvFilter` syntax), default `info` (one line per judged call).
    #[arg(long)]
    log_level: Option<String>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Create,
    Start,
    Update,
    Exec,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Swarm {
    Allow,
    Deny,
}

/// `2s`, `1500ms`, `0.5s`, or a bare number of seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 2s, 500ms)"))?;
    let secs = v * scale;
    if !secs.is_finite() || secs <= 0.0 || secs > 300.0 {
        return Err(format!("{s:?}: must be more than 0 and at most 300s"));
    }
    Ok(Duration::from_secs_f64(secs))
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let _log = init_logging(args.log_format, args.log_level.as_deref());
    let tls = ClientTls {
        ca: args.ca.clone(),
        cert: args.cert.clone(),
        key: args.key.clone(),
        domain: args.server_name.clone(),
    };
    let upstream = Upstream::new(&args.servers, &tls, args.timeout).context("invalid --server")?;
    let docker_path = args
        .docker_host
        .strip_prefix("unix://")
        .filter(|p| p.starts_with('/'))
        .with_context(|| {
            format!(
                "--docker-host {:?}: use unix:///PATH (the daemon's local socket)",
                args.docker_host
            )
        })?;
    let docker = DockerLink::new(docker_path, args.timeout);
    let mut fail_open = FailOpen::default();
    for op in &args.fail_open {
        match op {
            Op::Create => fail_open.create = true,
            Op::Start => fail_open.start = true,
            Op::Update => fail_open.update = true,
            Op::Exec => fail_open.exec = true,
        }
    }
    let cfg = GateConfig {
        docker_timeout: args.timeout,
        fail_open,
        allow_swarm: args.swarm == Swarm::Allow,
        cache_size: args.cache_size.max(1),
        cache: !args.no_cache,
        image_ttl: std::time::Duration::from_secs(args.image_cache_ttl),
    };
    let gate = Arc::new(Gate::new(upstream, docker, cfg));
    let listener = serve::bind(&args.socket)?;
    tracing::info!(
        target: "dockgate::authz",
        socket = %args.socket.display(),
        servers = %args.servers.join(","),
        timeout_ms = u64::try_from(args.timeout.as_millis()).unwrap_or(u64::MAX),
        fail_open = ?args.fail_open,
        docker_host = %args.docker_host,
        "authorization plugin listening"
    );
    let shutdown = async {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot watch SIGTERM");
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    };
    serve::serve(listener, gate, shutdown).await;
    let _ = std::fs::remove_file(&args.socket);
    tracing::info!(target: "dockgate::authz", "authorization plugin stopped");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("1h").is_err());
    }
}
