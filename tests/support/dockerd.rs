//! A private Docker daemon for end-to-end tests.
//!
//! [`PrivateDockerd::start`] runs Debian's `dockerd` (engine 20.10) as a child
//! process with its own data root, exec root and unix socket in a short temp
//! directory under `/tmp`, with `--bridge=none --iptables=false
//! --ip6tables=false`, and waits until `/_ping` answers. Nothing is written
//! outside that directory except, when an authorization plugin is asked for,
//! its spec file `/etc/docker/plugins/<name>.spec` (removed on drop).
//! Dropping the handle removes all containers and stops the daemon (SIGTERM,
//! then SIGKILL), with bounded waits throughout.
//!
//! Needs root, `dockerd`, the `docker` CLI and a statically linked
//! `/bin/busybox` (Debian: `docker.io`, `busybox-static`; CI installs them
//! with `.ci/docker-setup.sh`). [`docker_available`] says what is missing.
//!
//! ```ignore
//! let daemon = PrivateDockerd::start(DockerdOptions::default())?;
//! daemon.import_busybox("dockgate-test/busybox:local")?;
//! let out = output_with_timeout(
//!     daemon.docker(["run", "--rm", "dockgate-test/busybox:local", "echo", "hi"]),
//!     Duration::from_secs(60),
//! )?;
//! ```

// Each test crate uses only part of this module.
#![allow(dead_code)]

use std::fmt;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Where Docker looks for plugin spec files.
const PLUGIN_SPEC_DIR: &str = "/etc/docker/plugins";
/// The busybox binary the test image is made of (Debian's busybox-static).
const BUSYBOX: &str = "/bin/busybox";
/// Docker CLI override, e.g. for a client outside PATH.
const DOCKER_CLI_ENV: &str = "DOCKGATE_TEST_DOCKER_CLI";
/// Storage driver override (default `overlay2`; `vfs` works everywhere).
const STORAGE_DRIVER_ENV: &str = "DOCKGATE_TEST_STORAGE_DRIVER";

/// Lines of the daemon's log shown in errors.
const LOG_TAIL_LINES: usize = 30;

/// An error of the harness. `Debug` prints the message as is, so that
/// `.expect()` shows multi-line daemon logs readably.
pub struct HarnessError(String);

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HarnessError {}

impl From<String> for HarnessError {
    fn from(msg: String) -> Self {
        HarnessError(msg)
    }
}

pub type Result<T> = std::result::Result<T, HarnessError>;

fn err<T>(msg: impl Into<String>) -> Result<T> {
    Err(HarnessError(msg.into()))
}

/// How to start the daemon.
#[derive(Clone, Debug)]
pub struct DockerdOptions {
    /// Address of an AuthZ plugin to run the daemon with: `unix:///path.sock`
    /// or an absolute socket path. The harness registers it under a unique
    /// name (see [`PrivateDockerd::authorization_plugin_name`]) by writing
    /// `/etc/docker/plugins/<name>.spec`, and passes
    /// `--authorization-plugin=<name>`. The plugin must be listening before
    /// `start` is called: the daemon asks it about `/_ping` too.
    pub authorization_plugin: Option<String>,
    /// `--storage-driver`; default `overlay2`, or `$DOCKGATE_TEST_STORAGE_DRIVER`.
    pub storage_driver: String,
    /// How long `start` waits for `/_ping` to answer.
    pub start_timeout: Duration,
}

impl Default for DockerdOptions {
    fn default() -> Self {
        DockerdOptions {
            authorization_plugin: None,
            storage_driver: std::env::var(STORAGE_DRIVER_ENV)
                .ok()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "overlay2".to_string()),
            start_timeout: Duration::from_secs(60),
        }
    }
}

/// A running private `dockerd`. Stopped (and its containers removed) on drop.
pub struct PrivateDockerd {
    // Declared first so that it is the last thing dropped.
    dir: tempfile::TempDir,
    child: Option<Child>,
    docker_cli: PathBuf,
    socket: PathBuf,
    log: PathBuf,
    plugin_name: Option<String>,
    plugin_spec: Option<PathBuf>,
}

impl PrivateDockerd {
    /// Start a daemon and wait until it answers `/_ping`.
    pub fn start(opts: DockerdOptions) -> Result<PrivateDockerd> {
        let dockerd = find_dockerd().ok_or_else(|| {
            HarnessError(
                "dockerd not found in PATH or /usr/sbin (apt-get install docker.io)".into(),
            )
        })?;
        // Short: the exec root holds unix sockets (108-byte path limit).
        let dir = tempfile::Builder::new()
            .prefix("dgd")
            .tempdir_in("/tmp")
            .map_err(|e| HarnessError(format!("cannot create a temp dir in /tmp: {e}")))?;
        let root = dir.path().to_path_buf();
        let mut daemon = PrivateDockerd {
            dir,
            child: None,
            docker_cli: find_docker_cli().ok_or_else(|| {
                HarnessError(format!(
                    "docker CLI not found (apt-get install docker.io, or set {DOCKER_CLI_ENV})"
                ))
            })?,
            socket: root.join("docker.sock"),
            log: root.join("dockerd.log"),
            plugin_name: None,
            plugin_spec: None,
        };
        // From here on, an early return drops `daemon`, which cleans up.
        fs::create_dir(root.join("cli"))
            .map_err(|e| HarnessError(format!("cannot create {}/cli: {e}", root.display())))?;

        let mut cmd = Command::new(dockerd);
        cmd.arg(format!("--data-root={}", root.join("d").display()))
            .arg(format!("--exec-root={}", root.join("e").display()))
            .arg(format!("--pidfile={}", root.join("docker.pid").display()))
            .arg(format!("--host=unix://{}", daemon.socket.display()))
            .args(["--iptables=false", "--ip6tables=false", "--bridge=none"])
            .arg(format!("--storage-driver={}", opts.storage_driver));

        if let Some(address) = &opts.authorization_plugin {
            let address = if address.starts_with('/') {
                format!("unix://{address}")
            } else if address.starts_with("unix:///") {
                address.clone()
            } else {
                return err(format!(
                    "authorization_plugin must be unix:///path or /path, got {address:?}"
                ));
            };
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let name = format!(
                "dgtest-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            let spec = Path::new(PLUGIN_SPEC_DIR).join(format!("{name}.spec"));
            fs::create_dir_all(PLUGIN_SPEC_DIR)
                .and_then(|()| fs::write(&spec, format!("{address}\n")))
                .map_err(|e| HarnessError(format!("cannot write {}: {e}", spec.display())))?;
            daemon.plugin_spec = Some(spec);
            cmd.arg(format!("--authorization-plugin={name}"));
            daemon.plugin_name = Some(name);
        }

        let log = fs::File::create(&daemon.log)
            .map_err(|e| HarnessError(format!("cannot create {}: {e}", daemon.log.display())))?;
        let log2 = log
            .try_clone()
            .map_err(|e| HarnessError(format!("cannot dup log file: {e}")))?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2));
        daemon.child = Some(
            cmd.spawn()
                .map_err(|e| HarnessError(format!("cannot start dockerd: {e}")))?,
        );

        daemon.wait_ready(opts.start_timeout)?;
        Ok(daemon)
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return err(format!(
                    "dockerd exited during startup ({status}); last {LOG_TAIL_LINES} lines of {}:\n{}",
                    self.log.display(),
                    self.log_tail(LOG_TAIL_LINES)
                ));
            }
            let last = match ping(&self.socket) {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return err(format!(
                    "dockerd did not answer /_ping on {} within {timeout:?} (last: {last}); \
                     last {LOG_TAIL_LINES} lines of {}:\n{}",
                    self.socket.display(),
                    self.log.display(),
                    self.log_tail(LOG_TAIL_LINES)
                ));
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// The daemon's unix socket.
    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    /// `unix:///.../docker.sock`, for `-H` / `DOCKER_HOST`.
    pub fn host_uri(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// The daemon's temp directory (data root `d/`, exec root `e/`, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The daemon's combined stdout/stderr.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last `lines` lines of the daemon's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The name the AuthZ plugin was registered under, if one was asked for.
    pub fn authorization_plugin_name(&self) -> Option<&str> {
        self.plugin_name.as_deref()
    }

    /// The `docker` CLI aimed at this daemon (`-H unix://...`), with its own
    /// config dir and without the caller's `DOCKER_*` variables. Prefer
    /// [`output_with_timeout`] to run it.
    pub fn docker<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = Command::new(&self.docker_cli);
        for var in [
            "DOCKER_HOST",
            "DOCKER_CONTEXT",
            "DOCKER_TLS_VERIFY",
            "DOCKER_CERT_PATH",
            "DOCKER_API_VERSION",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("DOCKER_CONFIG", self.dir.path().join("cli"))
            .arg("-H")
            .arg(self.host_uri())
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// Run `docker ARGS`, bounded by `timeout`; error unless it succeeds.
    pub fn docker_ok<I, S>(&self, args: I, timeout: Duration) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let out = output_with_timeout(self.docker(&args), timeout)?;
        if out.status.success() {
            Ok(out)
        } else {
            err(format!(
                "docker {} failed ({}): {}",
                args.iter()
                    .map(|a| a.to_string_lossy())
                    .collect::<Vec<_>>()
                    .join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// Make image `tag` from the host's static busybox (`/bin/busybox` plus a
    /// symlink per applet in `/bin`, `/etc/passwd`, `/etc/group`, `/tmp`) with
    /// `docker import`. Does nothing if `tag` already exists.
    pub fn import_busybox(&self, tag: &str) -> Result<()> {
        let exists = output_with_timeout(
            self.docker(["image", "inspect", "--format", "{{.Id}}", tag]),
            Duration::from_secs(30),
        )?;
        if exists.status.success() {
            return Ok(());
        }
        match elf_is_static(Path::new(BUSYBOX)) {
            Ok(true) => {}
            Ok(false) => {
                return err(format!(
                    "{BUSYBOX} is dynamically linked: apt-get install busybox-static"
                ));
            }
            Err(e) => return err(format!("{BUSYBOX}: {e} (apt-get install busybox-static)")),
        }
        let rootfs = tempfile::Builder::new()
            .prefix("rootfs")
            .tempdir_in(self.dir.path())
            .map_err(|e| HarnessError(format!("cannot create rootfs dir: {e}")))?;
        build_busybox_rootfs(rootfs.path())?;

        let mut tar = Command::new("tar")
            .arg("-C")
            .arg(rootfs.path())
            .args(["--numeric-owner", "--owner=0", "--group=0", "-cf", "-", "."])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| HarnessError(format!("cannot run tar: {e}")))?;
        let tar_out = tar
            .stdout
            .take()
            .ok_or_else(|| HarnessError("tar has no stdout".into()))?;
        let mut import = self.docker(["import", "--change", r#"CMD ["sh"]"#, "-", tag]);
        import.stdin(Stdio::from(tar_out));
        let imported = output_with_timeout(import, Duration::from_secs(120));
        let tar_status = wait_with_timeout(&mut tar, Duration::from_secs(10));
        let imported = imported?;
        if !imported.status.success() {
            return err(format!(
                "docker import {tag} failed ({}): {}",
                imported.status,
                String::from_utf8_lossy(&imported.stderr).trim()
            ));
        }
        match tar_status {
            Some(status) if status.success() => Ok(()),
            other => err(format!("tar of the busybox rootfs failed: {other:?}")),
        }
    }

    /// Removes every container, then every user network.
    fn remove_all_containers(&self) {
        let Ok(out) = output_with_timeout(self.docker(["ps", "-aq"]), Duration::from_secs(20))
        else {
            return;
        };
        let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect();
        if !ids.is_empty() {
            let mut args = vec!["rm".to_string(), "-f".into(), "-v".into()];
            args.extend(ids);
            if let Err(e) = output_with_timeout(self.docker(&args), Duration::from_secs(60)) {
                eprintln!("dockerd harness: removing containers: {e}");
            }
        }
        // User networks are host bridges that outlive the daemon and its data root: left
        // behind, they use up Docker's default address pools for every later daemon.
        if let Err(e) = output_with_timeout(
            self.docker(["network", "prune", "-f"]),
            Duration::from_secs(30),
        ) {
            eprintln!("dockerd harness: removing networks: {e}");
        }
    }

    fn stop_daemon(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if matches!(child.try_wait(), Ok(None)) {
            self.remove_all_containers();
            // SIGTERM lets dockerd stop containerd and unmount; std only has SIGKILL.
            let _ = output_with_timeout(
                {
                    let mut kill = Command::new("kill");
                    kill.args(["-TERM", &child.id().to_string()]);
                    kill
                },
                Duration::from_secs(5),
            );
            if wait_with_timeout(&mut child, Duration::from_secs(20)).is_none() {
                eprintln!("dockerd harness: dockerd ignored SIGTERM for 20s; killing it");
                let _ = child.kill();
                let _ = wait_with_timeout(&mut child, Duration::from_secs(10));
            }
        }
        self.kill_leftover_containerd();
    }

    /// dockerd stops the containerd it started, unless it was SIGKILLed.
    fn kill_leftover_containerd(&self) {
        let pidfile = self.dir.path().join("e/containerd/containerd.pid");
        let Some(pid) = fs::read_to_string(&pidfile)
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
        else {
            return;
        };
        // Only if that pid is still our containerd (pids get reused).
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let ours = self.dir.path().as_os_str().as_encoded_bytes();
        if cmdline.windows(ours.len()).any(|w| w == ours) {
            let mut kill = Command::new("kill");
            kill.args(["-KILL", &pid.to_string()]);
            let _ = output_with_timeout(kill, Duration::from_secs(5));
        }
    }

    /// Lazily unmount whatever the daemon left mounted under our directory,
    /// deepest first, so that removing the directory cannot fail or reach
    /// through a mount.
    fn unmount_leftovers(&self) {
        let Ok(mountinfo) = fs::read_to_string("/proc/self/mountinfo") else {
            return;
        };
        let root = self.dir.path();
        let mut points: Vec<&str> = mountinfo
            .lines()
            .filter_map(|line| line.split(' ').nth(4))
            .filter(|p| Path::new(p).starts_with(root))
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for point in points {
            let mut umount = Command::new("umount");
            umount.args(["-l", point]);
            let _ = output_with_timeout(umount, Duration::from_secs(10));
        }
    }
}

impl Drop for PrivateDockerd {
    fn drop(&mut self) {
        self.stop_daemon();
        if let Some(spec) = self.plugin_spec.take() {
            let _ = fs::remove_file(spec);
        }
        self.unmount_leftovers();
        // `dir` (TempDir) is removed when the fields drop.
    }
}

/// `Ok` when this process can run [`PrivateDockerd`]; otherwise every missing
/// prerequisite, and how to get it.
pub fn docker_available() -> std::result::Result<(), String> {
    let mut missing = Vec::new();
    match effective_uid() {
        Some(0) => {}
        Some(uid) => missing.push(format!("root (running as uid {uid}; dockerd needs root)")),
        None => missing.push("root (cannot read the effective uid from /proc/self/status)".into()),
    }
    if find_dockerd().is_none() {
        missing.push("dockerd (apt-get install docker.io)".into());
    }
    if find_docker_cli().is_none() {
        missing.push(format!(
            "the docker CLI (apt-get install docker.io, or set {DOCKER_CLI_ENV})"
        ));
    }
    match elf_is_static(Path::new(BUSYBOX)) {
        Ok(true) => {}
        Ok(false) => missing.push(format!(
            "a static {BUSYBOX} (it is dynamically linked: apt-get install busybox-static)"
        )),
        Err(e) => missing.push(format!("{BUSYBOX} ({e}; apt-get install busybox-static)")),
    }
    if find_in_path("tar").is_none() {
        missing.push("tar".into());
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "missing: {} (on Debian: bash .ci/docker-setup.sh, as root)",
            missing.join("; ")
        ))
    }
}

/// `true` when [`PrivateDockerd`] can run here (and `docker-compose` when `need_compose`);
/// otherwise `false` after a loud SKIPPING line — except under `CI` (set and not
/// `false`/`0`), where a missing prerequisite fails the test.
pub fn docker_or_skip(test: &str, need_compose: bool) -> bool {
    let mut why = docker_available().err();
    if why.is_none() && need_compose && find_in_path("docker-compose").is_none() {
        why = Some("docker-compose not found (apt-get install docker-compose)".into());
    }
    match why {
        None => true,
        Some(why) => {
            let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
            assert!(!ci, "CI is set, so {test} may not skip: {why}");
            // Straight to stderr: libtest hides eprintln! output of passing tests.
            let _ = writeln!(
                std::io::stderr(),
                "\n!!!!!! SKIPPING {test}: {why} !!!!!!\n"
            );
            false
        }
    }
}

/// Run `cmd` with piped stdout/stderr (stdin as configured, by default
/// inherited), killing it after `timeout`.
pub fn output_with_timeout(mut cmd: Command, timeout: Duration) -> Result<Output> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| HarnessError(format!("cannot run {program}: {e}")))?;
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);
    let status = wait_with_timeout(&mut child, timeout);
    let status = match status {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            return err(format!(
                "{program} did not finish within {timeout:?}; killed"
            ));
        }
    };
    let join = |h: Option<thread::JoinHandle<Vec<u8>>>| {
        h.map(|h| h.join().unwrap_or_default()).unwrap_or_default()
    };
    Ok(Output {
        status,
        stdout: join(stdout),
        stderr: join(stderr),
    })
}

fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        buf
    })
}

/// Wait for `child` at most `timeout`; `None` if it is still running.
fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            _ => return None,
        }
    }
}

/// One `GET /_ping` over the unix socket; `Ok` on `200 OK`.
fn ping(socket: &Path) -> std::result::Result<(), String> {
    let mut stream = UnixStream::connect(socket).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .and_then(|()| stream.set_write_timeout(Some(Duration::from_secs(5))))
        .map_err(|e| format!("set timeout: {e}"))?;
    stream
        .write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|e| format!("read: {e}"))?;
    let response = String::from_utf8_lossy(&response);
    let status_line = response.lines().next().unwrap_or_default();
    if status_line.split(' ').nth(1) == Some("200") {
        Ok(())
    } else {
        let body = response.split("\r\n\r\n").nth(1).unwrap_or_default().trim();
        Err(format!("{status_line} {body}"))
    }
}

fn build_busybox_rootfs(root: &Path) -> Result<()> {
    let io = |what: &str, e: std::io::Error| HarnessError(format!("busybox rootfs: {what}: {e}"));
    let bin = root.join("bin");
    fs::create_dir_all(&bin).map_err(|e| io("mkdir bin", e))?;
    fs::create_dir_all(root.join("etc")).map_err(|e| io("mkdir etc", e))?;
    fs::create_dir_all(root.join("tmp")).map_err(|e| io("mkdir tmp", e))?;
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777))
            .map_err(|e| io("chmod tmp", e))?;
    }
    fs::copy(BUSYBOX, bin.join("busybox")).map_err(|e| io("copy busybox", e))?;
    fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .map_err(|e| io("write passwd", e))?;
    fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n")
        .map_err(|e| io("write group", e))?;

    let list = output_with_timeout(
        {
            let mut cmd = Command::new(BUSYBOX);
            cmd.arg("--list").stdin(Stdio::null());
            cmd
        },
        Duration::from_secs(10),
    )?;
    if !list.status.success() {
        return err(format!("{BUSYBOX} --list failed ({})", list.status));
    }
    for applet in String::from_utf8_lossy(&list.stdout).split_whitespace() {
        if applet == "busybox" || applet.contains('/') {
            continue;
        }
        std::os::unix::fs::symlink("busybox", bin.join(applet))
            .map_err(|e| io(&format!("symlink {applet}"), e))?;
    }
    Ok(())
}

fn effective_uid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    // Uid: real effective saved filesystem
    line.split_whitespace().nth(2)?.parse().ok()
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `dockerd` from PATH, else `/usr/sbin` (not in every user's PATH).
fn find_dockerd() -> Option<PathBuf> {
    find_in_path("dockerd").or_else(|| {
        ["/usr/sbin/dockerd", "/usr/bin/dockerd"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| is_executable(p))
    })
}

/// `$DOCKGATE_TEST_DOCKER_CLI`, else Debian's `/usr/bin/docker` (matches the
/// 20.10 daemon; another `docker` may come first in PATH), else PATH's.
fn find_docker_cli() -> Option<PathBuf> {
    if let Some(cli) = std::env::var_os(DOCKER_CLI_ENV).filter(|s| !s.is_empty()) {
        let cli = PathBuf::from(cli);
        return is_executable(&cli).then_some(cli);
    }
    let debian = PathBuf::from("/usr/bin/docker");
    if is_executable(&debian) {
        return Some(debian);
    }
    find_in_path("docker")
}

/// Whether the ELF file at `path` has no program interpreter (PT_INTERP),
/// i.e. runs in an image without a libc.
fn elf_is_static(path: &Path) -> std::result::Result<bool, String> {
    const PT_INTERP: u32 = 3;
    let data = fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let bad = || "not a 64-bit little-endian ELF file".to_string();
    if data.len() < 64 || &data[..4] != b"\x7fELF" || data[4] != 2 || data[5] != 1 {
        return Err(bad());
    }
    let u16_at = |o: usize| data.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |o: usize| {
        data.get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |o: usize| {
        data.get(o..o + 8).map(|b| {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            u64::from_le_bytes(a)
        })
    };
    let phoff = u64_at(0x20).ok_or_else(bad)? as usize;
    let phentsize = u16_at(0x36).ok_or_else(bad)? as usize;
    let phnum = u16_at(0x38).ok_or_else(bad)? as usize;
    for i in 0..phnum {
        if u32_at(phoff + i * phentsize).ok_or_else(bad)? == PT_INTERP {
            return Ok(false);
        }
    }
    Ok(true)
}
