//! `dockgate authz-bench`: a load tool for a running authorization plugin. Posts the
//! `/AuthZPlugin.AuthZReq` a daemon sends for a container create to the plugin's socket at a
//! fixed rate and concurrency, beside a direct `Evaluate` of the same container on a policy
//! server and the plugin's no-policy floor (a `GET`, allowed without a lookup), and prints
//! latency percentiles for each.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine as _;
use dockgate::client::connect;
use dockgate::server::pb::EvaluateRequest;
use dockgate::server::pb::policy_service_client::PolicyServiceClient;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

use super::ServerArgs;
use super::bench::pct;
use super::pace::{self, Schedule};

/// Measure a running `dockgate authz`: the plugin round trip of a create, beside a direct
/// Evaluate of the same container and the plugin's floor.
#[derive(clap::Args)]
pub struct Args {
    /// The plugin's socket.
    #[arg(long, default_value = "/run/docker/plugins/dockgate.sock")]
    socket: PathBuf,
    /// The policy server for the direct Evaluate phase.
    #[command(flatten)]
    server: ServerArgs,
    /// Concurrent callers (one plugin connection each).
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Total requests per second across callers (0 = as fast as possible).
    #[arg(long, default_value_t = 500)]
    rate: u64,
    /// How long each measured phase runs, seconds (at most 600).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// The container create body (Engine API JSON); default: a hardened nginx service.
    #[arg(long)]
    body: Option<PathBuf>,
    /// Replace the body's image (e.g. an image the plugin's daemon has, so the plugin's image
    /// inspect finds it).
    #[arg(long)]
    image: Option<String>,
    /// Skip the direct Evaluate phase.
    #[arg(long)]
    no_direct: bool,
}

const SAMPLE: &str = include_str!("authz_bench_create.json");

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Plugin,
    Floor,
    Direct,
}

struct Report {
    latencies_us: Vec<u64>,
    starts: pace::StartLags,
    errors: u64,
    denied: u64,
    elapsed: Duration,
}

/// One caller's connection to the plugin.
struct PluginConn {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl PluginConn {
    async fn open(socket: &Path) -> anyhow::Result<Self> {
        let stream = tokio::net::UnixStream::connect(socket)
            .await
            .with_context(|| format!("cannot connect to {}", socket.display()))?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("plugin handshake")?;
        tokio::spawn(conn);
        Ok(Self { sender })
    }

    /// Posts `call` to `path`; whether the plugin allowed it.
    async fn post(&mut self, path: &str, call: Bytes) -> anyhow::Result<bool> {
        self.sender.ready().await?;
        let req = http::Request::post(path)
            .header(http::header::HOST, "plugin")
            .body(Full::new(call))?;
        let resp = self.sender.send_request(req).await?;
        anyhow::ensure!(
            resp.status().is_success(),
            "plugin answered {}",
            resp.status()
        );
        let body = resp.into_body().collect().await?.to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body)?;
        anyhow::ensure!(
            v["Err"].as_str().unwrap_or("").is_empty(),
            "plugin error: {}",
            v["Err"]
        );
        Ok(v["Allow"].as_bool().unwrap_or(false))
    }
}

#[allow(clippy::too_many_arguments)]
async fn phase(
    phase: Phase,
    socket: &Path,
    channels: &[tonic::transport::Channel],
    call: Bytes,
    evaluate_json: Arc<String>,
    concurrency: usize,
    rate: u64,
    duration: Duration,
) -> anyhow::Result<Report> {
    let started = Instant::now();
    let schedule = Arc::new(Schedule::start(rate, duration)?);
    let mut tasks = Vec::new();
    for i in 0..concurrency {
        let mut conn = match phase {
            Phase::Direct => None,
            _ => Some(PluginConn::open(socket).await?),
        };
        let mut client = channels
            .get(i % channels.len().max(1))
            .map(|c| PolicyServiceClient::new(c.clone()));
        let call = call.clone();
        let json = evaluate_json.clone();
        let schedule = schedule.clone();
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut lag, mut errors, mut denied) = (Vec::new(), Vec::new(), 0u64, 0u64);
            while let Some(due) = schedule.next().await {
                let t0 = Instant::now();
                lag.push(pace::lag_us(due, t0));
                let outcome = match (phase, conn.as_mut(), client.as_mut()) {
                    (Phase::Direct, _, Some(c)) => c
                        .evaluate(EvaluateRequest {
                            admission_request_json: (*json).clone(),
                        })
                        .await
                        .map(|r| r.into_inner().allowed)
                        .map_err(anyhow::Error::from),
                    (_, Some(p), _) => p.post("/AuthZPlugin.AuthZReq", call.clone()).await,
                    _ => Err(anyhow::anyhow!("no connection")),
                };
                match outcome {
                    Ok(allowed) => {
                        lat.push(u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX));
                        if !allowed {
                            denied += 1;
                        }
                    }
                    Err(_) => errors += 1,
                }
            }
            (lat, lag, errors, denied)
        }));
    }
    let mut r = Report {
        latencies_us: Vec::new(),
        starts: pace::StartLags::for_schedule(&schedule),
        errors: 0,
        denied: 0,
        elapsed: Duration::ZERO,
    };
    for t in tasks {
        if let Ok((lat, lag, errors, denied)) = t.await {
            r.latencies_us.extend(lat);
            r.starts.extend(lag);
            r.errors += errors;
            r.denied += denied;
        }
    }
    r.elapsed = started.elapsed();
    r.starts.finish(&schedule);
    r.latencies_us.sort_unstable();
    Ok(r)
}

fn print(name: &str, r: &Report) {
    let n = r.latencies_us.len();
    println!(
        "{name:<16} calls {n:>7}  errors {:>4}  denied {:>6}  {:>7.1}/s  p50 {:>6} µs  p90 {:>6} µs  p99 {:>6} µs  max {:>7} µs",
        r.errors,
        r.denied,
        n as f64 / r.elapsed.as_secs_f64(),
        pct(&r.latencies_us, 0.50),
        pct(&r.latencies_us, 0.90),
        pct(&r.latencies_us, 0.99),
        r.latencies_us.last().copied().unwrap_or(0),
    );
    if let Some(line) = r.starts.summary() {
        println!("{:<16} {line}", "");
    }
}

/// The AuthZReq the daemon sends for `body`, as the daemon spells it.
fn authz_call(method: &str, uri: &str, body: Option<&[u8]>) -> anyhow::Result<Bytes> {
    let mut call = serde_json::json!({
        "User": "",
        "UserAuthNMethod": "",
        "RequestMethod": method,
        "RequestUri": uri,
        "RequestHeaders": {"Content-Type": "application/json", "User-Agent": "Docker-Client/20.10.24"},
    });
    if let Some(b) = body {
        call["RequestBody"] =
            serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(b));
    }
    Ok(Bytes::from(serde_json::to_vec(&call)?))
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let duration = Duration::from_secs(args.duration.clamp(1, 600));
    let c = args.concurrency.max(1);
    let text = match &args.body {
        Some(p) => super::read_limited(p)?,
        None => SAMPLE.to_string(),
    };
    let mut body: serde_json::Value =
        serde_json::from_str(&text).context("--body is not valid JSON")?;
    if let Some(img) = &args.image {
        body["Image"] = serde_json::Value::String(img.clone());
    }
    let body_bytes = serde_json::to_vec(&body)?;
    let name = "bench-web-1";
    let doc = dockgate::engine_api::from_create(&body, Some(name))
        .context("the create body does not normalise")?;
    let evaluate_json = Arc::new(serde_json::to_string(&doc)?);
    let create = authz_call(
        "POST",
        &format!("/v1.41/containers/create?name={name}"),
        Some(&body_bytes),
    )?;
    let floor = authz_call("GET", "/v1.41/containers/json", None)?;

    let mut channels = Vec::new();
    if !args.no_direct {
        let tls = args.server.tls();
        for _ in 0..2 {
            channels.push(connect(&args.server.server, &tls, Duration::from_secs(5)).await?);
        }
    }
    // Warm up: connections, the plugin's channels, the server's instances.
    let warm = Duration::from_secs(1);
    phase(
        Phase::Plugin,
        &args.socket,
        &[],
        create.clone(),
        evaluate_json.clone(),
        c,
        0,
        warm,
    )
    .await?;
    println!(
        "plugin {}  server {}  concurrency {c}  rate {}  duration {}s",
        args.socket.display(),
        if args.no_direct {
            "-"
        } else {
            &args.server.server
        },
        if args.rate == 0 {
            "max".to_string()
        } else {
            format!("{}/s", args.rate)
        },
        duration.as_secs(),
    );
    let mut failed = false;
    for (name, ph, call) in [
        ("plugin AuthZReq", Phase::Plugin, create.clone()),
        ("plugin floor GET", Phase::Floor, floor),
        ("direct Evaluate", Phase::Direct, create),
    ] {
        if ph == Phase::Direct && args.no_direct {
            continue;
        }
        let r = phase(
            ph,
            &args.socket,
            &channels,
            call,
            evaluate_json.clone(),
            c,
            args.rate,
            duration,
        )
        .await?;
        print(name, &r);
        failed |= r.errors > 0;
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
