//! The plugin's way to the policy servers: several `--server` endpoints behind tower's
//! power-of-two-choices balancer, with failover.
//!
//! - One lazy tonic `Channel` per endpoint (`http://`, `https://` with TLS/mTLS, `unix:///`),
//!   each wrapped in `PendingRequests` so the balancer prefers the less busy one.
//! - The set of endpoints the balancer may use is a `tower::discover` stream fed by a prober:
//!   every endpoint's gRPC health is checked periodically (and at once after a failed call);
//!   an endpoint that is not SERVING is removed, one that is again is inserted. With no
//!   endpoint left, calls wait for one until their deadline.
//! - A failed call (transport error, UNAVAILABLE) is retried through the balancer by
//!   `tower::retry` while the deadline allows, so it lands on another endpoint once the
//!   prober has removed the broken one.
//!
//! Every call is bounded by the deadline; the caller decides what a failure means (the plugin
//! fails closed unless told otherwise).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tower::balance::p2c::Balance;
use tower::buffer::Buffer;
use tower::discover::Change;
use tower::load::{CompleteOnResponse, PendingRequests};
use tower::util::BoxCloneSyncService;
use tower::{BoxError, ServiceExt};

use crate::client::{ClientError, ClientTls, endpoint};
use crate::server::pb;
use crate::server::pb::policy_service_client::PolicyServiceClient;

/// The gRPC service name health is asked about.
const SERVICE: &str = "dockgate.v1.PolicyService";
/// How often endpoints are probed when nothing failed.
const PROBE_INTERVAL: Duration = Duration::from_millis(500);
/// Requests waiting for the balancer (beyond, callers wait for room until their deadline).
const BUFFER: usize = 1024;

type HttpReq = http::Request<tonic::body::Body>;
type HttpRes = http::Response<tonic::body::Body>;
type Transport = BoxCloneSyncService<HttpReq, HttpRes, TransportError>;

/// The balanced transport's error, as a concrete type: with `BoxError` itself, rustc's
/// higher-ranked `Send` check fails on the generated client's futures.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(#[source] BoxError);

/// Why a call got no answer.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No endpoint answered within the deadline.
    #[error("no policy server answered within {0:?}")]
    Deadline(Duration),
    /// Every endpoint is out of rotation (unreachable or not SERVING).
    #[error("no policy server is serving ({servers}); waited {deadline:?}")]
    NoneServing {
        /// The deadline.
        deadline: Duration,
        /// The configured servers.
        servers: String,
    },
    /// The server answered with an error status.
    #[error("the policy server answered {code:?}: {message}")]
    Status {
        /// The gRPC code.
        code: tonic::Code,
        /// Its message.
        message: String,
    },
    /// The transport failed.
    #[error("cannot reach a policy server: {0}")]
    Transport(String),
}

/// A lazy channel to `uri` (unix sockets through a connector).
fn lazy_channel(uri: &str, tls: &ClientTls, timeout: Duration) -> Result<Channel, ClientError> {
    let (ep, socket) = endpoint(uri, tls, timeout)?;
    Ok(match socket {
        Some(path) => ep.connect_with_connector_lazy(tower::service_fn(move |_| {
            let path = path.clone();
            async move {
                let s = tokio::net::UnixStream::connect(path).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(s))
            }
        })),
        None => ep.connect_lazy(),
    })
}

/// The balanced connection to every configured server.
#[derive(Clone)]
pub struct Upstream {
    transport: Transport,
    deadline: Duration,
    endpoints: usize,
    probe_now: Arc<Notify>,
    healthy: Arc<Vec<AtomicBool>>,
    uris: Arc<Vec<String>>,
}

impl Upstream {
    /// Sets up channels to `uris` (nothing is connected yet) and starts the prober. Must run
    /// inside a tokio runtime.
    pub fn new(uris: &[String], tls: &ClientTls, deadline: Duration) -> Result<Self, ClientError> {
        if uris.is_empty() {
            return Err(ClientError::Uri(String::new()));
        }
        let channels = uris
            .iter()
            .map(|u| lazy_channel(u, tls, deadline))
            .collect::<Result<Vec<_>, _>>()?;
        let (tx, rx) = mpsc::unbounded_channel::<Result<Change<usize, Leaf>, Infallible>>();
        // Optimistic start: every endpoint is in until a probe says otherwise.
        for (i, ch) in channels.iter().enumerate() {
            let _ = tx.send(Ok(Change::Insert(i, leaf(ch.clone()))));
        }
        let balance: Balance<_, HttpReq> = Balance::new(UnboundedReceiverStream::new(rx));
        let buffered = Buffer::new(balance, BUFFER);
        let transport = BoxCloneSyncService::new(buffered.map_err(TransportError));
        let healthy = Arc::new(
            (0..channels.len())
                .map(|_| AtomicBool::new(true))
                .collect::<Vec<_>>(),
        );
        let probe_now = Arc::new(Notify::new());
        tokio::spawn(prober(
            channels,
            tx,
            healthy.clone(),
            probe_now.clone(),
            deadline.min(Duration::from_secs(1)),
            Arc::new(uris.to_vec()),
        ));
        Ok(Self {
            transport,
            deadline,
            endpoints: uris.len(),
            probe_now,
            healthy,
            uris: Arc::new(uris.to_vec()),
        })
    }

    /// The deadline of one call.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// Endpoints the prober last saw SERVING, by URI.
    pub fn healthy(&self) -> Vec<String> {
        self.uris
            .iter()
            .zip(self.healthy.iter())
            .filter(|(_, h)| h.load(Ordering::Relaxed))
            .map(|(u, _)| u.clone())
            .collect()
    }

    /// `Evaluate` with the AdmissionRequest JSON, answered by `until`.
    pub async fn evaluate(
        &self,
        admission_request_json: String,
        until: Instant,
    ) -> Result<pb::Decision, UpstreamError> {
        let reply = self
            .call(Call::Evaluate(admission_request_json), until)
            .await?;
        match reply {
            Reply::Decision(d) => Ok(d),
            Reply::Info(_) => Err(UpstreamError::Transport("unexpected reply".into())),
        }
    }

    /// `GetPolicyInfo`, answered by `until`.
    pub async fn policy_info(&self, until: Instant) -> Result<pb::PolicyInfo, UpstreamError> {
        match self.call(Call::Info, until).await? {
            Reply::Info(i) => Ok(i),
            Reply::Decision(_) => Err(UpstreamError::Transport("unexpected reply".into())),
        }
    }

    async fn call(&self, call: Call, until: Instant) -> Result<Reply, UpstreamError> {
        let budget = until.saturating_duration_since(Instant::now());
        let transport = self.transport.clone();
        let inner = tower::service_fn(move |call: Call| {
            let mut client = PolicyServiceClient::new(transport.clone());
            let fut: CallFuture = Box::pin(async move {
                match call {
                    Call::Evaluate(json) => client
                        .evaluate(pb::EvaluateRequest {
                            admission_request_json: json,
                        })
                        .await
                        .map(|r| Reply::Decision(r.into_inner())),
                    Call::Info => client
                        .get_policy_info(pb::GetPolicyInfoRequest {})
                        .await
                        .map(|r| Reply::Info(r.into_inner())),
                }
            });
            fut
        });
        let policy = Failover {
            attempts_left: self.endpoints.max(2),
            until,
            probe_now: self.probe_now.clone(),
        };
        let svc = tower::retry::Retry::new(policy, inner);
        match tokio::time::timeout(budget, svc.oneshot(call)).await {
            Err(_) => {
                self.probe_now.notify_one();
                let serving = self.healthy();
                Err(if serving.is_empty() {
                    UpstreamError::NoneServing {
                        deadline: self.deadline,
                        servers: self.uris.join(", "),
                    }
                } else {
                    UpstreamError::Deadline(self.deadline)
                })
            }
            Ok(Ok(r)) => Ok(r),
            Ok(Err(status)) => {
                if is_transport(&status) {
                    Err(UpstreamError::Transport(describe(&status)))
                } else {
                    Err(UpstreamError::Status {
                        code: status.code(),
                        message: status.message().to_string(),
                    })
                }
            }
        }
    }
}

type Leaf = PendingRequests<Channel, CompleteOnResponse>;

fn leaf(ch: Channel) -> Leaf {
    PendingRequests::new(ch, CompleteOnResponse::default())
}

/// A status that says the server was not reached (or went away), as opposed to an answer.
fn is_transport(s: &tonic::Status) -> bool {
    matches!(
        s.code(),
        tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled
    ) || s.code() == tonic::Code::Internal && s.message().contains("transport")
}

fn describe(s: &tonic::Status) -> String {
    let mut m = s.message().to_string();
    let mut src = std::error::Error::source(s);
    while let Some(e) = src {
        m.push_str(": ");
        m.push_str(&e.to_string());
        src = e.source();
    }
    m
}

type CallFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Reply, tonic::Status>> + Send>>;

#[derive(Clone)]
enum Call {
    Evaluate(String),
    Info,
}

enum Reply {
    Decision(pb::Decision),
    Info(pb::PolicyInfo),
}

/// Retries a call that did not reach a server, on whichever endpoint the balancer picks next,
/// while attempts and time remain; asks the prober to look at the endpoints at once.
#[derive(Clone)]
struct Failover {
    attempts_left: usize,
    until: Instant,
    probe_now: Arc<Notify>,
}

impl tower::retry::Policy<Call, Reply, tonic::Status> for Failover {
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

    fn retry(
        &mut self,
        _req: &mut Call,
        result: &mut Result<Reply, tonic::Status>,
    ) -> Option<Self::Future> {
        let Err(status) = result else { return None };
        // Answers that are not about reachability (invalid input, policy errors) are final.
        if !is_transport(status) && status.code() != tonic::Code::ResourceExhausted {
            return None;
        }
        self.probe_now.notify_one();
        if self.attempts_left == 0 || Instant::now() + Duration::from_millis(50) >= self.until {
            return None;
        }
        self.attempts_left -= 1;
        // Time for the prober to take the broken endpoint out of the set.
        Some(Box::pin(tokio::time::sleep(Duration::from_millis(50))))
    }

    fn clone_request(&mut self, req: &Call) -> Option<Call> {
        Some(req.clone())
    }
}

/// Keeps the balancer's endpoint set to those whose health is SERVING.
async fn prober(
    channels: Vec<Channel>,
    tx: mpsc::UnboundedSender<Result<Change<usize, Leaf>, Infallible>>,
    healthy: Arc<Vec<AtomicBool>>,
    probe_now: Arc<Notify>,
    probe_timeout: Duration,
    uris: Arc<Vec<String>>,
) {
    loop {
        let checks = channels.iter().map(|ch| {
            let mut client = HealthClient::new(ch.clone());
            async move {
                let req = HealthCheckRequest {
                    service: SERVICE.into(),
                };
                matches!(
                    tokio::time::timeout(probe_timeout, client.check(req)).await,
                    Ok(Ok(r)) if r.get_ref().status() == ServingStatus::Serving
                )
            }
        });
        let results = futures_join_all(checks).await;
        for (i, up) in results.into_iter().enumerate() {
            let Some(flag) = healthy.get(i) else { continue };
            let was = flag.swap(up, Ordering::Relaxed);
            if was == up {
                continue;
            }
            let change = if up {
                tracing::info!(target: "dockgate::authz", server = %uris[i], "policy server is serving; in rotation");
                Change::Insert(i, leaf(channels[i].clone()))
            } else {
                tracing::warn!(target: "dockgate::authz", server = %uris[i], "policy server is not serving; out of rotation");
                Change::Remove(i)
            };
            if tx.send(Ok(change)).is_err() {
                return; // The balancer is gone: the plugin is shutting down.
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(PROBE_INTERVAL) => {}
            _ = probe_now.notified() => {}
        }
    }
}

/// Runs futures concurrently (each on its own task) and collects their outputs in order; a
/// task that panicked counts as `false` (not serving).
async fn futures_join_all<F>(futs: impl Iterator<Item = F>) -> Vec<bool>
where
    F: std::future::Future<Output = bool> + Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap_or(false));
    }
    out
}
