//! Operating `dockgate serve`: the JSON decision log on stdout (and what it must never
//! contain), Prometheus metrics, the WatchDecisions stream, and graceful shutdown on SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/server.rs"]
mod server_support;

use std::ffi::OsString;
use std::time::Duration;

use dockgate::client::ClientTls;
use dockgate::model::AdmissionRequest;
use dockgate::server::pb;
use server_support::{
    Captured, Reach, SLOW_POLICY, Server, WAIT_DEADLINE, container, evaluate, free_port, http_get,
    metric, slow_request,
};
use tonic::Streaming;

const IMAGE: &str = "nginx:1.27-alpine";
/// Put in the env of every request; must appear nowhere in the server's output.
const SECRET: &str = "zebra-7fa1c0de-NEVER-LOG-ME";

/// A compose-like request for service `service` of project `shop`, with the secret in env.
fn service_request(service: &str, privileged: bool) -> AdmissionRequest {
    let mut r = container(
        &format!("shop_{service}_1"),
        IMAGE,
        privileged,
        &[("GREETING", SECRET), ("DB_PASSWORD", SECRET)],
    );
    r.origin.service = Some(service.into());
    r.origin.project = Some("shop".into());
    r
}

async fn next_record(stream: &mut Streaming<pb::DecisionRecord>) -> pb::DecisionRecord {
    tokio::time::timeout(WAIT_DEADLINE, stream.message())
        .await
        .expect("a decision record in time")
        .expect("the stream is healthy")
        .expect("the stream is open")
}

/// The decision log lines (target `dockgate::decision`).
fn decision_lines(out: &Captured) -> Vec<serde_json::Value> {
    out.json_lines()
        .into_iter()
        .filter(|v| v["target"] == "dockgate::decision")
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn decision_log_metrics_and_watch_decisions() {
    let metrics: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let server = Server::local(&["--metrics-listen", &metrics.to_string()]).await;
    let mut c = server.client().await;
    let revision = c
        .get_policy_info(pb::GetPolicyInfoRequest {})
        .await
        .unwrap()
        .into_inner()
        .revision;

    // Watchers first: they see the decisions made after they subscribed.
    let mut all = c
        .watch_decisions(pb::WatchDecisionsRequest { denied_only: false })
        .await
        .expect("WatchDecisions")
        .into_inner();
    let mut denied = c
        .watch_decisions(pb::WatchDecisionsRequest { denied_only: true })
        .await
        .expect("WatchDecisions denied_only")
        .into_inner();

    let ok = c
        .evaluate(evaluate(&service_request("web", false)))
        .await
        .unwrap()
        .into_inner();
    let bad = c
        .evaluate(evaluate(&service_request("api", true)))
        .await
        .unwrap()
        .into_inner();
    assert!(!bad.allowed, "{bad:?}");
    // DB_PASSWORD with a literal value is a finding of its own; both requests carry it.
    let ok_denied_by_secret = !ok.allowed;

    // A request the schema refuses carries the secret too; it is not a decision.
    let mut v = serde_json::to_value(service_request("broken", false)).unwrap();
    v["container"]["privileged"] = serde_json::json!(SECRET);
    let e = c
        .evaluate(pb::EvaluateRequest {
            admission_request_json: v.to_string(),
        })
        .await
        .expect_err("schema error");
    assert_eq!(e.code(), tonic::Code::InvalidArgument);

    // WatchDecisions: both records in order, with every field.
    let r1 = next_record(&mut all).await;
    let r2 = next_record(&mut all).await;
    assert_eq!(r1.audit_id, ok.audit_id);
    assert_eq!(r2.audit_id, bad.audit_id);
    assert_eq!(r2.operation, "CREATE");
    assert_eq!(r2.source, "engine");
    assert_eq!(r2.image, IMAGE);
    assert_eq!(r2.project, "shop");
    assert_eq!(r2.service, "api");
    assert_eq!(r2.container, "shop_api_1");
    assert!(!r2.allowed);
    assert!(r2.rule_ids.iter().any(|r| r == "DG-101"), "{r2:?}");
    assert_eq!(r2.bundle_revision, revision);
    assert!(r2.time_unix_ms > 0);
    assert_eq!(r1.allowed, ok.allowed);
    assert_eq!(r1.service, "web");
    // denied_only: the first record is the denied one (or the first, if it was denied too).
    let d1 = next_record(&mut denied).await;
    if ok_denied_by_secret {
        assert_eq!(d1.audit_id, ok.audit_id);
        assert_eq!(next_record(&mut denied).await.audit_id, bad.audit_id);
    } else {
        assert_eq!(
            d1.audit_id, bad.audit_id,
            "denied_only passed an allowed record"
        );
    }

    // The decision log: one JSON line per decision, with its fields.
    server
        .wait_stdout("both decision lines", |o| decision_lines(o).len() >= 2)
        .await;
    let lines = decision_lines(&server.stdout);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    let by_id = |id: &str| {
        lines
            .iter()
            .find(|l| l["audit_id"] == id)
            .unwrap_or_else(|| panic!("no decision line for {id}\n{}", server.logs()))
            .clone()
    };
    let l = by_id(&bad.audit_id);
    assert_eq!(l["operation"], "CREATE", "{l}");
    assert_eq!(l["image"], IMAGE, "{l}");
    assert_eq!(l["service"], "api", "{l}");
    assert_eq!(l["project"], "shop", "{l}");
    assert_eq!(l["container"], "shop_api_1", "{l}");
    assert_eq!(l["result"], "deny", "{l}");
    assert!(
        l["rule_ids"]
            .as_str()
            .unwrap()
            .split(',')
            .any(|r| r == "DG-101"),
        "{l}"
    );
    assert!(l["duration_us"].is_u64(), "{l}");
    assert_eq!(l["bundle_revision"], revision.as_str(), "{l}");
    let l = by_id(&ok.audit_id);
    assert_eq!(
        l["result"],
        if ok.allowed { "allow" } else { "deny" },
        "{l}"
    );
    assert_eq!(l["service"], "web", "{l}");

    // Metrics.
    let (code, body) = http_get(metrics, "/metrics").unwrap();
    assert_eq!(code, 200, "{body}");
    let ok_result = if ok.allowed { "allow" } else { "deny" };
    let denies = if ok.allowed { 1.0 } else { 2.0 };
    assert_eq!(
        metric(
            &body,
            "dockgate_decisions_total",
            &[("result", "deny"), ("operation", "CREATE")]
        ),
        Some(denies),
        "{body}"
    );
    if ok.allowed {
        assert_eq!(
            metric(
                &body,
                "dockgate_decisions_total",
                &[("result", ok_result), ("operation", "CREATE")]
            ),
            Some(1.0),
            "{body}"
        );
    }
    assert_eq!(
        metric(
            &body,
            "dockgate_rule_violations_total",
            &[("rule", "DG-101")]
        ),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        metric(&body, "dockgate_evaluation_duration_seconds_count", &[]),
        Some(2.0),
        "{body}"
    );
    assert_eq!(
        metric(
            &body,
            "dockgate_evaluation_duration_seconds_bucket",
            &[("le", "+Inf")]
        ),
        Some(2.0),
        "{body}"
    );
    assert!(
        metric(&body, "dockgate_evaluation_duration_seconds_sum", &[]).is_some(),
        "{body}"
    );
    assert_eq!(
        metric(&body, "dockgate_bundle_info", &[("revision", &revision)]),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        metric(&body, "dockgate_reload_failures_total", &[]),
        Some(0.0),
        "{body}"
    );
    assert_eq!(
        metric(&body, "dockgate_reloads_total", &[]),
        Some(1.0),
        "{body}"
    );
    let (code, _) = http_get(metrics, "/").unwrap();
    assert_eq!(code, 404);

    // CheckCompose with the secret as a variable and an environment value.
    let resp = c
        .check_compose(pb::CheckComposeRequest {
            files: vec![pb::ComposeFile {
                name: "compose.yaml".into(),
                content: "services:\n  web:\n    image: nginx:1.27-alpine\n    environment:\n      TOKEN_A: ${TOK}\n      PLAIN: literal-zebra\n".into(),
            }],
            env: [("TOK".to_string(), SECRET.to_string())].into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.services.len(), 1, "{resp:?}");
    let r3 = next_record(&mut all).await;
    assert_eq!(r3.operation, "CHECK");
    assert_eq!(r3.service, "web");
    server
        .wait_stdout("the CHECK decision line", |o| decision_lines(o).len() >= 3)
        .await;
    let (_, body) = http_get(metrics, "/metrics").unwrap();
    assert!(
        metric(&body, "dockgate_decisions_total", &[("operation", "CHECK")]).is_some(),
        "{body}"
    );

    // The secret is nowhere: not in the logs, not in the records, not in the metrics.
    for (what, text) in [
        ("stdout", server.stdout.text()),
        ("stderr", server.stderr.text()),
        ("metrics", body),
        ("records", format!("{r1:?}{r2:?}{r3:?}")),
    ] {
        assert!(
            !text.contains(SECRET),
            "the env secret leaked into {what}:\n{text}"
        );
    }
}

/// Opens a WatchDecisions stream, then makes one allowed decision and one denied (privileged).
async fn watch_then_allow_and_deny(
    server: &Server,
) -> (Streaming<pb::DecisionRecord>, pb::Decision, pb::Decision) {
    let mut c = server.client().await;
    let all = c
        .watch_decisions(pb::WatchDecisionsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let ok = c
        .evaluate(evaluate(&container("quiet", IMAGE, false, &[])))
        .await
        .unwrap()
        .into_inner();
    assert!(ok.allowed, "{ok:?}");
    let bad = c
        .evaluate(evaluate(&container("loud", IMAGE, true, &[])))
        .await
        .unwrap()
        .into_inner();
    assert!(!bad.allowed, "{bad:?}");
    (all, ok, bad)
}

#[tokio::test(flavor = "multi_thread")]
async fn denied_only_logs_only_denials_but_watchers_see_all() {
    let server = Server::local(&["--denied-only"]).await;
    let (mut all, ok, bad) = watch_then_allow_and_deny(&server).await;
    assert_eq!(next_record(&mut all).await.audit_id, ok.audit_id);
    assert_eq!(next_record(&mut all).await.audit_id, bad.audit_id);
    server
        .wait_stdout("the denied decision line", |o| {
            decision_lines(o)
                .iter()
                .any(|l| l["audit_id"] == bad.audit_id.as_str())
        })
        .await;
    let lines = decision_lines(&server.stdout);
    assert_eq!(lines.len(), 1, "{lines:#?}");
}

/// With decision lines filtered out, none is logged, and watchers still get every record (the
/// server skips building a record only when no one logs or watches it).
#[tokio::test(flavor = "multi_thread")]
async fn with_decision_lines_filtered_out_watchers_still_see_every_decision() {
    let server = Server::local(&["--log-level", "info,dockgate::decision=warn"]).await;
    let (mut all, ok, bad) = watch_then_allow_and_deny(&server).await;
    let r1 = next_record(&mut all).await;
    let r2 = next_record(&mut all).await;
    assert_eq!(r1.audit_id, ok.audit_id);
    assert_eq!(r2.audit_id, bad.audit_id);
    assert!(!r2.allowed);
    assert!(r2.rule_ids.iter().any(|r| r == "DG-101"), "{r2:?}");
    let lines = decision_lines(&server.stdout);
    assert!(lines.is_empty(), "decision lines, filtered out: {lines:#?}");
}

/// A WatchDecisions stream is long-lived: the per-call timeout must not cut it.
#[tokio::test(flavor = "multi_thread")]
async fn a_watch_stream_outlives_the_call_timeout() {
    let server = Server::local(&["--call-timeout-ms", "300"]).await;
    let mut c = server.client().await;
    let mut all = c
        .watch_decisions(pb::WatchDecisionsRequest::default())
        .await
        .unwrap()
        .into_inner();
    // Longer than the call timeout (setup, not an assertion on time).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let d = c
        .evaluate(evaluate(&container("late", IMAGE, true, &[])))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next_record(&mut all).await.audit_id, d.audit_id);
}

/// How much the slow calls spin (spin² iterations: each evaluation takes about two seconds
/// on a 2-core machine).
const SPIN: u32 = 2500;

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_in_flight_calls_exits_0_and_removes_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let pol = dir.path().join("policies");
    std::fs::create_dir(&pol).unwrap();
    std::fs::write(pol.join("main.rego"), SLOW_POLICY).unwrap();
    let sock = dir.path().join("dg.sock");
    let args: Vec<OsString> = vec![
        "--socket".into(),
        sock.clone().into(),
        "--policies".into(),
        pol.into(),
        "--no-watch".into(),
        // One evaluation at a time: the second and third calls wait in the server.
        "--pool-size".into(),
        "1".into(),
        "--eval-timeout-ms".into(),
        "120000".into(),
        "--call-timeout-ms".into(),
        "600000".into(),
    ];
    let mut server = Server::start(&args, Reach::Unix(sock.clone()), ClientTls::default()).await;
    let mut c = server.client().await;
    let mut watch = c
        .watch_decisions(pb::WatchDecisionsRequest::default())
        .await
        .unwrap()
        .into_inner();

    let calls: Vec<_> = ["a", "b", "c"]
        .into_iter()
        .map(|n| {
            let mut c = c.clone();
            tokio::spawn(async move { c.evaluate(slow_request(n, SPIN)).await })
        })
        .collect();
    // The first decision is out: the other two calls are in the server (one evaluating,
    // one waiting for the pool).
    let first = next_record(&mut watch).await;
    assert!(!first.allowed);
    // Closed before the signal: an open watch stream blocks shutdown (see
    // `sigterm_with_an_open_watch_stream_still_exits`).
    drop(watch);

    server.signal("TERM");
    let mut done = Vec::new();
    for call in calls {
        let d = call
            .await
            .unwrap()
            .unwrap_or_else(|e| {
                panic!(
                    "an in-flight call failed on SIGTERM: {e:?}\n{}",
                    server.logs()
                )
            })
            .into_inner();
        assert!(!d.allowed);
        assert_eq!(d.violations[0].rule_id, "SLOW-1");
        done.push(d.audit_id);
    }
    assert!(done.contains(&first.audit_id));
    let st = server.wait_exit().await;
    assert_eq!(st.code(), Some(0), "{st}\n{}", server.logs());
    assert!(!sock.exists(), "the socket file outlived the server");
    let lines = server.stdout.json_lines();
    for m in ["shutting down: draining in-flight calls", "stopped"] {
        assert!(
            lines.iter().any(|l| l["message"] == m),
            "no {m:?} in\n{}",
            server.logs()
        );
    }
    // Every call that completed was logged as a decision.
    assert_eq!(decision_lines(&server.stdout).len(), 3, "{}", server.logs());
}

/// SIGTERM with a WatchDecisions stream open: the server must still stop (the stream ends),
/// or a deployment's stop always runs into its kill timeout.
///
/// BUG (src/server/mod.rs `run` + src/server/service.rs `watch_decisions`): graceful shutdown
/// (`serve_with_incoming_shutdown`) waits for every open stream to finish, and a
/// WatchDecisions stream never finishes: nothing ends it on shutdown (the broadcast sender
/// lives as long as the service). The server logs "shutting down: draining in-flight calls"
/// and then hangs until the watcher disconnects or it is killed. Reproduce: `dockgate serve`,
/// open WatchDecisions (e.g. grpcurl), `kill -TERM`; the process never exits.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_with_an_open_watch_stream_still_exits() {
    let mut server = Server::local::<&str>(&[]).await;
    let mut c = server.client().await;
    let mut watch = c
        .watch_decisions(pb::WatchDecisionsRequest::default())
        .await
        .unwrap()
        .into_inner();
    server.signal("TERM");
    let st = server.wait_exit_within(Duration::from_secs(60)).await;
    assert!(
        st.is_some(),
        "dockgate serve still running 60 s after SIGTERM with a watcher connected\n{}",
        server.logs()
    );
    assert_eq!(st.unwrap().code(), Some(0), "{}", server.logs());
    // The watcher sees the end of the stream (or an error), not silence.
    let end = tokio::time::timeout(WAIT_DEADLINE, watch.message()).await;
    assert!(matches!(end, Ok(Ok(None)) | Ok(Err(_))), "{end:?}");
}

/// `--decision-cache N`: a repeated input (however its JSON is laid out) is answered from the
/// cache with the same decision and its own audit ID, still logged and counted as a decision;
/// hits and misses are counted apart. Without the flag there is no cache and no cache metric.
#[tokio::test(flavor = "multi_thread")]
async fn decision_cache_answers_repeated_inputs_and_counts_them() {
    let metrics: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let server = Server::local(&[
        "--metrics-listen",
        &metrics.to_string(),
        "--decision-cache",
        "16",
    ])
    .await;
    let mut c = server.client().await;
    let bad = service_request("api", true);
    let first = c.evaluate(evaluate(&bad)).await.unwrap().into_inner();
    let pretty = pb::EvaluateRequest {
        admission_request_json: serde_json::to_string_pretty(&bad).unwrap(),
    };
    let again = c.evaluate(pretty).await.unwrap().into_inner();
    let other = c
        .evaluate(evaluate(&service_request("web", false)))
        .await
        .unwrap()
        .into_inner();
    assert!(!first.allowed);
    assert_eq!(again.allowed, first.allowed);
    assert_eq!(again.violations, first.violations);
    assert_eq!(again.warnings, first.warnings);
    assert_ne!(
        again.audit_id, first.audit_id,
        "every call has its own audit ID"
    );
    assert!(other.violations.iter().all(|f| f.rule_id != "DG-101"));

    let (_, body) = http_get(metrics, "/metrics").unwrap();
    let count = |result: &str| {
        metric(
            &body,
            "dockgate_decision_cache_total",
            &[("result", result)],
        )
    };
    assert_eq!(count("hit"), Some(1.0), "{body}");
    assert_eq!(count("miss"), Some(2.0), "{body}");
    let decided: f64 = ["allow", "deny"]
        .iter()
        .filter_map(|r| metric(&body, "dockgate_decisions_total", &[("result", r)]))
        .sum();
    assert_eq!(decided, 3.0, "a cached answer is still a decision: {body}");
    let logged = || {
        server
            .logs()
            .lines()
            .filter(|l| l.contains("\"dockgate::decision\""))
            .count()
    };
    let until = std::time::Instant::now() + WAIT_DEADLINE;
    while logged() < 3 && std::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(logged(), 3, "every call is in the decision log");
    drop(server);

    let metrics: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let plain = Server::local(&["--metrics-listen", &metrics.to_string()]).await;
    let mut c = plain.client().await;
    c.evaluate(evaluate(&bad)).await.unwrap();
    c.evaluate(evaluate(&bad)).await.unwrap();
    let (_, body) = http_get(metrics, "/metrics").unwrap();
    assert_eq!(count_in(&body), None, "{body}");
}

fn count_in(body: &str) -> Option<f64> {
    metric(body, "dockgate_decision_cache_total", &[("result", "miss")])
}
