//! Prometheus metrics, served on their own HTTP listener (`/metrics`).

use std::net::SocketAddr;
use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    result: String,
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabels {
    rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RevisionLabels {
    revision: String,
}

/// All metrics of the server.
pub struct Metrics {
    registry: Registry,
    decisions: Family<DecisionLabels, Counter>,
    rule_hits: Family<RuleLabels, Counter>,
    latency: Histogram,
    bundle: Family<RevisionLabels, Gauge>,
    reloads: Counter,
    reload_failures: Counter,
    pool_in_use: Gauge,
    pool_size: Gauge,
    cache: Family<CacheLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("dockgate");
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "decisions",
            "Decisions by result and operation",
            decisions.clone(),
        );
        let rule_hits = Family::<RuleLabels, Counter>::default();
        registry.register(
            "rule_violations",
            "Violations by rule id",
            rule_hits.clone(),
        );
        let latency = Histogram::new(exponential_buckets(0.000_05, 2.0, 16));
        registry.register(
            "evaluation_duration_seconds",
            "Time to evaluate one admission request",
            latency.clone(),
        );
        let bundle = Family::<RevisionLabels, Gauge>::default();
        registry.register(
            "bundle_info",
            "The bundle revision being served (value 1)",
            bundle.clone(),
        );
        let reloads = Counter::default();
        registry.register("reloads", "Successful policy loads", reloads.clone());
        let reload_failures = Counter::default();
        registry.register(
            "reload_failures",
            "Failed policy reloads",
            reload_failures.clone(),
        );
        let pool_in_use = Gauge::default();
        registry.register(
            "pool_in_use",
            "Evaluations running now",
            pool_in_use.clone(),
        );
        let pool_size = Gauge::default();
        registry.register(
            "pool_size",
            "Policy instances (maximum concurrent evaluations)",
            pool_size.clone(),
        );
        let cache = Family::<CacheLabels, Counter>::default();
        registry.register(
            "decision_cache",
            "Decision cache lookups by result (hit, miss); none when the cache is off",
            cache.clone(),
        );
        Self {
            registry,
            cache,
            decisions,
            rule_hits,
            latency,
            bundle,
            reloads,
            reload_failures,
            pool_in_use,
            pool_size,
        }
    }

    /// Counts one decision.
    pub fn decision(&self, result: &str, operation: &str, rules: &[&str], seconds: f64) {
        self.decisions
            .get_or_create(&DecisionLabels {
                result: result.to_string(),
                operation: operation.to_string(),
            })
            .inc();
        for r in rules {
            self.rule_hits
                .get_or_create(&RuleLabels {
                    rule: (*r).to_string(),
                })
                .inc();
        }
        self.latency.observe(seconds);
    }

    /// A bundle was loaded.
    pub fn bundle_loaded(&self, revision: &str) {
        self.bundle.clear();
        self.bundle
            .get_or_create(&RevisionLabels {
                revision: revision.to_string(),
            })
            .set(1);
        self.reloads.inc();
    }

    /// A reload failed.
    pub fn reload_failed(&self) {
        self.reload_failures.inc();
    }

    /// One decision cache lookup.
    pub fn cache_lookup(&self, hit: bool) {
        self.cache
            .get_or_create(&CacheLabels {
                result: if hit { "hit" } else { "miss" }.to_string(),
            })
            .inc();
    }

    /// Pool usage.
    pub fn pool(&self, in_use: usize, size: usize) {
        self.pool_in_use.set(in_use as i64);
        self.pool_size.set(size as i64);
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Serves `/metrics` over HTTP/1 on `addr` until `shutdown` resolves.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use http_body_util::Full;
    use hyper::body::Bytes;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;

    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "metrics listening");
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            () = &mut shutdown => return Ok(()),
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let metrics = metrics.clone();
                async move {
                    if req.uri().path() == "/metrics" {
                        hyper::Response::builder()
                            .header(
                                "content-type",
                                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                            )
                            .body(Full::new(Bytes::from(metrics.encode())))
                    } else {
                        hyper::Response::builder()
                            .status(404)
                            .body(Full::new(Bytes::from_static(b"not found: try /metrics\n")))
                    }
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
