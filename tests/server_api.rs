//! `dockgate serve` as deployed: the real binary on real loopback TCP and unix sockets,
//! driven through the generated gRPC client, standard health and reflection, and the CLI.
//! (TLS: `server_tls.rs`; reload: `server_reload.rs`; logs, metrics, shutdown:
//! `server_ops.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/server.rs"]
mod server_support;

use dockgate::client::ClientTls;
use dockgate::server::pb;
use server_support::{Reach, Server, container, dockgate, evaluate, run_bounded, violation_ids};
use tokio_stream::StreamExt;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const IMAGE: &str = "nginx:1.27-alpine";

/// The services reflection lists.
async fn reflected_services(server: &Server) -> Vec<String> {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut client = ServerReflectionClient::new(server.channel().await);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = client
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .expect("reflection call")
        .into_inner();
    let resp = stream
        .next()
        .await
        .expect("a reflection response")
        .expect("reflection ok");
    match resp.message_response {
        Some(MessageResponse::ListServicesResponse(l)) => {
            l.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("unexpected reflection response {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn plaintext_tcp_health_reflection_evaluate_ping() {
    let server = Server::local::<&str>(&[]).await;
    let ch = server.channel().await;

    // Health: the policy service is SERVING.
    let status = HealthClient::new(ch.clone())
        .check(HealthCheckRequest {
            service: "dockgate.v1.PolicyService".into(),
        })
        .await
        .expect("health check")
        .into_inner()
        .status();
    assert_eq!(status, ServingStatus::Serving);

    // Reflection lists the API and health.
    let services = reflected_services(&server).await;
    for s in ["dockgate.v1.PolicyService", "grpc.health.v1.Health"] {
        assert!(services.iter().any(|x| x == s), "{s} not in {services:?}");
    }

    let mut client = pb::policy_service_client::PolicyServiceClient::new(ch);
    let info = client
        .get_policy_info(pb::GetPolicyInfoRequest {})
        .await
        .expect("GetPolicyInfo")
        .into_inner();
    assert!(!info.revision.is_empty(), "{info:?}");
    assert_eq!(info.origin, "built-in library", "{info:?}");
    assert_eq!(info.profile, "baseline", "{info:?}");
    assert!(
        info.entrypoints
            .iter()
            .any(|e| e == "dockgate/main/decision"),
        "{info:?}"
    );
    assert!(info.loaded_at_unix_ms > 0, "{info:?}");
    assert_eq!(info.last_reload_error, "");
    assert_eq!(info.reload_failures, 0);

    // A privileged container is denied by DG-101.
    let d = client
        .evaluate(evaluate(&container("web-1", IMAGE, true, &[])))
        .await
        .expect("Evaluate")
        .into_inner();
    assert!(!d.allowed, "{d:?}");
    let f = d
        .violations
        .iter()
        .find(|f| f.rule_id == "DG-101")
        .unwrap_or_else(|| panic!("no DG-101 in {d:?}"));
    assert_eq!(f.severity(), pb::Severity::Critical, "{f:?}");
    assert!(f.message.contains("container \"web-1\""), "{f:?}");
    assert_eq!(f.service, "container \"web-1\"", "{f:?}");
    assert_eq!(f.field, "container.privileged", "{f:?}");
    assert!(f.package.starts_with("dockgate."), "{f:?}");
    assert!(
        uuid::Uuid::parse_str(&d.audit_id).is_ok(),
        "audit id {:?}",
        d.audit_id
    );
    assert_eq!(d.bundle_revision, info.revision);

    // The same container, not privileged, is allowed under baseline.
    let ok = client
        .evaluate(evaluate(&container("web-2", IMAGE, false, &[])))
        .await
        .expect("Evaluate")
        .into_inner();
    assert!(ok.allowed, "{ok:?}");
    assert!(ok.violations.is_empty(), "{ok:?}");
    assert_eq!(ok.bundle_revision, info.revision);
    assert_ne!(ok.audit_id, d.audit_id, "audit ids must be unique");

    client.ping(pb::PingRequest {}).await.expect("Ping");
}

#[tokio::test(flavor = "multi_thread")]
async fn profile_restricted_adds_restricted_findings() {
    let server = Server::local(&["--profile", "restricted"]).await;
    let mut client = server.client().await;
    let info = client
        .get_policy_info(pb::GetPolicyInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.profile, "restricted");
    // Allowed under baseline (see above); restricted adds e.g. "runs as root" and "root
    // filesystem writable".
    let d = client
        .evaluate(evaluate(&container("web-2", IMAGE, false, &[])))
        .await
        .unwrap()
        .into_inner();
    assert!(!d.allowed, "{d:?}");
    let ids = violation_ids(&d);
    for id in ["DG-113", "DG-204"] {
        assert!(ids.iter().any(|i| i == id), "{id} not in {ids:?}");
    }
    assert!(!ids.iter().any(|i| i == "DG-101"), "{ids:?}");
}

/// Evaluate still works and health is SERVING.
async fn still_serving(server: &Server) {
    let mut client = server.client().await;
    let d = client
        .evaluate(evaluate(&container("after", IMAGE, true, &[])))
        .await
        .expect("Evaluate after a bad call")
        .into_inner();
    assert!(!d.allowed);
    assert_eq!(
        server_support::health(&server.uri, &server.tls).await,
        Ok(ServingStatus::Serving)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_invalid_argument_and_the_server_keeps_serving() {
    const LIMIT: usize = 65_536;
    let server = Server::local(&["--max-message-bytes", &LIMIT.to_string()]).await;
    let mut client = server.client().await;
    let call = |json: String| {
        let mut c = client.clone();
        async move {
            c.evaluate(pb::EvaluateRequest {
                admission_request_json: json,
            })
            .await
        }
    };

    // Malformed JSON: the parser's message and position.
    let e = call(r#"{"apiVersion": "dockgate.dev/v1", "kind": "#.into())
        .await
        .expect_err("malformed JSON must fail");
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("not valid JSON"), "{e:?}");
    assert!(e.message().contains("line 1"), "{e:?}");
    still_serving(&server).await;

    // Valid JSON that breaks the schema: each error names its JSON path.
    let mut v = serde_json::to_value(container("x", IMAGE, false, &[])).unwrap();
    v["container"]["privileged"] = serde_json::json!("yes");
    v["container"].as_object_mut().unwrap().remove("read_only");
    let e = call(v.to_string())
        .await
        .expect_err("schema error must fail");
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("AdmissionRequest schema"), "{e:?}");
    assert!(e.message().contains("$.container.privileged"), "{e:?}");
    assert!(e.message().contains("read_only"), "{e:?}");
    still_serving(&server).await;

    // Wrong envelope.
    let mut v = serde_json::to_value(container("x", IMAGE, false, &[])).unwrap();
    v["operation"] = serde_json::json!("DELETE");
    let e = call(v.to_string()).await.expect_err("bad operation");
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("$.operation"), "{e:?}");

    // Just above the limit: INVALID_ARGUMENT naming the size and the limit.
    let big = "x".repeat(LIMIT);
    let json = serde_json::to_string(&container("x", IMAGE, false, &[("BIG", &big)])).unwrap();
    assert!(json.len() > LIMIT);
    let e = call(json.clone()).await.expect_err("oversize must fail");
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains(&LIMIT.to_string()), "{e:?}");
    // The size named is the request's (at least the JSON's).
    let sizes: Vec<usize> = e
        .message()
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    assert!(sizes.iter().any(|&n| n >= json.len()), "{e:?}");
    still_serving(&server).await;

    // Far above the limit: refused before it is decoded (its status code and message are
    // checked by `far_oversize_message_is_refused_and_the_server_keeps_serving`).
    let huge = "x".repeat(LIMIT * 8);
    let e = call(serde_json::to_string(&container("x", IMAGE, false, &[("BIG", &huge)])).unwrap())
        .await
        .expect_err("far oversize must fail");
    assert!(e.message().contains("bytes"), "{e:?}");
    still_serving(&server).await;

    // An empty document.
    let e = call(String::new()).await.expect_err("empty");
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    still_serving(&server).await;

    // CheckCompose input errors are INVALID_ARGUMENT too.
    let e = client
        .check_compose(pb::CheckComposeRequest::default())
        .await
        .expect_err("no files");
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    let e = client
        .check_compose(pb::CheckComposeRequest {
            files: vec![pb::ComposeFile {
                name: "../etc/compose.yaml".into(),
                content: "services: {}\n".into(),
            }],
            ..Default::default()
        })
        .await
        .expect_err("`..` in a file name");
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains(".."), "{e:?}");
    let e = client
        .check_compose(pb::CheckComposeRequest {
            files: vec![pb::ComposeFile {
                name: "compose.yaml".into(),
                content: format!("services: {{}}\n# {big}\n"),
            }],
            ..Default::default()
        })
        .await
        .expect_err("oversize compose file");
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains(&LIMIT.to_string()), "{e:?}");
    still_serving(&server).await;
}

/// A message far above `--max-message-bytes` gets INVALID_ARGUMENT naming the configured
/// limit, like one just above it. (Until 0fa8d84 tonic's OUT_OF_RANGE naming the internal
/// decode cap, `limit + 64 KiB`, came through.)
#[tokio::test(flavor = "multi_thread")]
async fn far_oversize_message_is_refused_and_the_server_keeps_serving() {
    const LIMIT: usize = 65_536;
    let server = Server::local(&["--max-message-bytes", &LIMIT.to_string()]).await;
    let mut client = server.client().await;
    let huge = "x".repeat(LIMIT * 8);
    let e = client
        .evaluate(evaluate(&container("x", IMAGE, false, &[("BIG", &huge)])))
        .await
        .expect_err("far oversize must fail");
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains(&LIMIT.to_string()), "{e:?}");
    still_serving(&server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unix_socket_serves_evaluate_health_and_the_health_command() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("dockgate.sock");
    let mut server = Server::start(
        &[std::ffi::OsStr::new("--socket"), sock.as_os_str()],
        Reach::Unix(sock.clone()),
        ClientTls::default(),
    )
    .await;
    assert!(sock.exists());
    // Only the socket: no TCP listener.
    assert!(
        server.listening_addrs().is_empty(),
        "unexpected TCP listener\n{}",
        server.logs()
    );

    let ch = dockgate::client::connect(
        &format!("unix://{}", sock.display()),
        &ClientTls::default(),
        std::time::Duration::from_secs(10),
    )
    .await
    .expect("connect over the unix socket");
    let mut client = pb::policy_service_client::PolicyServiceClient::new(ch.clone());
    let d = client
        .evaluate(evaluate(&container("web-1", IMAGE, true, &[])))
        .await
        .expect("Evaluate over the unix socket")
        .into_inner();
    assert!(!d.allowed);
    assert!(violation_ids(&d).iter().any(|i| i == "DG-101"), "{d:?}");
    let status = HealthClient::new(ch)
        .check(HealthCheckRequest {
            service: "dockgate.v1.PolicyService".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status();
    assert_eq!(status, ServingStatus::Serving);

    let uri = format!("unix://{}", sock.display());
    let out = run_bounded(dockgate().args(["health", "--server", &uri]));
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "SERVING");

    server.signal("TERM");
    let st = server.wait_exit().await;
    assert!(st.success(), "{st}\n{}", server.logs());
    assert!(!sock.exists(), "the socket file outlived the server");
    let out = run_bounded(dockgate().args(["health", "--server", &uri]));
    assert!(
        !out.status.success(),
        "health succeeded against a stopped server: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn plaintext_on_a_non_loopback_address_needs_insecure() {
    let port = server_support::free_port();
    let addr = format!("0.0.0.0:{port}");
    let out = run_bounded(dockgate().args(["serve", "--listen", &addr]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--insecure"), "{stderr}");
    assert!(stderr.contains(&addr), "{stderr}");

    // The same through a config file.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("server.yaml");
    std::fs::write(&cfg, format!("listen: [\"{addr}\"]\n")).unwrap();
    let out = run_bounded(dockgate().arg("serve").arg("--config").arg(&cfg));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--insecure"), "{stderr}");

    // Roles without mTLS are refused too.
    let out = run_bounded(dockgate().args(["serve", "--listen", "127.0.0.1:0", "--admin", "ops"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--client-ca"), "{stderr}");

    // With --insecure it starts; callers of a non-loopback listener are not admins.
    let server = Server::start(
        &["--listen", "0.0.0.0:0", "--insecure"],
        Reach::Http,
        ClientTls::default(),
    )
    .await;
    let mut client = server.client().await;
    let d = client
        .evaluate(evaluate(&container("web-1", IMAGE, true, &[])))
        .await
        .expect("Evaluate")
        .into_inner();
    assert!(!d.allowed);
    let e = client
        .reload(pb::ReloadRequest {})
        .await
        .expect_err("Reload by a plaintext caller of a public listener");
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    let e = client
        .watch_decisions(pb::WatchDecisionsRequest::default())
        .await
        .expect_err("WatchDecisions by a plaintext caller of a public listener");
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
}

/// CheckCompose: a base file and an override with interpolation; findings carry the
/// position of the offending key in the file that set it.
#[tokio::test(flavor = "multi_thread")]
async fn check_compose_positions_services_and_file_errors() {
    let server = Server::local::<&str>(&[]).await;
    let mut client = server.client().await;
    let base = "services:\n  web:\n    image: \"nginx:${TAG:?set TAG}\"\n  db:\n    image: postgres:16-alpine\n";
    // `privileged: true` is on line 3, column 5 of the override.
    let over = "services:\n  web:\n    privileged: true\n    pid: ${PIDMODE}\n";
    let req = pb::CheckComposeRequest {
        files: vec![
            pb::ComposeFile {
                name: "compose.yaml".into(),
                content: base.into(),
            },
            pb::ComposeFile {
                name: "compose.override.yaml".into(),
                content: over.into(),
            },
        ],
        env: [("TAG", "1.27-alpine"), ("PIDMODE", "host")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        project_name: "shop".into(),
        ..Default::default()
    };
    let resp = client
        .check_compose(req.clone())
        .await
        .expect("CheckCompose")
        .into_inner();
    assert!(resp.errors.is_empty(), "{resp:?}");
    assert!(!resp.bundle_revision.is_empty());
    let names: Vec<&str> = resp.services.iter().map(|s| s.service.as_str()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"web") && names.contains(&"db"), "{names:?}");
    let web = resp
        .services
        .iter()
        .find(|s| s.service == "web")
        .and_then(|s| s.decision.clone())
        .expect("web decision");
    assert!(!web.allowed, "{web:?}");
    let f = web
        .violations
        .iter()
        .find(|f| f.rule_id == "DG-101")
        .unwrap_or_else(|| panic!("no DG-101 in {web:?}"));
    assert_eq!(f.service, "web", "{f:?}");
    let pos = f.position.clone().expect("a position");
    assert_eq!(
        (pos.file.as_str(), pos.line, pos.column),
        ("compose.override.yaml", 3, 5),
        "{f:?}"
    );
    // The interpolated `pid: host` (line 4 of the override) is a finding of its own.
    let pid = web
        .violations
        .iter()
        .find(|f| f.rule_id == "DG-103")
        .unwrap_or_else(|| panic!("no DG-103 (pid: ${{PIDMODE}} = host) in {web:?}"));
    let pos = pid.position.clone().expect("a position");
    assert_eq!(
        (pos.file.as_str(), pos.line, pos.column),
        ("compose.override.yaml", 4, 5),
        "{pid:?}"
    );
    let db = resp
        .services
        .iter()
        .find(|s| s.service == "db")
        .and_then(|s| s.decision.clone())
        .expect("db decision");
    assert!(db.allowed, "{db:?}");

    // A required variable left unset: an error at its position, no services.
    let mut unset = req.clone();
    unset.env.remove("TAG");
    let resp = client.check_compose(unset).await.unwrap().into_inner();
    assert!(resp.services.is_empty(), "{resp:?}");
    let e = resp.errors.first().expect("an error");
    assert_eq!((e.file.as_str(), e.line), ("compose.yaml", 3), "{e:?}");
    assert!(e.message.contains("set TAG"), "{e:?}");

    // Malformed YAML: file, line and column, no services.
    let bad = "services:\n  web:\n    image: nginx:1.27\n    ports: [\"80:80\"\n";
    let resp = client
        .check_compose(pb::CheckComposeRequest {
            files: vec![pb::ComposeFile {
                name: "sub/compose.yaml".into(),
                content: bad.into(),
            }],
            ..Default::default()
        })
        .await
        .expect("CheckCompose of a malformed file answers")
        .into_inner();
    assert!(resp.services.is_empty(), "{resp:?}");
    assert_eq!(resp.errors.len(), 1, "{resp:?}");
    let e = &resp.errors[0];
    assert_eq!(e.file, "sub/compose.yaml", "{e:?}");
    assert!(e.line >= 4, "{e:?}");
    assert!(e.column >= 1, "{e:?}");
    assert!(!e.message.is_empty(), "{e:?}");
}

/// One `dockgate bench` result line (`Evaluate  calls N  errors E  throughput …  p50 A µs
/// p90 B µs  p99 C µs  p99.9 D µs  max M µs`): the figure after each label.
fn bench_line(stdout: &str, rpc: &str) -> std::collections::HashMap<String, f64> {
    let line = stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(rpc))
        .unwrap_or_else(|| panic!("no {rpc} line in\n{stdout}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    words
        .windows(2)
        .filter_map(|w| {
            let figure = w[1].trim_end_matches("/s").parse::<f64>().ok()?;
            Some((w[0].to_string(), figure))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn bench_drives_evaluate_and_ping_and_reports_ordered_percentiles() {
    let server = Server::local::<&str>(&[]).await;
    let out = run_bounded(dockgate().args([
        "bench",
        "--server",
        &server.uri,
        "--rate",
        "200",
        "--concurrency",
        "4",
        "--duration",
        "1",
    ]));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for rpc in ["Evaluate", "Ping"] {
        let f = bench_line(&stdout, rpc);
        let get = |k: &str| {
            *f.get(k)
                .unwrap_or_else(|| panic!("{rpc}: no {k} in\n{stdout}"))
        };
        // 200 calls/s for one second, paced: about 200 calls, none failed.
        assert!(
            (100.0..=260.0).contains(&get("calls")),
            "{rpc} calls\n{stdout}"
        );
        assert_eq!(get("errors"), 0.0, "{rpc}\n{stdout}");
        let p = [get("p50"), get("p90"), get("p99"), get("p99.9"), get("max")];
        assert!(p[0] > 0.0, "{rpc}: p50 of 0 µs\n{stdout}");
        assert!(
            p.windows(2).all(|w| w[0] <= w[1]),
            "{rpc}: percentiles out of order {p:?}\n{stdout}"
        );
    }
    assert!(
        stdout.contains("Evaluate p99 / Ping p99 = "),
        "no floor ratio in\n{stdout}"
    );

    // An --input that is not JSON is refused before any call, naming the flag.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{not json").unwrap();
    let out = run_bounded(
        dockgate()
            .args(["bench", "--server", &server.uri, "--input"])
            .arg(&bad),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "bench accepted a broken --input");
    assert!(stderr.contains("--input is not valid JSON"), "{stderr}");
}
