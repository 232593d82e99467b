//! `dockgate serve` with TLS and mTLS: real certificates (a test CA made with rcgen), real
//! handshakes on loopback TCP, and roles by client certificate common name.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/server.rs"]
mod server_support;

use std::ffi::OsString;
use std::time::Duration;

use dockgate::client::ClientTls;
use dockgate::server::pb;
use dockgate::server::pb::policy_service_client::PolicyServiceClient;
use server_support::{Pki, Reach, Server, container, dockgate, evaluate, run_bounded};
use tonic::Code;

const IMAGE: &str = "nginx:1.27-alpine";

fn tls_args(pki: &Pki, mtls: bool) -> Vec<OsString> {
    let mut a: Vec<OsString> = vec!["--listen".into(), "127.0.0.1:0".into()];
    a.extend(pki.server_args(mtls).into_iter().map(OsString::from));
    a
}

/// Evaluate through `tls`: Ok(allowed) or the error (connect or call).
async fn try_evaluate(server: &Server, tls: &ClientTls) -> Result<bool, String> {
    let ch = server.channel_with(tls).await?;
    let d = PolicyServiceClient::new(ch)
        .evaluate(evaluate(&container("web-1", IMAGE, true, &[])))
        .await
        .map_err(|s| format!("{:?}: {}", s.code(), s.message()))?;
    Ok(d.into_inner().allowed)
}

/// `dockgate health` against the server with extra flags.
fn health_cli(server: &Server, extra: &[&std::path::Path]) -> std::process::Output {
    let mut cmd = dockgate();
    cmd.args(["health", "--server", &server.uri]);
    for pair in extra.chunks(2) {
        cmd.arg(pair[0]).arg(pair[1]);
    }
    run_bounded(&mut cmd)
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_serves_clients_that_trust_the_ca_and_refuses_plaintext() {
    let pki = Pki::new();
    let server = Server::start(&tls_args(&pki, false), Reach::Https, pki.trust()).await;
    assert!(
        server.uri.starts_with("https://127.0.0.1:"),
        "{}",
        server.uri
    );

    // A client trusting the CA.
    assert_eq!(try_evaluate(&server, &pki.trust()).await, Ok(false));
    let mut client = server.client().await;
    client
        .ping(pb::PingRequest {})
        .await
        .expect("Ping over TLS");

    // Plaintext to the TLS port fails.
    let addr = server.tcp.expect("tcp address");
    let plain = dockgate::client::connect(
        &format!("http://{addr}"),
        &ClientTls::default(),
        Duration::from_secs(10),
    )
    .await;
    if let Ok(ch) = plain {
        let r = PolicyServiceClient::new(ch)
            .evaluate(evaluate(&container("web-1", IMAGE, true, &[])))
            .await;
        assert!(
            r.is_err(),
            "a plaintext call to the TLS port answered: {r:?}"
        );
    }

    // A TLS client that does not trust the CA fails.
    let r = try_evaluate(&server, &ClientTls::default()).await;
    assert!(r.is_err(), "a client without the CA was served: {r:?}");

    // `dockgate health --ca`.
    let out = health_cli(&server, &[std::path::Path::new("--ca"), &pki.ca]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = health_cli(&server, &[]);
    assert!(!out.status.success(), "health without the CA succeeded");
}

/// Every role check of an mTLS server whose admin is `ops`.
async fn check_roles(server: &Server, pki: &Pki) {
    let ops = pki.identity("ops");
    let ci = pki.identity("ci");

    // Both identities may evaluate.
    assert_eq!(try_evaluate(server, &ops).await, Ok(false));
    assert_eq!(try_evaluate(server, &ci).await, Ok(false));

    // No client certificate: refused at the handshake or the call.
    let r = try_evaluate(server, &pki.trust()).await;
    assert!(
        r.is_err(),
        "a client without a certificate was served: {r:?}"
    );

    // A certificate from another CA: refused.
    let rogue = Pki::new().identity("ops");
    let rogue = ClientTls {
        ca: Some(pki.ca.clone()),
        ..rogue
    };
    let r = try_evaluate(server, &rogue).await;
    assert!(
        r.is_err(),
        "a certificate of an unknown CA was accepted: {r:?}"
    );

    // ops: Reload and WatchDecisions.
    let mut admin = PolicyServiceClient::new(server.channel_with(&ops).await.unwrap());
    let info = admin
        .reload(pb::ReloadRequest {})
        .await
        .expect("Reload by ops")
        .into_inner();
    assert!(!info.revision.is_empty());
    let mut stream = admin
        .watch_decisions(pb::WatchDecisionsRequest::default())
        .await
        .expect("WatchDecisions by ops")
        .into_inner();

    // ci: PERMISSION_DENIED on both, naming the identity.
    let mut ci_client = PolicyServiceClient::new(server.channel_with(&ci).await.unwrap());
    let e = ci_client
        .reload(pb::ReloadRequest {})
        .await
        .expect_err("Reload by ci");
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("ci"), "{e:?}");
    let e = ci_client
        .watch_decisions(pb::WatchDecisionsRequest::default())
        .await
        .expect_err("WatchDecisions by ci");
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");

    // ci still evaluates, and ops's watch sees it.
    let d = ci_client
        .evaluate(evaluate(&container("from-ci", IMAGE, true, &[])))
        .await
        .expect("Evaluate by ci")
        .into_inner();
    let rec = tokio::time::timeout(server_support::WAIT_DEADLINE, stream.message())
        .await
        .expect("a decision record in time")
        .expect("stream ok")
        .expect("a record");
    assert_eq!(rec.audit_id, d.audit_id);
    assert_eq!(rec.container, "from-ci");

    // The health command with and without a client certificate.
    let (cert, key) = pki.client("probe");
    let out = health_cli(
        server,
        &[
            std::path::Path::new("--ca"),
            &pki.ca,
            std::path::Path::new("--cert"),
            &cert,
            std::path::Path::new("--key"),
            &key,
        ],
    );
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = health_cli(server, &[std::path::Path::new("--ca"), &pki.ca]);
    assert!(
        !out.status.success(),
        "health without a client cert succeeded"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mtls_roles_from_the_admin_flag() {
    let pki = Pki::new();
    let mut args = tls_args(&pki, true);
    args.extend(["--admin".into(), "ops".into()]);
    let server = Server::start(&args, Reach::Https, pki.identity("ops")).await;
    check_roles(&server, &pki).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mtls_roles_from_a_config_file() {
    let pki = Pki::new();
    let cfg = pki.dir.path().join("server.yaml");
    std::fs::write(
        &cfg,
        format!(
            "listen: [\"127.0.0.1:0\"]\ntls_cert: {}\ntls_key: {}\nclient_ca: {}\nroles:\n  ops: admin\n  ci: evaluate\n",
            pki.server_cert.display(),
            pki.server_key.display(),
            pki.ca.display()
        ),
    )
    .unwrap();
    let server = Server::start(
        &[OsString::from("--config"), cfg.into_os_string()],
        Reach::Https,
        pki.identity("ops"),
    )
    .await;
    check_roles(&server, &pki).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mtls_without_roles_gives_every_identity_the_evaluate_role() {
    let pki = Pki::new();
    let server = Server::start(&tls_args(&pki, true), Reach::Https, pki.identity("ops")).await;
    let mut c = PolicyServiceClient::new(server.channel_with(&pki.identity("ops")).await.unwrap());
    c.evaluate(evaluate(&container("x", IMAGE, false, &[])))
        .await
        .expect("Evaluate");
    let e = c.reload(pb::ReloadRequest {}).await.expect_err("Reload");
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
}
