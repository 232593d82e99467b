//! `dockgate bench`: a load tool for a running server. Drives Evaluate (and the no-op Ping, as
//! the floor) at a fixed concurrency, optionally at a fixed total rate, for a bounded time, and
//! prints latency percentiles and throughput.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use dockgate::client::connect;
use dockgate::server::pb::policy_service_client::PolicyServiceClient;
use dockgate::server::pb::{EvaluateRequest, PingRequest};
use tonic::transport::Channel;

use super::ServerArgs;
use super::pace::{self, Schedule};

/// Measure a running server: Evaluate latency and throughput, beside a no-op Ping floor.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// Concurrent callers.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// How long each measured phase runs, seconds (at most 600).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Total calls per second across callers (0 = as fast as possible).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// The AdmissionRequest JSON to send (default: a hardened nginx container).
    #[arg(long)]
    input: Option<PathBuf>,
    /// Skip the Ping floor.
    #[arg(long)]
    no_floor: bool,
    /// Connections to spread callers over.
    #[arg(long, default_value_t = 2)]
    connections: usize,
}

const SAMPLE: &str = dockgate::model::SAMPLE_REQUEST_JSON;

#[derive(Clone, Copy)]
enum Rpc {
    Evaluate,
    Ping,
}

struct Report {
    latencies_us: Vec<u64>,
    starts: pace::StartLags,
    errors: u64,
    elapsed: Duration,
}

async fn phase(
    channels: &[Channel],
    rpc: Rpc,
    input: Arc<String>,
    concurrency: usize,
    rate: u64,
    duration: Duration,
) -> anyhow::Result<Report> {
    let started = Instant::now();
    let schedule = Arc::new(Schedule::start(rate, duration)?);
    let mut tasks = Vec::new();
    for i in 0..concurrency {
        let mut client = PolicyServiceClient::new(channels[i % channels.len()].clone());
        let input = input.clone();
        let schedule = schedule.clone();
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut lag) = (Vec::new(), Vec::new());
            let mut errors = 0u64;
            while let Some(due) = schedule.next().await {
                let t0 = Instant::now();
                lag.push(pace::lag_us(due, t0));
                let ok = match rpc {
                    Rpc::Evaluate => client
                        .evaluate(EvaluateRequest {
                            admission_request_json: (*input).clone(),
                        })
                        .await
                        .is_ok(),
                    Rpc::Ping => client.ping(PingRequest {}).await.is_ok(),
                };
                if ok {
                    lat.push(u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX));
                } else {
                    errors += 1;
                }
            }
            (lat, lag, errors)
        }));
    }
    let mut report = Report {
        latencies_us: Vec::new(),
        starts: pace::StartLags::for_schedule(&schedule),
        errors: 0,
        elapsed: Duration::ZERO,
    };
    for t in tasks {
        if let Ok((lat, lag, errors)) = t.await {
            report.latencies_us.extend(lat);
            report.starts.extend(lag);
            report.errors += errors;
        }
    }
    report.elapsed = started.elapsed();
    report.starts.finish(&schedule);
    report.latencies_us.sort_unstable();
    Ok(report)
}

/// The `p` quantile (0..=1) of sorted latencies; 0 when there are none.
pub(super) fn pct(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn print(name: &str, r: &Report) {
    let n = r.latencies_us.len();
    println!(
        "{name:<9} calls {n:>8}  errors {:>5}  throughput {:>9.1}/s  p50 {:>7} µs  p90 {:>7} µs  p99 {:>7} µs  p99.9 {:>7} µs  max {:>7} µs",
        r.errors,
        n as f64 / r.elapsed.as_secs_f64(),
        pct(&r.latencies_us, 0.50),
        pct(&r.latencies_us, 0.90),
        pct(&r.latencies_us, 0.99),
        pct(&r.latencies_us, 0.999),
        r.latencies_us.last().copied().unwrap_or(0),
    );
    if let Some(line) = r.starts.summary() {
        println!("{:<9} {line}", "");
    }
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let duration = Duration::from_secs(args.duration.clamp(1, 600));
    let input = match &args.input {
        Some(p) => super::read_limited(p)?,
        None => SAMPLE.to_string(),
    };
    serde_json::from_str::<serde_json::Value>(&input).context("--input is not valid JSON")?;
    let input = Arc::new(input);
    let tls = args.server.tls();
    let mut channels = Vec::new();
    for _ in 0..args.connections.max(1) {
        channels.push(connect(&args.server.server, &tls, Duration::from_secs(5)).await?);
    }
    // Warm up: compile caches, connections.
    phase(
        &channels,
        Rpc::Evaluate,
        input.clone(),
        args.concurrency.max(1),
        0,
        Duration::from_secs(1),
    )
    .await?;
    println!(
        "server {}  concurrency {}  rate {}  duration {}s  connections {}",
        args.server.server,
        args.concurrency,
        if args.rate == 0 {
            "max".to_string()
        } else {
            format!("{}/s", args.rate)
        },
        duration.as_secs(),
        channels.len()
    );
    let c = args.concurrency.max(1);
    let eval = phase(
        &channels,
        Rpc::Evaluate,
        input.clone(),
        c,
        args.rate,
        duration,
    )
    .await?;
    print("Evaluate", &eval);
    if !args.no_floor {
        let ping = phase(&channels, Rpc::Ping, input, c, args.rate, duration).await?;
        print("Ping", &ping);
        let (pe, pp) = (pct(&eval.latencies_us, 0.99), pct(&ping.latencies_us, 0.99));
        if pp > 0 {
            println!("Evaluate p99 / Ping p99 = {:.2}", pe as f64 / pp as f64);
        }
    }
    Ok(if eval.errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
