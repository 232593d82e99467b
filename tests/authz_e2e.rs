//! End-to-end: `dockgate authz` as the authorization plugin of a real, private `dockerd`,
//! judged by real `dockgate serve` processes (the built-in library, restricted profile), driven
//! with the real `docker` CLI and Debian's `docker-compose` (v1).
//!
//! Needs root, Debian's docker.io, docker-compose and busybox-static (`.ci/docker-setup.sh`).
//! Without them the tests skip loudly, except under `CI` (set and not `false`/`0`), where a
//! missing prerequisite fails them.
//!
//! The policy is the library under `restricted` with one change: DG-302 (pin images by
//! digest) is off, because the test image is imported locally and no registry can give it a
//! digest here. Everything else is the library as shipped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/server.rs"]
mod server_support;
mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use dockgate::client::ClientTls;
use dockgate::library::{self, Profile};
use dockgate::server::pb;
use serde_json::json;
use server_support::{Reach, Server, dockgate};
use support::dockerd::{DockerdOptions, PrivateDockerd, docker_or_skip, output_with_timeout};

const IMAGE: &str = "dockgate-test/busybox:local";
const TIMEOUT: Duration = Duration::from_secs(120);
/// The plugin's deadline for a policy decision in these tests.
const DEADLINE: Duration = Duration::from_secs(2);

/// A temporary directory under /tmp (short paths: unix sockets live there) holding the test
/// policy bundle (see [`write_bundle`]) as `policy.tar.gz`.
fn workdir_with_bundle(prefix: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/tmp")
        .expect("temp dir");
    let bundle = dir.path().join("policy.tar.gz");
    write_bundle(&bundle, &[]);
    (dir, bundle)
}

/// Writes the test policy bundle (restricted, DG-302 off, plus `extra` policy data) to
/// `path`, atomically.
fn write_bundle(path: &Path, extra: &[(&str, serde_json::Value)]) {
    let mut b = library::bundle(Some(Profile::Restricted)).expect("library bundle");
    b.set_data(
        &["dockgate", "config", "rules"],
        json!({"DG-302": {"enabled": false}}),
    );
    for (key, value) in extra {
        b.set_data(&["dockgate", "config", key], value.clone());
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, b.to_tar_gz().expect("tar.gz")).expect("write bundle");
    std::fs::rename(&tmp, path).expect("rename bundle");
}

/// A policy server on a unix socket serving `bundle`.
async fn server(dir: &Path, name: &str, bundle: &Path) -> Server {
    let socket = dir.join(format!("{name}.sock"));
    let args: Vec<PathBuf> = vec![
        "--socket".into(),
        socket.clone(),
        "--bundle".into(),
        bundle.to_path_buf(),
        "--no-watch".into(),
        "--log-format".into(),
        "json".into(),
    ];
    Server::start(&args, Reach::Unix(socket), ClientTls::default()).await
}

/// The plugin process: `dockgate authz` on `socket`, asking `servers`, inspecting through
/// `docker_host`. Ready once the socket answers `/Plugin.Activate`.
fn plugin(socket: &Path, servers: &[&str], docker_host: &str) -> Server {
    let mut cmd = dockgate();
    cmd.arg("authz")
        .arg("--socket")
        .arg(socket)
        .arg("--docker-host")
        .arg(docker_host)
        .arg("--timeout")
        .arg(format!("{}ms", DEADLINE.as_millis()));
    for s in servers {
        cmd.arg("--server").arg(s);
    }
    let p = Server::spawn(cmd, ClientTls::default());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(st) = p.try_wait() {
            panic!("dockgate authz exited ({st})\n{}", p.logs());
        }
        if let Ok(reply) = activate(socket) {
            assert!(reply.contains(r#"{"Implements":["authz"]}"#), "{reply}");
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "plugin never answered\n{}",
            p.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `POST /Plugin.Activate` on the plugin socket, as the daemon does.
fn activate(socket: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut s = std::os::unix::net::UnixStream::connect(socket)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(
        b"POST /Plugin.Activate HTTP/1.1\r\nHost: plugin\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// The flags of a container that passes the restricted profile (the `docker run` spelling
/// of deploy/compose.yaml's service).
fn compliant(net: &str) -> Vec<String> {
    [
        "--user",
        "65534:65534",
        "--read-only",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges:true",
        "--memory",
        "64m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "64",
        "--restart",
        "on-failure:3",
        "--health-cmd",
        "true",
        "--health-interval",
        "30s",
        "--network",
        net,
        "--log-driver",
        "json-file",
        "--log-opt",
        "max-size=10m",
        "--log-opt",
        "max-file=3",
    ]
    .iter()
    .map(|s| (*s).to_string())
    .collect()
}

fn docker(d: &PrivateDockerd, args: &[String]) -> Output {
    output_with_timeout(d.docker(args), TIMEOUT).expect("run docker")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn args(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| (*s).to_string()).collect()
}

/// `docker ARGS` must fail with every one of `ids` (and the plugin's prefix) in its error.
fn assert_denied(d: &PrivateDockerd, cmd: &[String], ids: &[&str], plugin: &Server) {
    let out = docker(d, cmd);
    let t = text(&out);
    assert!(
        !out.status.success(),
        "docker {cmd:?} succeeded: {t}\n{}",
        plugin.logs()
    );
    assert!(
        t.contains("authorization denied by plugin") && t.contains("dockgate: "),
        "docker {cmd:?}: not the plugin's denial: {t}\n{}",
        plugin.logs()
    );
    for id in ids {
        assert!(t.contains(id), "docker {cmd:?}: {id} missing from: {t}");
    }
}

fn create(net: &str, extra: &[&str]) -> Vec<String> {
    let mut a = args(&["create"]);
    a.extend(compliant(net));
    a.extend(args(extra));
    a.push(IMAGE.into());
    a.push("true".into());
    a
}

/// The plugin's decision log lines for operation `op`.
fn authz_lines(plugin: &Server, op: &str) -> Vec<serde_json::Value> {
    plugin
        .stdout
        .json_lines()
        .into_iter()
        .filter(|v| v["message"] == "authorization" && v["op"] == op)
        .collect()
}

/// Waits (bounded) until `pred` holds for the plugin's output (its log lines are read by a
/// thread, a moment after the call they describe).
fn wait_for(plugin: &Server, what: &str, pred: impl Fn(&Server) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pred(plugin) {
        assert!(
            Instant::now() < deadline,
            "never saw {what} in the plugin's log\n{}",
            plugin.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Compliant containers run; each unsafe flag is denied with its rule; a container allowed at
/// create is denied at start once the policy tightens; privileged exec, an oversized create
/// body and a non-compliant compose project are denied, a compliant project comes up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plugin_enforces_the_library_on_a_real_dockerd() {
    if !docker_or_skip("the_plugin_enforces_the_library_on_a_real_dockerd", true) {
        return;
    }
    let (dir, bundle) = workdir_with_bundle("dga");
    let srv = server(dir.path(), "srv", &bundle).await;
    let plugin_socket = dir.path().join("plugin.sock");
    // The plugin starts first (the daemon asks it about its own /_ping), aimed at a link to
    // the daemon's API socket made once the daemon is up: the plugin connects lazily.
    let docker_link = dir.path().join("docker.sock");
    let p = plugin(
        &plugin_socket,
        &[&srv.uri],
        &format!("unix://{}", docker_link.display()),
    );
    let d = PrivateDockerd::start(DockerdOptions {
        authorization_plugin: Some(plugin_socket.display().to_string()),
        ..DockerdOptions::default()
    })
    .expect("start dockerd");
    std::os::unix::fs::symlink(d.socket_path(), &docker_link).expect("link the daemon socket");
    d.import_busybox(IMAGE).expect("import busybox");
    let net = "dgnet";
    d.docker_ok(["network", "create", "--internal", net], TIMEOUT)
        .expect("network create");

    // A compliant container is created and runs; its start reuses the create's verdict.
    let mut run = args(&["run", "-d", "--name", "good"]);
    run.extend(compliant(net));
    run.extend(args(&[IMAGE, "sleep", "600"]));
    let out = docker(&d, &run);
    assert!(out.status.success(), "{}\n{}", text(&out), p.logs());
    let state = d
        .docker_ok(
            ["inspect", "--format", "{{.State.Running}}", "good"],
            TIMEOUT,
        )
        .expect("inspect");
    assert_eq!(String::from_utf8_lossy(&state.stdout).trim(), "true");
    wait_for(
        &p,
        "the start of the just-created container allowed from the cache",
        |p| {
            authz_lines(p, "START")
                .iter()
                .any(|v| v["allowed"] == true && v["cached"] == true)
        },
    );
    // The decision log never carries env values.
    assert!(!p.stdout.text().contains("hunter2"));

    // Each unsafe setting is denied at create, with its rule id in the CLI's error.
    let cases: &[(&[&str], &[&str])] = &[
        (&["--privileged"], &["DG-101"]),
        (
            &["-v", "/var/run/docker.sock:/var/run/docker.sock"],
            &["DG-201"],
        ),
        (&["--pid", "host"], &["DG-103"]),
        (&["--user", "root"], &["DG-113"]),
        (&["-e", "DB_PASSWORD=hunter2"], &["DG-401"]),
    ];
    for (extra, ids) in cases {
        assert_denied(&d, &create(net, extra), ids, &p);
    }
    // --network host replaces the compliant user-defined network.
    assert_denied(&d, &create("host", &[]), &["DG-102"], &p);
    assert!(
        !p.stdout.text().contains("hunter2"),
        "an env value reached the plugin's log"
    );

    // A privileged exec into the running container is denied; a plain one works.
    assert_denied(
        &d,
        &args(&["exec", "--privileged", "good", "true"]),
        &["DG-117"],
        &p,
    );
    let id = d
        .docker_ok(["exec", "good", "id", "-u"], TIMEOUT)
        .expect("plain exec");
    assert_eq!(String::from_utf8_lossy(&id.stdout).trim(), "65534");

    // An update that lifts a limit is denied; one that keeps the container compliant is
    // allowed, and makes the remembered verdict stale: the next start is evaluated again.
    assert_denied(
        &d,
        &args(&["update", "--pids-limit", "-1", "good"]),
        &["DG-503", "update denied"],
        &p,
    );
    d.docker_ok(["update", "--cpus", "0.25", "good"], TIMEOUT)
        .expect("a compliant update");
    let before = authz_lines(&p, "START").len();
    d.docker_ok(["restart", "-t", "1", "good"], TIMEOUT)
        .expect("restart after the update");
    wait_for(&p, "an evaluated (uncached) start after the update", |p| {
        authz_lines(p, "START")
            .iter()
            .skip(before)
            .any(|v| v["allowed"] == true && v["cached"] == false)
    });

    // A create body over 1 MiB reaches the plugin without its body: denied, saying why.
    let labels = dir.path().join("big.labels");
    let line = "a".repeat(60_000);
    let big: String = (0..20).map(|i| format!("l{i}={line}\n")).collect();
    std::fs::write(&labels, big).expect("write labels");
    let label_file = labels.display().to_string();
    let out = docker(&d, &create(net, &["--label-file", &label_file]));
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(t.contains("has no body") && t.contains("1 MiB"), "{t}");

    // Allowed at create, denied at start once the policy tightens (json-file no longer allowed).
    let later = d
        .docker_ok(
            {
                let mut c = create(net, &[]);
                c.insert(1, "--name".into());
                c.insert(2, "later".into());
                c
            },
            TIMEOUT,
        )
        .expect("create while allowed");
    assert!(later.status.success());
    write_bundle(&bundle, &[("allowed_log_drivers", json!(["local"]))]);
    let info = srv
        .client()
        .await
        .reload(pb::ReloadRequest {})
        .await
        .expect("reload")
        .into_inner();
    assert_eq!(info.last_reload_error, "");
    assert_denied(
        &d,
        &args(&["start", "later"]),
        &["DG-701", "start denied"],
        &p,
    );
    // ... and back: the original policy allows it again.
    write_bundle(&bundle, &[]);
    srv.client()
        .await
        .reload(pb::ReloadRequest {})
        .await
        .expect("reload");
    d.docker_ok(["start", "later"], TIMEOUT)
        .expect("start after the policy is relaxed again");

    // docker-compose (v1): a non-compliant project fails with the message, a compliant one
    // comes up.
    let good = compose_project(dir.path(), "good", false);
    let out = compose(&d, &good, &["up", "-d"]);
    assert!(out.status.success(), "{}\n{}", text(&out), p.logs());
    let bad = compose_project(dir.path(), "bad", true);
    let out = compose(&d, &bad, &["up", "-d"]);
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(
        t.contains("authorization denied by plugin")
            && t.contains("dockgate: service \"web\"")
            && t.contains("DG-101"),
        "{t}"
    );
    let up = d
        .docker_ok(
            [
                "ps",
                "--filter",
                "label=com.docker.compose.project=good",
                "--format",
                "{{.Names}}",
            ],
            TIMEOUT,
        )
        .expect("ps");
    assert!(!String::from_utf8_lossy(&up.stdout).trim().is_empty());
    drop(d);
}

/// A compose project (file format 2.4, which v1 reads) whose service follows the restricted
/// profile, or is privileged instead of read-only when `privileged`.
fn compose_project(dir: &Path, name: &str, privileged: bool) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(&p).expect("mkdir");
    let hardening = if privileged {
        "privileged: true"
    } else {
        "read_only: true"
    };
    std::fs::write(
        p.join("docker-compose.yml"),
        format!(
            r#"version: "2.4"
services:
  web:
    image: {IMAGE}
    command: ["sleep", "600"]
    user: "65534:65534"
    {hardening}
    cap_drop: [ALL]
    security_opt: ["no-new-privileges:true"]
    mem_limit: 64m
    cpus: 0.5
    pids_limit: 64
    restart: on-failure:3
    healthcheck:
      test: ["CMD", "true"]
      interval: 30s
      timeout: 5s
      retries: 3
    logging:
      driver: json-file
      options:
        max-size: 10m
        max-file: "3"
    networks: [app]
networks:
  app:
    internal: true
"#
        ),
    )
    .expect("write compose file");
    p
}

fn compose(d: &PrivateDockerd, project: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new("docker-compose");
    cmd.current_dir(project)
        .env("DOCKER_HOST", d.host_uri())
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .env_remove("COMPOSE_FILE")
        .env_remove("COMPOSE_PROJECT_NAME")
        .args(["--no-ansi", "-p"])
        .arg(project.file_name().expect("name"))
        .args(args)
        .stdin(std::process::Stdio::null());
    output_with_timeout(cmd, TIMEOUT).expect("run docker-compose")
}

/// With two servers, one stopped changes nothing (tower's balancer fails over); with none,
/// creates are denied within the deadline while `docker ps`/`docker version` still work; a
/// server back on its socket is used again without restarting the plugin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plugin_fails_over_fails_closed_and_recovers() {
    if !docker_or_skip("the_plugin_fails_over_fails_closed_and_recovers", false) {
        return;
    }
    let (dir, bundle) = workdir_with_bundle("dgf");
    let a = server(dir.path(), "a", &bundle).await;
    let b = server(dir.path(), "b", &bundle).await;
    let (a_uri, b_uri) = (a.uri.clone(), b.uri.clone());
    let plugin_socket = dir.path().join("plugin.sock");
    let docker_link = dir.path().join("docker.sock");
    let p = plugin(
        &plugin_socket,
        &[&a_uri, &b_uri],
        &format!("unix://{}", docker_link.display()),
    );
    let d = PrivateDockerd::start(DockerdOptions {
        authorization_plugin: Some(plugin_socket.display().to_string()),
        ..DockerdOptions::default()
    })
    .expect("start dockerd");
    std::os::unix::fs::symlink(d.socket_path(), &docker_link).expect("link the daemon socket");
    d.import_busybox(IMAGE).expect("import busybox");
    d.docker_ok(["network", "create", "--internal", "n"], TIMEOUT)
        .expect("network create");

    let ok = |d: &PrivateDockerd, what: &str| {
        let out = docker(d, &create("n", &[]));
        assert!(out.status.success(), "{what}: {}\n{}", text(&out), p.logs());
    };
    ok(&d, "both servers up");
    assert_denied(&d, &create("n", &["--privileged"]), &["DG-101"], &p);

    // One server gone: every create is still judged (by the other one), none fails.
    drop(a);
    for i in 0..6 {
        ok(&d, &format!("server a stopped, create {i}"));
    }
    assert_denied(&d, &create("n", &["--privileged"]), &["DG-101"], &p);

    // No server: denied (fail closed) within the deadline; read-only calls still work.
    drop(b);
    let started = Instant::now();
    let out = docker(&d, &create("n", &[]));
    let took = started.elapsed();
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(t.contains("fails closed"), "{t}");
    assert!(
        took < DEADLINE + Duration::from_secs(3),
        "the denial took {took:?} (deadline {DEADLINE:?})"
    );
    d.docker_ok(["ps", "-a"], TIMEOUT).expect("docker ps");
    d.docker_ok(["version"], TIMEOUT).expect("docker version");
    d.docker_ok(["info"], TIMEOUT).expect("docker info");

    // A server back on b's socket: allowed again, same plugin process.
    let b2 = server(dir.path(), "b", &bundle).await;
    assert_eq!(b2.uri, b_uri);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = docker(&d, &create("n", &[]));
        if out.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "creates still denied after the server came back: {}\n{}",
            text(&out),
            p.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(p.try_wait().is_none(), "the plugin restarted");
    drop(d);
}
