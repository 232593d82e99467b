//! Helpers for the `dockgate serve` tests (`tests/server_*.rs`): the real binary as a child
//! process, clients over TCP, TLS and unix sockets, a test PKI, request builders.
//!
//! Include with `#[path = "support/server.rs"] mod server_support;`.
//!
//! - Every server is a child process killed (and reaped) on drop, so a failing test leaves no
//!   process behind; its stdout and stderr are captured line by line, for the decision log
//!   and for failure messages.
//! - gRPC listeners are started on port 0 and the real address is read from the server's
//!   `gRPC listening` log line, so parallel tests never race for a port.
//! - Compiled modules are cached under the target directory (`DOCKGATE_CACHE_DIR`), so only
//!   the first server of a run compiles the library.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsStr;
use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dockgate::client::ClientTls;
use dockgate::model::{AdmissionRequest, ContainerSpec, ImageRef, Operation, Origin, Source};
use dockgate::server::pb;
use dockgate::server::pb::policy_service_client::PolicyServiceClient;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// How long a server may take to report SERVING. Generous: on a cold cache the first
/// servers of a run compile the policy module (seconds of CPU each, on 2 shared cores).
pub const READY_DEADLINE: Duration = Duration::from_secs(300);
/// Bound of every other wait (exit after a signal, a log line, a reload to show).
pub const WAIT_DEADLINE: Duration = Duration::from_secs(180);
/// The service health reports on.
pub const SERVICE: &str = "dockgate.v1.PolicyService";

/// The module cache shared by every server of the test run.
pub fn cache_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("server-tests-module-cache");
    std::fs::create_dir_all(&dir).expect("create the module cache dir");
    dir
}

/// The `dockgate` binary with a clean environment for the variables it reads.
pub fn dockgate() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dockgate"));
    c.env("NO_COLOR", "1")
        .env("DOCKGATE_CACHE_DIR", cache_dir())
        .env_remove("DOCKGATE_LOG")
        .env_remove("DOCKGATE_SERVER")
        .stdin(Stdio::null());
    c
}

/// A free TCP port on 127.0.0.1 (bound, then released). Only for listeners whose address
/// the server does not log back (the metrics listener).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// Text a child process wrote, shared with the thread that reads it.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<String>>);

impl Captured {
    fn spawn(mut r: impl Read + Send + 'static) -> (Self, std::thread::JoinHandle<()>) {
        let c = Self::default();
        let sink = c.clone();
        let h = std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                match r.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => sink
                        .0
                        .lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n])),
                }
            }
        });
        (c, h)
    }

    /// Everything so far.
    pub fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }

    /// Complete lines so far.
    pub fn lines(&self) -> Vec<String> {
        let t = self.text();
        let complete = match t.rfind('\n') {
            Some(i) => &t[..i],
            None => "",
        };
        complete.lines().map(str::to_string).collect()
    }

    /// Complete lines that are JSON objects.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v.is_object())
            .collect()
    }
}

/// Where the test reaches the server.
#[derive(Clone, Debug)]
pub enum Reach {
    /// The first TCP listener (read from the log), plaintext.
    Http,
    /// The first TCP listener, TLS.
    Https,
    /// A unix socket.
    Unix(PathBuf),
}

/// A running `dockgate serve`.
pub struct Server {
    child: Mutex<Child>,
    pid: u32,
    /// Standard output (JSON logs, the decision log).
    pub stdout: Captured,
    /// Standard error.
    pub stderr: Captured,
    /// The server URI (`http://…`, `https://…`, `unix:///…`).
    pub uri: String,
    /// The first TCP address it listens on, if any.
    pub tcp: Option<SocketAddr>,
    /// The TLS material the default client uses.
    pub tls: ClientTls,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Starts `dockgate serve ARGS` and waits (bounded) until health reports SERVING through
    /// `reach` with `tls`. Panics with the server's output when it exits or never gets ready.
    pub async fn start<S: AsRef<OsStr>>(args: &[S], reach: Reach, tls: ClientTls) -> Self {
        let mut cmd = dockgate();
        cmd.arg("serve").args(args);
        Self::start_cmd(cmd, reach, tls).await
    }

    /// Plaintext on an ephemeral loopback port, plus `args`.
    pub async fn local<S: AsRef<OsStr>>(args: &[S]) -> Self {
        let mut all: Vec<&OsStr> = vec![OsStr::new("--listen"), OsStr::new("127.0.0.1:0")];
        all.extend(args.iter().map(AsRef::as_ref));
        Self::start(&all, Reach::Http, ClientTls::default()).await
    }

    /// Like [`Server::start`], for a prepared command (`dockgate serve …`).
    pub async fn start_cmd(cmd: Command, reach: Reach, tls: ClientTls) -> Self {
        let mut server = Self::spawn(cmd, tls);
        server.wait_ready(reach).await;
        server
    }

    /// Starts a prepared command without waiting for it (see [`Server::wait_ready`]).
    pub fn spawn(mut cmd: Command, tls: ClientTls) -> Self {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn dockgate serve");
        let (stdout, h1) = Captured::spawn(child.stdout.take().expect("stdout"));
        let (stderr, h2) = Captured::spawn(child.stderr.take().expect("stderr"));
        Self {
            pid: child.id(),
            child: Mutex::new(child),
            stdout,
            stderr,
            uri: String::new(),
            tcp: None,
            tls,
            readers: vec![h1, h2],
        }
    }

    /// Waits (bounded) until health reports SERVING through `reach`; sets `uri` and `tcp`.
    pub async fn wait_ready(&mut self, reach: Reach) {
        let deadline = Instant::now() + READY_DEADLINE;
        let mut last_err = String::from("nothing tried yet");
        loop {
            if let Some(status) = self.try_wait() {
                // Let the readers drain the pipes before printing them.
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "dockgate serve exited before it was ready ({status})\n{}",
                    self.logs()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "dockgate serve not SERVING after {READY_DEADLINE:?} (last: {last_err})\n{}",
                    self.logs()
                );
            }
            if self.uri.is_empty() {
                match &reach {
                    Reach::Unix(p) => self.uri = format!("unix://{}", p.display()),
                    Reach::Http | Reach::Https => {
                        if let Some(addr) = self.listening_addrs().first() {
                            let scheme = if matches!(reach, Reach::Https) {
                                "https"
                            } else {
                                "http"
                            };
                            // A wildcard listener is reached through loopback.
                            let connect = if addr.ip().is_unspecified() {
                                SocketAddr::from(([127, 0, 0, 1], addr.port()))
                            } else {
                                *addr
                            };
                            self.tcp = Some(connect);
                            self.uri = format!("{scheme}://{connect}");
                        }
                    }
                }
            }
            if !self.uri.is_empty() {
                match health(&self.uri, &self.tls).await {
                    Ok(ServingStatus::Serving) => return,
                    Ok(s) => last_err = format!("status {}", s.as_str_name()),
                    Err(e) => last_err = e,
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The TCP addresses of the `gRPC listening` log lines.
    pub fn listening_addrs(&self) -> Vec<SocketAddr> {
        self.stdout
            .json_lines()
            .iter()
            .filter(|v| v["message"] == "gRPC listening")
            .filter_map(|v| v["addr"].as_str()?.parse().ok())
            .collect()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The exit status, if the process has exited.
    pub fn try_wait(&self) -> Option<ExitStatus> {
        self.child.lock().unwrap().try_wait().expect("try_wait")
    }

    /// Sends a signal (`HUP`, `TERM`, …) with `kill(1)`.
    pub fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(st.success(), "kill -{sig} {} failed", self.pid());
    }

    /// Waits (bounded) for the process to exit; panics with its output if it does not.
    pub async fn wait_exit(&mut self) -> ExitStatus {
        self.wait_exit_within(WAIT_DEADLINE)
            .await
            .unwrap_or_else(|| {
                panic!(
                    "dockgate serve did not exit within {WAIT_DEADLINE:?}\n{}",
                    self.logs()
                )
            })
    }

    /// Waits up to `limit` for the process to exit (`None`: still running).
    pub async fn wait_exit_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(st) = self.try_wait() {
                for h in self.readers.drain(..) {
                    let _ = h.join();
                }
                return Some(st);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Both outputs, for failure messages.
    pub fn logs(&self) -> String {
        let status = match self.try_wait() {
            Some(st) => format!("exited: {st}"),
            None => "running".to_string(),
        };
        format!(
            "--- server (pid {}, {status}) stdout ---\n{}\n--- server stderr ---\n{}\n---",
            self.pid,
            self.stdout.text(),
            self.stderr.text()
        )
    }

    /// A channel with the server's default TLS material.
    pub async fn channel(&self) -> Channel {
        self.channel_with(&self.tls).await.expect("connect")
    }

    /// A channel with other TLS material.
    pub async fn channel_with(&self, tls: &ClientTls) -> Result<Channel, String> {
        dockgate::client::connect(&self.uri, tls, Duration::from_secs(20))
            .await
            .map_err(|e| e.to_string())
    }

    /// A policy client.
    pub async fn client(&self) -> PolicyServiceClient<Channel> {
        PolicyServiceClient::new(self.channel().await)
    }

    /// Waits (bounded) until `pred` holds for the captured stdout.
    pub async fn wait_stdout(&self, what: &str, pred: impl Fn(&Captured) -> bool) {
        let deadline = Instant::now() + WAIT_DEADLINE;
        while !pred(&self.stdout) {
            if Instant::now() > deadline {
                panic!("never saw {what} in the server output\n{}", self.logs());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Ok(None) = child.try_wait() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The health of the policy service at `uri`.
pub async fn health(uri: &str, tls: &ClientTls) -> Result<ServingStatus, String> {
    let ch = dockgate::client::connect(uri, tls, Duration::from_secs(5))
        .await
        .map_err(|e| e.to_string())?;
    let resp = HealthClient::new(ch)
        .check(HealthCheckRequest {
            service: SERVICE.into(),
        })
        .await
        .map_err(|s| format!("{:?}: {}", s.code(), s.message()))?;
    Ok(resp.into_inner().status())
}

/// The fixtures of the `dockgate check` tests (`tests/fixtures/check/`).
pub fn check_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/check")
}

/// `dockgate ARGS` run in [`check_fixtures`], bounded.
pub fn run_in_check_fixtures(args: &[&str]) -> Output {
    let mut cmd = dockgate();
    cmd.current_dir(check_fixtures()).args(args);
    run_bounded(&mut cmd)
}

/// Runs a command that must finish by itself, within [`WAIT_DEADLINE`]; kills it otherwise.
pub fn run_bounded(cmd: &mut Command) -> Output {
    let desc = format!("{cmd:?}");
    run_bounded_for(cmd, WAIT_DEADLINE)
        .unwrap_or_else(|| panic!("{desc} still running after {WAIT_DEADLINE:?}"))
}

/// Runs a command for at most `limit`: its output, or `None` (killed) if it was still running.
pub fn run_bounded_for(cmd: &mut Command, limit: Duration) -> Option<Output> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let (out, h1) = Captured::spawn(child.stdout.take().expect("stdout"));
    let (err, h2) = Captured::spawn(child.stderr.take().expect("stderr"));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let _ = (h1.join(), h2.join());
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = (h1.join(), h2.join());
    Some(Output {
        status,
        stdout: out.text().into_bytes(),
        stderr: err.text().into_bytes(),
    })
}

/// `GET path` over plain HTTP/1.1; returns (status code, body).
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = String::new();
    BufReader::new(s).read_to_string(&mut raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let code = head
        .lines()
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok((code, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// The value of the Prometheus sample whose name is `name` and whose labels include every
/// `labels` pair (`None` when there is no such sample).
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (series, value) = l.rsplit_once(' ')?;
        let (n, rest) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        if n != name {
            return None;
        }
        let ok = labels
            .iter()
            .all(|(k, v)| rest.split(',').any(|kv| kv == format!("{k}=\"{v}\"")));
        if !ok {
            return None;
        }
        value.parse().ok()
    })
}

// ---------------------------------------------------------------------------------------
// Requests.

/// An Engine API `CREATE` of `image` for a container named `name`, with `env`.
pub fn container(
    name: &str,
    image: &str,
    privileged: bool,
    env: &[(&str, &str)],
) -> AdmissionRequest {
    let spec = ContainerSpec {
        image: image.to_string(),
        image_ref: ImageRef::parse(image).expect("image reference"),
        privileged,
        env: env
            .iter()
            .map(|(k, v)| ((*k).to_string(), Some((*v).to_string())))
            .collect(),
        ..ContainerSpec::default()
    };
    let origin = Origin {
        container_name: Some(name.to_string()),
        ..Origin::default()
    };
    AdmissionRequest::new(Operation::Create, Source::Engine, origin, spec)
}

/// The Evaluate message for `req`.
pub fn evaluate(req: &AdmissionRequest) -> pb::EvaluateRequest {
    pb::EvaluateRequest {
        admission_request_json: serde_json::to_string(req).expect("serialize"),
    }
}

/// A policy (for `--policies`) that spins when the container has the label `spin` (a
/// number: spin² iterations), so calls stay in flight; denies privileged containers
/// (`SLOW-1`). `every` keeps the loop's memory flat (a comprehension of the same size runs
/// into the 256 MiB instance limit).
pub const SLOW_POLICY: &str = r#"package dockgate.main

spin := to_number(input.container.labels.spin)

spin := 0 if not input.container.labels.spin

busy := true if {
	every i in numbers.range(1, spin) {
		every j in numbers.range(1, spin) {
			i * j != -1
		}
	}
} else := false

deny contains {"id": "SLOW-1", "msg": "privileged"} if input.container.privileged

decision := {"deny": deny, "warn": [], "audit": [], "busy": busy}
"#;

/// A privileged container named `name` that makes [`SLOW_POLICY`] spin `spin`² times.
pub fn slow_request(name: &str, spin: u32) -> pb::EvaluateRequest {
    let mut r = container(name, "nginx:1.27-alpine", true, &[]);
    r.container.labels.insert("spin".into(), spin.to_string());
    evaluate(&r)
}

/// A directory `policies/` under a new temp dir holding `main.rego` = `text`.
pub fn policy_dir(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let pol = dir.path().join("policies");
    std::fs::create_dir(&pol).expect("mkdir");
    std::fs::write(pol.join("main.rego"), text).expect("write main.rego");
    (dir, pol)
}

/// Rule ids of a decision's violations.
pub fn violation_ids(d: &pb::Decision) -> Vec<String> {
    d.violations.iter().map(|f| f.rule_id.clone()).collect()
}

// ---------------------------------------------------------------------------------------
// PKI.

/// A test CA, a server certificate for `localhost`/127.0.0.1, and client certificates.
pub struct Pki {
    /// Holds every PEM file.
    pub dir: tempfile::TempDir,
    /// The CA certificate (PEM).
    pub ca: PathBuf,
    /// The server certificate (PEM).
    pub server_cert: PathBuf,
    /// The server key (PEM).
    pub server_key: PathBuf,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl Pki {
    /// A fresh CA and server certificate.
    pub fn new() -> Self {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair, KeyUsagePurpose,
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "dockgate test CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().expect("ca key");
        let ca_cert = ca.self_signed(&ca_key).expect("ca cert");
        let issuer = Issuer::new(ca, ca_key);

        let mut srv =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .expect("server params");
        srv.distinguished_name.push(DnType::CommonName, "localhost");
        srv.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        srv.use_authority_key_identifier_extension = true;
        let srv_key = KeyPair::generate().expect("server key");
        let srv_cert = srv.signed_by(&srv_key, &issuer).expect("server cert");

        let write = |name: &str, pem: String| {
            let p = dir.path().join(name);
            std::fs::write(&p, pem).expect("write pem");
            p
        };
        let ca_path = write("ca.pem", ca_cert.pem());
        let server_cert = write("server.pem", srv_cert.pem());
        let server_key = write("server.key", srv_key.serialize_pem());
        Self {
            ca: ca_path,
            server_cert,
            server_key,
            issuer,
            dir,
        }
    }

    /// A client certificate with common name `cn`, signed by the CA: (cert, key).
    pub fn client(&self, cn: &str) -> (PathBuf, PathBuf) {
        use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair};
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("client params");
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        p.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().expect("client key");
        let cert = p.signed_by(&key, &self.issuer).expect("client cert");
        let c = self.dir.path().join(format!("{cn}.pem"));
        let k = self.dir.path().join(format!("{cn}.key"));
        std::fs::write(&c, cert.pem()).expect("write");
        std::fs::write(&k, key.serialize_pem()).expect("write");
        (c, k)
    }

    /// Client TLS trusting the CA, without a client certificate.
    pub fn trust(&self) -> ClientTls {
        ClientTls {
            ca: Some(self.ca.clone()),
            ..ClientTls::default()
        }
    }

    /// Client TLS trusting the CA, with a client certificate for `cn`.
    pub fn identity(&self, cn: &str) -> ClientTls {
        let (cert, key) = self.client(cn);
        ClientTls {
            ca: Some(self.ca.clone()),
            cert: Some(cert),
            key: Some(key),
            domain: None,
        }
    }

    /// `--tls-cert CERT --tls-key KEY` (and `--client-ca CA` when `mtls`).
    pub fn server_args(&self, mtls: bool) -> Vec<PathBuf> {
        let mut a: Vec<PathBuf> = vec![
            "--tls-cert".into(),
            self.server_cert.clone(),
            "--tls-key".into(),
            self.server_key.clone(),
        ];
        if mtls {
            a.push("--client-ca".into());
            a.push(self.ca.clone());
        }
        a
    }
}
