//! The gRPC policy server (`dockgate serve`).
//!
//! Assembled in [`run`], in the order a request travels: listener (TCP with optional TLS/mTLS,
//! or a unix socket) → message size limits (a tower layer names the configured limit) →
//! the service, where policy calls (Evaluate, CheckCompose) are shed past the concurrency
//! limit (UNAVAILABLE) and cut at the per-call timeout (DEADLINE_EXCEEDED) — health,
//! reflection and admin calls never are → the `dockgate.v1.PolicyService` (plus standard health and
//! reflection) → the policy state (atomically swapped engines) → the engine.
//!
//! - `pb`: generated code; `convert`: domain ↔ protobuf and errors → `Status`;
//! - `service`: the RPC handlers; `access`: roles per client identity;
//! - `state`: loaded policies and reload; `source`: where policies come from;
//! - `decision_log`: JSON decision records and their broadcast; `metrics`: Prometheus;
//! - `decision_cache`: the optional, bounded cache of decisions by input (off by default).

mod access;
mod convert;
mod decision_cache;
mod decision_log;
mod metrics;
mod oversize;
pub mod pb;
mod service;
mod source;
mod state;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

pub use access::{Access, Role};
pub use decision_cache::DecisionCacheConfig;
pub use metrics::Metrics;
pub use source::PolicySource;

use crate::library::Profile;
use crate::policy::EngineOptions;
use decision_log::DecisionLog;
use state::PolicyState;

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration is unsafe or inconsistent.
    #[error("configuration: {0}")]
    Config(String),
    /// A file (certificate, key) could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The initial policies could not be loaded.
    #[error("cannot load the policies: {0}")]
    Policies(String),
    /// A listener failed.
    #[error("listener {addr}: {message}")]
    Listen {
        /// The address.
        addr: String,
        /// What happened.
        message: String,
    },
}

/// TLS files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Server certificate chain (PEM).
    pub cert: PathBuf,
    /// Server private key (PEM).
    pub key: PathBuf,
    /// CA that signs client certificates (PEM): enables mTLS, clients must present one.
    pub client_ca: Option<PathBuf>,
}

/// A validated server configuration.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// TCP listeners.
    pub listen: Vec<SocketAddr>,
    /// Unix socket listeners.
    pub sockets: Vec<PathBuf>,
    /// Where the policies come from.
    pub source: PolicySource,
    /// Profile override.
    pub profile: Option<Profile>,
    /// Prometheus listener.
    pub metrics_listen: Option<SocketAddr>,
    /// TLS for the TCP listeners.
    pub tls: Option<TlsFiles>,
    /// Roles by client identity (mTLS).
    pub roles: std::collections::HashMap<String, Role>,
    /// Allow plaintext on non-loopback addresses.
    pub insecure: bool,
    /// Engine options.
    pub engine: EngineOptions,
    /// Per-call timeout.
    pub call_timeout: Duration,
    /// Maximum concurrent calls; more are shed with UNAVAILABLE.
    pub max_concurrency: usize,
    /// Largest request message (bytes); inputs are checked against it with a clear error.
    pub max_message_bytes: usize,
    /// Log only denied decisions.
    pub denied_only_log: bool,
    /// Watch the policy path and reload on change.
    pub watch: bool,
    /// The optional decision cache (off by default).
    pub decision_cache: DecisionCacheConfig,
}

impl ServerConfig {
    /// A loopback configuration with the built-in library.
    pub fn local() -> Self {
        Self {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 50051))],
            sockets: Vec::new(),
            source: PolicySource::Library,
            profile: None,
            metrics_listen: None,
            tls: None,
            roles: Default::default(),
            insecure: false,
            engine: EngineOptions::default(),
            call_timeout: Duration::from_secs(5),
            max_concurrency: 1024,
            max_message_bytes: 4 * 1024 * 1024,
            denied_only_log: false,
            watch: true,
            decision_cache: DecisionCacheConfig::default(),
        }
    }

    /// Checks the configuration and derives the access policy.
    pub fn validate(&self) -> Result<Access, ServerError> {
        if self.listen.is_empty() && self.sockets.is_empty() {
            return Err(ServerError::Config(
                "nothing to listen on: give --listen ADDR and/or --socket PATH".into(),
            ));
        }
        if let Some(a) = self
            .listen
            .iter()
            .find(|a| !a.ip().is_loopback())
            .filter(|_| self.tls.is_none() && !self.insecure)
        {
            return Err(ServerError::Config(format!(
                "refusing plaintext gRPC on {a}, which is not a loopback address: configure TLS (--tls-cert/--tls-key, and --client-ca for mTLS) or pass --insecure"
            )));
        }
        let mtls = self.tls.as_ref().is_some_and(|t| t.client_ca.is_some());
        if !self.roles.is_empty() && !mtls {
            return Err(ServerError::Config(
                "roles need client identities: configure mTLS with --client-ca".into(),
            ));
        }
        let all_local = self.listen.iter().all(|a| a.ip().is_loopback());
        Ok(Access {
            mtls,
            roles: self.roles.clone(),
            default_role: if all_local {
                Role::Admin
            } else {
                Role::Evaluate
            },
        })
    }
}

fn read(path: &PathBuf) -> Result<Vec<u8>, ServerError> {
    std::fs::read(path).map_err(|source| ServerError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Runs the server until `shutdown` resolves, then drains in-flight calls.
pub async fn run(
    config: ServerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let access = Arc::new(config.validate()?);
    let metrics = Arc::new(Metrics::new());
    let state = Arc::new(PolicyState::new(
        config.source.clone(),
        config.profile,
        config.engine.clone(),
        config.decision_cache,
        metrics.clone(),
    ));
    let log = Arc::new(DecisionLog::new(config.denied_only_log));
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_not_serving::<pb::policy_service_server::PolicyServiceServer<service::PolicyService>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| ServerError::Config(format!("reflection: {e}")))?;

    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let stopped = {
        let rx = stop_rx.clone();
        move || {
            let mut rx = rx.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        }
    };

    let svc = service::PolicyService {
        state: state.clone(),
        log,
        metrics: metrics.clone(),
        access,
        max_input_bytes: config.max_message_bytes,
        stopping: stop_rx.clone(),
        in_flight: Arc::new(tokio::sync::Semaphore::new(config.max_concurrency)),
        max_concurrency: config.max_concurrency,
        call_timeout: config.call_timeout,
    };
    let grpc = pb::policy_service_server::PolicyServiceServer::new(svc)
        // Refused before decoding; `oversize` turns tonic's status into INVALID_ARGUMENT.
        .max_decoding_message_size(config.max_message_bytes)
        .max_encoding_message_size(64 * 1024 * 1024);
    // Timeouts and shedding apply to policy calls only, inside the service (health, reflection,
    // Reload and WatchDecisions are never shed or cut short).
    let layers = tower::ServiceBuilder::new()
        .map_response(oversize::rewrite::<tonic::body::Body>(
            config.max_message_bytes,
        ))
        .into_inner();

    let mut servers = tokio::task::JoinSet::new();
    let make_router = |tls: Option<ServerTlsConfig>| -> Result<_, ServerError> {
        let mut builder = Server::builder();
        if let Some(t) = tls {
            builder = builder
                .tls_config(t)
                .map_err(|e| ServerError::Config(format!("TLS: {e}")))?;
        }
        Ok(builder
            .layer(layers.clone())
            .add_service(health_service.clone())
            .add_service(reflection.clone())
            .add_service(grpc.clone()))
    };
    let tls = match &config.tls {
        Some(t) => {
            let mut c =
                ServerTlsConfig::new().identity(Identity::from_pem(read(&t.cert)?, read(&t.key)?));
            if let Some(ca) = &t.client_ca {
                c = c.client_ca_root(Certificate::from_pem(read(ca)?));
            }
            Some(c)
        }
        None => None,
    };
    for addr in &config.listen {
        let listener =
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| ServerError::Listen {
                    addr: addr.to_string(),
                    message: e.to_string(),
                })?;
        let local = listener.local_addr().map_or(*addr, |a| a);
        tracing::info!(addr = %local, tls = tls.is_some(), "gRPC listening");
        let router = make_router(tls.clone())?;
        let stop = stopped();
        servers.spawn(async move {
            router
                .serve_with_incoming_shutdown(
                    // No Nagle: a reply is several small HTTP/2 frames, and with Nagle the
                    // later ones wait for the client's (delayed) ACK of the first — ~7 ms per
                    // call at a steady, unpipelined rate.
                    TcpIncoming::from(listener).with_nodelay(Some(true)),
                    stop,
                )
                .await
                .map_err(|e| e.to_string())
        });
    }
    for path in &config.sockets {
        prepare_socket_path(path).await?;
        let listener = tokio::net::UnixListener::bind(path).map_err(|e| ServerError::Listen {
            addr: path.display().to_string(),
            message: e.to_string(),
        })?;
        tracing::info!(socket = %path.display(), "gRPC listening");
        let router = make_router(None)?;
        let stop = stopped();
        servers.spawn(async move {
            router
                .serve_with_incoming_shutdown(UnixListenerStream::new(listener), stop)
                .await
                .map_err(|e| e.to_string())
        });
    }
    if let Some(addr) = config.metrics_listen {
        let m = metrics.clone();
        let stop = stopped();
        tokio::spawn(async move {
            if let Err(e) = metrics::serve(addr, m, stop).await {
                tracing::error!(%addr, error = %e, "metrics listener failed");
            }
        });
    }

    // Load the policies; only then report SERVING.
    state.reload().await.map_err(ServerError::Policies)?;
    health_reporter
        .set_serving::<pb::policy_service_server::PolicyServiceServer<service::PolicyService>>()
        .await;
    tracing::info!("serving");

    spawn_reload_triggers(state.clone(), config.watch, stopped());

    while let Some(done) = servers.join_next().await {
        if let Ok(Err(e)) = done {
            tracing::error!(error = %e, "a listener stopped with an error");
        }
    }
    for path in &config.sockets {
        let _ = std::fs::remove_file(path);
    }
    tracing::info!("stopped");
    Ok(())
}

/// Makes `path` free for a new socket: a stale socket is removed; a live one (another server
/// answers) or anything that is not a socket is left alone and refused.
async fn prepare_socket_path(path: &std::path::Path) -> Result<(), ServerError> {
    use std::os::unix::fs::FileTypeExt;
    let refuse = |message: String| ServerError::Listen {
        addr: path.display().to_string(),
        message,
    };
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(refuse(e.to_string())),
    };
    if !meta.file_type().is_socket() {
        return Err(refuse(
            "a file that is not a socket is in the way: remove it or choose another --socket path"
                .into(),
        ));
    }
    if tokio::net::UnixStream::connect(path).await.is_ok() {
        return Err(refuse(
            "another server is listening on this socket: stop it or choose another path".into(),
        ));
    }
    std::fs::remove_file(path).map_err(|e| refuse(format!("cannot remove the stale socket: {e}")))
}

/// SIGHUP and (optionally) changes of the policy path reload the policies.
fn spawn_reload_triggers(
    state: Arc<PolicyState>,
    watch_files: bool,
    stopped: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<&'static str>(8);
    if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        let tx = tx.clone();
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                let _ = tx.send("SIGHUP").await;
            }
        });
    }
    let mut _watcher = None;
    if let Some(path) = state.source().watch_path().cloned().filter(|_| watch_files) {
        {
            use notify::Watcher;
            let tx = tx.clone();
            let handler = move |res: notify::Result<notify::Event>| {
                if let Ok(ev) = res
                    && (ev.kind.is_modify() || ev.kind.is_create() || ev.kind.is_remove())
                {
                    let _ = tx.try_send("file change");
                }
            };
            match notify::recommended_watcher(handler) {
                Ok(mut w) => {
                    let target = if path.is_dir() {
                        path.clone()
                    } else {
                        path.parent().map(PathBuf::from).unwrap_or(path.clone())
                    };
                    if let Err(e) = w.watch(&target, notify::RecursiveMode::Recursive) {
                        tracing::warn!(path = %target.display(), error = %e, "cannot watch the policies; use SIGHUP or Reload");
                    }
                    _watcher = Some(w);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "file watching unavailable; use SIGHUP or Reload")
                }
            }
        }
    }
    tokio::spawn(async move {
        let _keep = _watcher;
        tokio::pin!(stopped);
        loop {
            let why = tokio::select! {
                w = rx.recv() => match w { Some(w) => w, None => return },
                () = &mut stopped => return,
            };
            // Debounce bursts of file events (editors write several times).
            tokio::time::sleep(Duration::from_millis(200)).await;
            while rx.try_recv().is_ok() {}
            tracing::info!(trigger = why, "reloading policies");
            let _ = state.reload().await;
        }
    });
}
