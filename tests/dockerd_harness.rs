//! End-to-end check of the private-dockerd test harness (tests/support).
//!
//! Needs root, Debian's docker.io and busybox-static (`.ci/docker-setup.sh`).
//! Without them the tests skip loudly, except under `CI` (set and not
//! `false`/`0`), where a missing prerequisite fails them.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::dockerd::{DockerdOptions, PrivateDockerd, docker_or_skip};

const IMAGE: &str = "dockgate-test/busybox:local";
const TIMEOUT: Duration = Duration::from_secs(120);

fn stdout_of(daemon: &PrivateDockerd, args: &[&str]) -> String {
    let out = daemon
        .docker_ok(args, TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}\ndaemon log tail:\n{}", daemon.log_tail(30)));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn private_dockerd_runs_a_busybox_container() {
    if !docker_or_skip("private_dockerd_runs_a_busybox_container", false) {
        return;
    }
    let daemon = PrivateDockerd::start(DockerdOptions::default()).expect("start dockerd");
    let root = daemon.dir().to_path_buf();
    assert!(daemon.host_uri().starts_with("unix:///tmp/"));
    assert!(daemon.socket_path().exists());

    daemon.import_busybox(IMAGE).expect("import busybox");
    daemon.import_busybox(IMAGE).expect("import busybox again");

    let echoed = stdout_of(
        &daemon,
        &["run", "--rm", IMAGE, "echo", "hello from dockgate"],
    );
    assert_eq!(echoed.trim(), "hello from dockgate");

    // Containers left behind, running or not, are removed on drop.
    stdout_of(&daemon, &["create", "--name", "created", IMAGE, "true"]);
    stdout_of(
        &daemon,
        &["run", "-d", "--name", "running", IMAGE, "sleep", "600"],
    );
    let ps = stdout_of(
        &daemon,
        &["ps", "--format", "{{.Names}} {{.Image}} {{.Command}}"],
    );
    assert_eq!(ps.trim(), format!("running {IMAGE} \"sleep 600\""));
    let all = stdout_of(&daemon, &["ps", "-a", "--format", "{{.Names}}"]);
    let mut names: Vec<&str> = all.split_whitespace().collect();
    names.sort_unstable();
    assert_eq!(names, ["created", "running"]);

    drop(daemon);
    assert!(!root.exists(), "{} not removed", root.display());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(
        !mounts.contains(&*root.to_string_lossy()),
        "mounts left under {}",
        root.display()
    );
}

/// The daemon asks the AuthZ plugin about every request; the harness writes
/// the plugin's spec file and removes it on drop. The plugin here is the
/// fixtures' capturing one (Python 3, stdlib only).
#[test]
fn private_dockerd_with_authorization_plugin() {
    if !docker_or_skip("private_dockerd_with_authorization_plugin", false) {
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("dgp")
        .tempdir_in("/tmp")
        .expect("temp dir");
    let socket = dir.path().join("authz.sock");
    let log = dir.path().join("authz.jsonl");
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/engine-capture/capture_authz.py");
    let plugin = KillOnDrop(
        Command::new("python3")
            .arg(&script)
            .arg(&socket)
            .arg(&log)
            .stdin(Stdio::null())
            .spawn()
            .expect("start capture_authz.py (python3)"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "plugin socket never appeared");
        std::thread::sleep(Duration::from_millis(50));
    }

    let daemon = PrivateDockerd::start(DockerdOptions {
        authorization_plugin: Some(socket.display().to_string()),
        ..DockerdOptions::default()
    })
    .expect("start dockerd with the plugin");
    let name = daemon
        .authorization_plugin_name()
        .expect("plugin name")
        .to_string();
    let spec = Path::new("/etc/docker/plugins").join(format!("{name}.spec"));
    assert!(spec.exists());

    stdout_of(&daemon, &["ps", "-a"]);
    let seen = std::fs::read_to_string(&log).expect("plugin log");
    assert!(seen.contains("/containers/json"), "plugin saw: {seen}");

    drop(daemon);
    assert!(!spec.exists(), "{} not removed", spec.display());
    drop(plugin);
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
