//! `dockgate doctor` against a real private dockerd and a real policy server: it must tell a
//! host where nothing is enforced from one where everything works.
//!
//! Needs root, Debian's docker.io and busybox-static (`.ci/docker-setup.sh`); skips loudly
//! without them, except under `CI`, where a missing prerequisite fails.

#[path = "support/server.rs"]
mod server_support;
mod support;

use std::time::{Duration, Instant};

use dockgate::client::ClientTls;
use server_support::{Reach, Server, dockgate, run_bounded_for};
use support::dockerd::{DockerdOptions, PrivateDockerd, docker_or_skip};

/// Runs doctor; (exit code, stdout).
fn doctor(args: &[&str]) -> (i32, String) {
    let out = run_bounded_for(
        dockgate().arg("doctor").args(args),
        Duration::from_secs(120),
    )
    .expect("doctor finished in time");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_daemon_without_the_plugin_in_its_chain_is_reported_as_not_enforcing() {
    if !docker_or_skip(
        "a_daemon_without_the_plugin_in_its_chain_is_reported_as_not_enforcing",
        false,
    ) {
        return;
    }
    let daemon = PrivateDockerd::start(DockerdOptions::default()).expect("start dockerd");
    let server = Server::local(&["--profile", "restricted"]).await;
    let host = daemon.host_uri();
    // A plugin name no spec file or socket on this machine has.
    let plugin = format!("dockgate-doctor-{}", std::process::id());
    let (code, out) = doctor(&[
        "--docker-host",
        &host,
        "--plugin",
        &plugin,
        "--server",
        &server.uri,
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("ok    docker daemon"), "{out}");
    assert!(out.contains("FAIL  authorization chain"), "{out}");
    assert!(out.contains("nothing is enforced"), "{out}");
    assert!(
        out.contains("authorization-plugins"),
        "the fix is shown:\n{out}"
    );
    assert!(out.contains("FAIL  plugin socket"), "{out}");
    assert!(out.contains("ok    policy server"), "{out}");
    assert!(out.contains("profile restricted"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_daemon_and_server_are_reported_with_fixes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = format!("unix://{}", dir.path().join("nope.sock").display());
    let server = format!("unix://{}", dir.path().join("nope-server.sock").display());
    let (code, out) = doctor(&[
        "--docker-host",
        &host,
        "--plugin-socket",
        &dir.path().join("nope-plugin.sock").display().to_string(),
        "--server",
        &server,
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL  docker daemon"), "{out}");
    assert!(out.contains("FAIL  plugin socket"), "{out}");
    assert!(out.contains("does not answer"), "{out}");
    assert!(out.contains("FAIL  policy server"), "{out}");
    assert_eq!(out.matches("fix: ").count(), 3, "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_working_chain_passes_every_check() {
    if !docker_or_skip("a_working_chain_passes_every_check", false) {
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("dgd")
        .tempdir_in("/tmp")
        .expect("temp dir");
    let server_socket = dir.path().join("srv.sock");
    let server = Server::start(
        &[
            "--socket".as_ref(),
            server_socket.as_os_str(),
            "--profile".as_ref(),
            "restricted".as_ref(),
        ],
        Reach::Unix(server_socket.clone()),
        ClientTls::default(),
    )
    .await;
    // The plugin, asking that server; it must answer before the daemon starts (the daemon
    // asks it about its own /_ping).
    let plugin_socket = dir.path().join("plugin.sock");
    let mut cmd = dockgate();
    cmd.arg("authz")
        .arg("--socket")
        .arg(&plugin_socket)
        .arg("--server")
        .arg(&server.uri);
    let plugin = Server::spawn(cmd, ClientTls::default());
    let deadline = Instant::now() + Duration::from_secs(30);
    while !plugin_socket.exists() {
        assert!(
            plugin.try_wait().is_none(),
            "plugin exited\n{}",
            plugin.logs()
        );
        assert!(
            Instant::now() < deadline,
            "no plugin socket\n{}",
            plugin.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let daemon = PrivateDockerd::start(DockerdOptions {
        authorization_plugin: Some(plugin_socket.display().to_string()),
        ..DockerdOptions::default()
    })
    .expect("start dockerd");
    // Doctor finds the plugin as the daemon does: through the spec file the harness wrote.
    let name = daemon
        .authorization_plugin_name()
        .expect("plugin name")
        .to_owned();
    let host = daemon.host_uri();
    let (code, out) = doctor(&[
        "--docker-host",
        &host,
        "--plugin",
        &name,
        "--server",
        &server.uri,
    ]);
    assert_eq!(code, 0, "{out}\nplugin:\n{}", plugin.logs());
    for check in [
        "ok    docker daemon",
        "ok    authorization chain",
        "ok    plugin socket",
        "ok    lockout protection",
        "ok    enforcement",
        "ok    policy server",
        "ok    policies",
    ] {
        assert!(out.contains(check), "{check} missing:\n{out}");
    }
    assert!(!out.contains("FAIL"), "{out}");

    // The server goes away: enforcement can no longer be shown, and doctor says so.
    drop(server);
    let (code, out) = doctor(&[
        "--docker-host",
        &host,
        "--plugin",
        &name,
        "--server",
        &format!("unix://{}", server_socket.display()),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL  enforcement"), "{out}");
    assert!(out.contains("FAIL  policy server"), "{out}");
    assert!(out.contains("ok    lockout protection"), "{out}");
}
