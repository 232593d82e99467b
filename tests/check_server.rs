//! `dockgate check --server`: the same report through a real `dockgate serve` (plaintext TCP,
//! TLS with a client certificate, a unix socket) as embedded — the two paths share
//! `check::check_project`, and this proves the results are identical — and what the client
//! sends (only the files the project reads, only the variables its files name).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/server.rs"]
mod server_support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Output;

use dockgate::check::projects::{self, Shared};
use dockgate::check::remote;
use dockgate::client::ClientTls;
use serde_json::Value;
use server_support::{Pki, Reach, Server, check_fixtures as fixtures, run_in_check_fixtures};

/// `dockgate check ARGS` run in the fixtures directory.
fn check(args: &[&str]) -> Output {
    run_in_check_fixtures(&[&["check"], args].concat())
}

/// The JSON report without the one field that names where the policies are.
fn report(o: &Output) -> Value {
    let mut v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    v.as_object_mut().unwrap().remove("policy_origin");
    v
}

const CASES: &[&[&str]] = &[
    &["known"],
    &[
        "-f",
        "multi/compose.yaml",
        "-f",
        "multi/compose.override.yaml",
    ],
    &["multi"],
    &["envfile"],
    &["-r", "tree"],
    &["known", "tree/alpha", "broken"],
];

#[tokio::test(flavor = "multi_thread")]
async fn embedded_and_server_reports_are_identical() {
    let server = Server::local(&["--profile", "restricted"]).await;
    for case in CASES {
        let mut embedded_args = case.to_vec();
        embedded_args.extend(["--profile", "restricted", "--format", "json"]);
        let embedded = check(&embedded_args);
        let mut remote_args = case.to_vec();
        remote_args.extend(["--server", &server.uri, "--format", "json"]);
        let remote = check(&remote_args);
        assert_eq!(
            embedded.status.code(),
            remote.status.code(),
            "{case:?}: {}",
            String::from_utf8_lossy(&remote.stderr)
        );
        let (e, r) = (report(&embedded), report(&remote));
        assert!(
            e["summary"]["services"].as_u64().unwrap() > 0,
            "{case:?}: something was checked"
        );
        assert_eq!(e, r, "{case:?}: embedded and --server differ");
        // The text report too.
        let mut t = case.to_vec();
        t.extend(["--profile", "restricted"]);
        let text_embedded = check(&t);
        let mut t = case.to_vec();
        t.extend(["--server", &server.uri]);
        let text_remote = check(&t);
        assert_eq!(
            String::from_utf8_lossy(&text_embedded.stdout),
            String::from_utf8_lossy(&text_remote.stdout),
            "{case:?}"
        );
    }
    // The origin names the server.
    let o = check(&["known", "--server", &server.uri, "--format", "json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["policy_origin"],
        format!("{} (built-in library)", server.uri)
    );
    assert_eq!(v["profile"], "restricted");
}

#[tokio::test(flavor = "multi_thread")]
async fn server_over_mtls_and_a_unix_socket() {
    let pki = Pki::new();
    let mut args: Vec<PathBuf> = vec!["--listen".into(), "127.0.0.1:0".into()];
    args.extend(pki.server_args(true));
    let server = Server::start(&args, Reach::Https, pki.identity("ci")).await;
    let (cert, key) = pki.client("ci");
    let tls = [
        "--ca",
        pki.ca.to_str().unwrap(),
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ];
    let mut a = vec!["known", "--server", &server.uri, "--format", "json"];
    a.extend(tls);
    let remote = check(&a);
    assert_eq!(
        remote.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&remote.stderr)
    );
    let embedded = check(&["known", "--profile", "baseline", "--format", "json"]);
    assert_eq!(report(&embedded), report(&remote));
    // Without the client certificate the server refuses: exit 2, a clear error.
    let o = check(&[
        "known",
        "--server",
        &server.uri,
        "--ca",
        pki.ca.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    drop(server);

    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("dockgate.sock");
    let server = Server::start(
        &[
            "--listen".as_ref(),
            "127.0.0.1:0".as_ref(),
            "--socket".as_ref(),
            sock.as_os_str(),
        ],
        Reach::Unix(sock.clone()),
        ClientTls::default(),
    )
    .await;
    let uri = format!("unix://{}", sock.display());
    let remote = check(&["known", "--server", &uri, "--format", "json"]);
    assert_eq!(report(&embedded), report(&remote));
    drop(server);
}

#[test]
fn no_server_is_exit_2_with_the_uri() {
    let port = server_support::free_port();
    let uri = format!("http://127.0.0.1:{port}");
    let o = check(&["known", "--server", &uri]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains(&uri));
    // --server and --bundle/--policies/--profile do not go together.
    assert_eq!(
        check(&["known", "--server", &uri, "--profile", "baseline"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn the_request_carries_only_what_the_project_reads() {
    let cwd = fixtures();
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    env.insert("UNRELATED_SECRET".into(), "s3cr3t".into());
    env.insert("WORKER_TAG".into(), "1.37".into());
    env.insert("COMPOSE_PROFILES".into(), "".into());
    let shared = Shared {
        env,
        cwd: cwd.clone(),
        ..Shared::default()
    };
    let targets = projects::targets(&[], &[PathBuf::from("multi")], false, &cwd).unwrap();
    let loaded = projects::load(&targets[0], &shared).unwrap();
    let req = remote::request(&loaded).unwrap();
    let names: Vec<&str> = req.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["compose.yaml", "compose.override.yaml"]);
    assert!(req.dotenv.contains("API_TAG=latest"));
    assert!(req.attachments.is_empty());
    assert_eq!(req.project_name, "multi");
    let mut keys: Vec<&str> = req.env.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["COMPOSE_PROFILES", "WORKER_TAG"],
        "only variables the files name"
    );

    let targets = projects::targets(&[], &[PathBuf::from("envfile")], false, &cwd).unwrap();
    let loaded = projects::load(&targets[0], &shared).unwrap();
    let req = remote::request(&loaded).unwrap();
    let names: Vec<&str> = req.attachments.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["app.env"]);
}
