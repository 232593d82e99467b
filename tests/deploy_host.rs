//! The host deployment files in `deploy/` (systemd units, daemon.json, the managed plugin's
//! config.json) name flags and paths that the real binary accepts and that agree with each
//! other, so copying them onto a host gives a working chain: daemon → plugin → server.

use std::path::{Path, PathBuf};
use std::process::Command;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

fn read_json(rel: &str) -> serde_json::Value {
    let path = deploy().join(rel);
    let text = std::fs::read_to_string(&path).expect("read deploy file");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `ExecStart=` command of a unit, split like systemd does for plain words.
fn exec_start(unit: &str) -> Vec<String> {
    let path = deploy().join("systemd").join(unit);
    let text = std::fs::read_to_string(&path).expect("read unit");
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap_or_else(|| panic!("{unit}: no ExecStart="));
    shlex::split(line).expect("ExecStart is plain words")
}

/// Runs the binary with the command's arguments and `--help` last: clap rejects an unknown
/// flag or a bad value (e.g. a profile) before it gets to `--help`.
fn assert_binary_accepts(args: &[String]) {
    assert_eq!(args[0], "/usr/local/bin/dockgate", "{args:?}");
    let out = Command::new(env!("CARGO_BIN_EXE_dockgate"))
        .args(&args[1..])
        .arg("--help")
        .output()
        .expect("run dockgate");
    assert!(
        out.status.success(),
        "dockgate rejects {args:?}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn flag<'a>(args: &'a [String], name: &str) -> &'a str {
    let i = args
        .iter()
        .position(|a| a == name)
        .unwrap_or_else(|| panic!("{name} missing in {args:?}"));
    &args[i + 1]
}

#[test]
fn units_use_real_flags_and_meet_at_the_same_socket() {
    let server = exec_start("dockgate-server.service");
    let plugin = exec_start("dockgate-authz.service");
    assert_eq!(server[1], "serve");
    assert_eq!(plugin[1], "authz");
    assert_binary_accepts(&server);
    assert_binary_accepts(&plugin);
    // The plugin asks the server the unit starts.
    assert_eq!(
        flag(&plugin, "--server"),
        format!("unix://{}", flag(&server, "--socket"))
    );
    // The plugin listens where Docker's discovery finds a plugin named "dockgate".
    assert_eq!(
        flag(&plugin, "--socket"),
        "/run/docker/plugins/dockgate.sock"
    );
}

#[test]
fn daemon_json_enables_the_plugin_by_the_name_discovery_finds() {
    let daemon = read_json("daemon.json");
    assert_eq!(
        daemon["authorization-plugins"],
        serde_json::json!(["dockgate"])
    );
}

#[test]
fn managed_plugin_config_is_an_authz_plugin_running_the_real_command() {
    let config = read_json("plugin/config.json");
    assert_eq!(
        config["interface"]["types"],
        serde_json::json!(["docker.authz/1.0"])
    );
    let entry: Vec<String> = config["entrypoint"]
        .as_array()
        .expect("entrypoint")
        .iter()
        .map(|v| v.as_str().expect("string").to_owned())
        .collect();
    assert_binary_accepts(&entry);
    // Managed plugins listen in /run/docker/plugins under the interface's socket name.
    let socket = config["interface"]["socket"].as_str().expect("socket");
    assert_eq!(
        flag(&entry, "--socket"),
        format!("/run/docker/plugins/{socket}")
    );
    // Whatever the plugin reaches must be mounted into it.
    let mounts: Vec<&str> = config["mounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .map(|m| m["destination"].as_str().expect("destination"))
        .collect();
    let server_socket = flag(&entry, "--server")
        .strip_prefix("unix://")
        .expect("unix server");
    assert!(
        mounts.iter().any(|m| server_socket.starts_with(m)),
        "{server_socket} not under a mount {mounts:?}"
    );
    let docker_socket = flag(&entry, "--docker-host")
        .strip_prefix("unix://")
        .expect("unix docker host");
    assert!(mounts.contains(&docker_socket), "{mounts:?}");
}
