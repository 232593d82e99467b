//! `dockgate doctor`: is admission control actually enforced on this host?
//!
//! A Docker authorization plugin that is installed but not in the daemon's chain, or in the
//! chain but not answering, or answering but talking to a server with no policies, looks the
//! same from the outside until a bad container starts. Doctor asks each link in turn:
//!
//! 1. the daemon (bollard `GET /info`): reachable, and which authorization plugins it calls;
//! 2. the plugin: where Docker finds its socket (the same discovery Docker does), whether it
//!    answers `Plugin.Activate` as an `authz` plugin, always allows a read-only call (lockout
//!    protection) and denies a privileged create (enforcement);
//! 3. the policy server: health SERVING and which bundle revision and profile it serves.
//!
//! Every failed check prints what is wrong and how to fix it; the exit code is 0 when all
//! pass, 1 when any fails.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use base64::Engine as _;
use bollard::Docker;
use dockgate::client::connect;
use dockgate::server::pb::GetPolicyInfoRequest;
use dockgate::server::pb::policy_service_client::PolicyServiceClient;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use super::ServerArgs;

/// Where Docker looks for plugin sockets and spec files, in its own order.
const PLUGIN_SOCKET_DIR: &str = "/run/docker/plugins";
const PLUGIN_SPEC_DIRS: [&str; 2] = ["/etc/docker/plugins", "/usr/lib/docker/plugins"];
/// How long each probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest reply read from the plugin socket.
const MAX_PLUGIN_REPLY: usize = 64 * 1024;

/// Check that the daemon calls the dockgate plugin, the plugin answers and enforces, and the
/// policy server is serving.
#[derive(clap::Args)]
pub struct Args {
    /// The Docker daemon: unix:///PATH (default: $DOCKER_HOST or /var/run/docker.sock).
    #[arg(
        long,
        env = "DOCKER_HOST",
        default_value = "unix:///var/run/docker.sock"
    )]
    docker_host: String,
    /// The plugin's name in the daemon's `authorization-plugins`.
    #[arg(long, default_value = "dockgate")]
    plugin: String,
    /// The plugin's socket, when it is not where Docker's plugin discovery finds it.
    #[arg(long)]
    plugin_socket: Option<PathBuf>,
    #[command(flatten)]
    server: ServerArgs,
}

/// The outcome of one check.
struct Check {
    name: &'static str,
    result: Result<String, Problem>,
}

/// A failed check: what is wrong and how to fix it.
struct Problem {
    what: String,
    fix: String,
}

fn problem(what: impl Into<String>, fix: impl Into<String>) -> Problem {
    Problem {
        what: what.into(),
        fix: fix.into(),
    }
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut checks = Vec::new();

    // 1. The daemon and its authorization chain.
    let chain = match daemon_info(&args.docker_host).await {
        Ok((version, chain)) => {
            checks.push(Check {
                name: "docker daemon",
                result: Ok(format!("{}: Docker {version}", args.docker_host)),
            });
            Some(chain)
        }
        Err(p) => {
            checks.push(Check {
                name: "docker daemon",
                result: Err(p),
            });
            None
        }
    };
    if let Some(chain) = &chain {
        checks.push(Check {
            name: "authorization chain",
            result: chain_check(chain, &args.plugin),
        });
    }

    // 2. The plugin's socket.
    let socket = match &args.plugin_socket {
        Some(p) => Ok(p.clone()),
        None => discover_plugin_socket(&args.plugin),
    };
    match socket {
        Err(p) => checks.push(Check {
            name: "plugin socket",
            result: Err(p),
        }),
        Ok(socket) => {
            checks.extend(plugin_checks(&socket).await);
        }
    }

    // 3. The policy server.
    checks.extend(server_checks(&args.server).await);

    let mut failed = 0;
    for c in &checks {
        match &c.result {
            Ok(detail) => println!("ok    {:<22} {detail}", c.name),
            Err(p) => {
                failed += 1;
                println!("FAIL  {:<22} {}", c.name, p.what);
                println!("      {:<22} fix: {}", "", p.fix);
            }
        }
    }
    if failed == 0 {
        println!(
            "all {} checks passed: admission control is enforced",
            checks.len()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{failed} of {} checks failed", checks.len());
        Ok(ExitCode::from(1))
    }
}

/// The daemon's version and its authorization plugins.
async fn daemon_info(host: &str) -> Result<(String, Vec<String>), Problem> {
    let unreachable = |e: String| {
        problem(
            format!("cannot reach the Docker daemon at {host}: {e}"),
            "start dockerd, or point --docker-host / DOCKER_HOST at its socket (unix:///PATH)",
        )
    };
    let path = host.strip_prefix("unix://").ok_or_else(|| {
        problem(
            format!("unsupported Docker host {host}"),
            "doctor talks to the local daemon: use unix:///PATH",
        )
    })?;
    let docker = Docker::connect_with_unix(path, 5, bollard::API_DEFAULT_VERSION)
        .map_err(|e| unreachable(e.to_string()))?;
    let info = tokio::time::timeout(PROBE_TIMEOUT, docker.info())
        .await
        .map_err(|_| unreachable(format!("no answer within {PROBE_TIMEOUT:?}")))?
        .map_err(|e| unreachable(e.to_string()))?;
    let version = info
        .server_version
        .unwrap_or_else(|| "(unknown version)".into());
    let chain = info
        .plugins
        .and_then(|p| p.authorization)
        .unwrap_or_default();
    Ok((version, chain))
}

/// Is the plugin in the daemon's chain? A managed plugin appears as `NAME:TAG`.
fn chain_check(chain: &[String], plugin: &str) -> Result<String, Problem> {
    let listed = chain.iter().any(|p| {
        p == plugin
            || p.strip_prefix(plugin)
                .is_some_and(|rest| rest.starts_with(':'))
    });
    if listed {
        Ok(format!("the daemon calls {}", chain.join(", ")))
    } else {
        let now = if chain.is_empty() {
            "none".to_string()
        } else {
            chain.join(", ")
        };
        Err(problem(
            format!(
                "{plugin} is not in the daemon's authorization plugins ({now}): nothing is enforced"
            ),
            format!(
                "add \"authorization-plugins\": [\"{plugin}\"] to /etc/docker/daemon.json \
                 (see deploy/daemon.json) and reload dockerd (systemctl reload docker)"
            ),
        ))
    }
}

/// Finds the plugin's socket as Docker's plugin discovery does: a socket in
/// `/run/docker/plugins`, else a `.spec` (a URL) or `.json` (`{"Addr": URL}`) file.
fn discover_plugin_socket(plugin: &str) -> Result<PathBuf, Problem> {
    let base = Path::new(PLUGIN_SOCKET_DIR);
    for candidate in [
        base.join(format!("{plugin}.sock")),
        base.join(plugin).join(format!("{plugin}.sock")),
    ] {
        if candidate.exists() {
            return Ok(candidate);
        }
    }
    for dir in PLUGIN_SPEC_DIRS {
        for ext in ["spec", "json"] {
            let spec = Path::new(dir).join(format!("{plugin}.{ext}"));
            let Ok(text) = std::fs::read_to_string(&spec) else {
                continue;
            };
            let addr = if ext == "json" {
                serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| v.get("Addr").and_then(|a| a.as_str()).map(str::to_owned))
                    .unwrap_or_default()
            } else {
                text.trim().to_string()
            };
            return match addr.strip_prefix("unix://") {
                Some(path) if !path.is_empty() => Ok(PathBuf::from(path)),
                _ => Err(problem(
                    format!("{} names {addr:?}, not a unix socket", spec.display()),
                    "write the plugin's socket URL into it, e.g. \
                     unix:///run/docker/plugins/dockgate.sock",
                )),
            };
        }
    }
    Err(problem(
        format!(
            "Docker cannot find the {plugin} plugin: no {PLUGIN_SOCKET_DIR}/{plugin}.sock and no \
             {plugin}.spec or {plugin}.json in {}",
            PLUGIN_SPEC_DIRS.join(" or ")
        ),
        "start `dockgate authz` (deploy/systemd/dockgate-authz.service), which listens on \
         /run/docker/plugins/dockgate.sock by default",
    ))
}

/// Activation, lockout protection and enforcement, asked of the plugin's socket.
async fn plugin_checks(socket: &Path) -> Vec<Check> {
    let mut checks = Vec::new();
    let shown = socket.display();
    match plugin_call(socket, "/Plugin.Activate", "{}").await {
        Err(e) => {
            checks.push(Check {
                name: "plugin socket",
                result: Err(problem(
                    format!("{shown} does not answer: {e}"),
                    "start `dockgate authz` (deploy/systemd/dockgate-authz.service); while the daemon \
                     lists the plugin and it is down, the daemon refuses its API calls",
                )),
            });
            return checks;
        }
        Ok(reply) => {
            let implements = reply
                .get("Implements")
                .and_then(|v| v.as_array())
                .is_some_and(|a| a.iter().any(|i| i == "authz"));
            checks.push(Check {
                name: "plugin socket",
                result: if implements {
                    Ok(format!("{shown} answers as an authz plugin"))
                } else {
                    Err(problem(
                        format!("{shown} answers, but not as an authz plugin: {reply}"),
                        "point the spec file at `dockgate authz`'s socket",
                    ))
                },
            });
            if !implements {
                return checks;
            }
        }
    }

    // A read-only call is always allowed, whatever the server says.
    let ping = serde_json::json!({"RequestMethod": "GET", "RequestUri": "/v1.41/_ping"});
    checks.push(Check {
        name: "lockout protection",
        result: match authz_req(socket, &ping).await {
            Ok((true, _)) => Ok("GET /_ping is allowed".into()),
            Ok((false, msg)) => Err(problem(
                format!("the plugin denies GET /_ping: {msg}"),
                "this plugin build does not protect read-only calls; upgrade dockgate",
            )),
            Err(e) => Err(problem(
                format!("AuthZReq failed: {e}"),
                "see the plugin's log (journalctl -u dockgate-authz)",
            )),
        },
    });

    // A privileged create must be denied: the whole chain plugin → server → policy works.
    let body =
        serde_json::json!({"Image": "dockgate-doctor-probe", "HostConfig": {"Privileged": true}});
    let create = serde_json::json!({
        "RequestMethod": "POST",
        "RequestUri": "/v1.41/containers/create?name=dockgate-doctor-probe",
        "RequestBody": base64::engine::general_purpose::STANDARD.encode(body.to_string()),
    });
    checks.push(Check {
        name: "enforcement",
        result: match authz_req(socket, &create).await {
            Ok((false, msg)) if msg.contains("DG-") => {
                Ok("a privileged create is denied by policy".into())
            }
            Ok((false, msg)) => Err(problem(
                format!("a privileged create is denied, but not by a policy: {msg}"),
                "the plugin cannot reach a serving policy server: check its --server and the \
                 server's health below",
            )),
            Ok((true, _)) => Err(problem(
                "a privileged create is ALLOWED",
                "the server's policies do not forbid privileged containers: check its bundle \
                 and profile (dockgate serve --profile baseline|restricted)",
            )),
            Err(e) => Err(problem(
                format!("AuthZReq failed: {e}"),
                "see the plugin's log (journalctl -u dockgate-authz)",
            )),
        },
    });
    checks
}

/// An AuthZReq to the plugin: (Allow, Msg).
async fn authz_req(socket: &Path, req: &serde_json::Value) -> anyhow::Result<(bool, String)> {
    let reply = plugin_call(socket, "/AuthZPlugin.AuthZReq", &req.to_string()).await?;
    let allow = reply
        .get("Allow")
        .and_then(|v| v.as_bool())
        .ok_or_else(|| anyhow::anyhow!("reply without Allow: {reply}"))?;
    let msg = reply
        .get("Msg")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string();
    Ok((allow, msg))
}

/// One plugin-protocol call over the unix socket, as the daemon makes it.
async fn plugin_call(socket: &Path, path: &str, body: &str) -> anyhow::Result<serde_json::Value> {
    let call = async {
        let stream = tokio::net::UnixStream::connect(socket).await?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        let req = hyper::Request::post(path)
            .header(hyper::header::HOST, "plugin")
            .header(
                hyper::header::ACCEPT,
                "application/vnd.docker.plugins.v1.2+json",
            )
            .body(Full::new(Bytes::from(body.to_owned())))?;
        let resp = sender.send_request(req).await?;
        let status = resp.status();
        let limited = http_body_util::Limited::new(resp.into_body(), MAX_PLUGIN_REPLY);
        let bytes = limited
            .collect()
            .await
            .map_err(|e| anyhow::anyhow!("reading the reply: {e}"))?
            .to_bytes();
        if !status.is_success() {
            anyhow::bail!("HTTP {status}: {}", String::from_utf8_lossy(&bytes));
        }
        Ok(serde_json::from_slice(&bytes)?)
    };
    tokio::time::timeout(PROBE_TIMEOUT, call)
        .await
        .map_err(|_| anyhow::anyhow!("no answer within {PROBE_TIMEOUT:?}"))?
}

/// Health and policy info of the server.
async fn server_checks(server: &ServerArgs) -> Vec<Check> {
    let uri = &server.server;
    let channel = match connect(uri, &server.tls(), PROBE_TIMEOUT).await {
        Ok(c) => c,
        Err(e) => {
            return vec![Check {
                name: "policy server",
                result: Err(problem(
                    e.to_string(),
                    "start `dockgate serve` (deploy/systemd/dockgate-server.service) or pass --server URI",
                )),
            }];
        }
    };
    let mut checks = Vec::new();
    let health = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: "dockgate.v1.PolicyService".into(),
        })
        .await;
    checks.push(Check {
        name: "policy server",
        result: match health.map(|r| r.into_inner().status()) {
            Ok(ServingStatus::Serving) => Ok(format!("{uri} is SERVING")),
            Ok(other) => Err(problem(
                format!("{uri} is {}", other.as_str_name()),
                "its policies are not loaded: see the server's log",
            )),
            Err(e) => Err(problem(
                format!("{uri} health check failed: {}", e.message()),
                "check the server's address and TLS options (--ca, --cert, --key)",
            )),
        },
    });
    match PolicyServiceClient::new(channel)
        .get_policy_info(GetPolicyInfoRequest {})
        .await
    {
        Ok(info) => {
            let info = info.into_inner();
            let profile = if info.profile.is_empty() {
                "no profile".to_string()
            } else {
                format!("profile {}", info.profile)
            };
            let mut detail = format!(
                "revision {} from {} ({profile})",
                info.revision, info.origin
            );
            let result = if info.last_reload_error.is_empty() {
                Ok(detail)
            } else {
                detail.push_str(&format!(
                    "; the last reload failed: {}",
                    info.last_reload_error
                ));
                Err(problem(
                    detail,
                    "fix the bundle or policies; the server keeps serving the previous revision",
                ))
            };
            checks.push(Check {
                name: "policies",
                result,
            });
        }
        Err(e) => checks.push(Check {
            name: "policies",
            result: Err(problem(
                format!("GetPolicyInfo failed: {}", e.message()),
                "check the server's log",
            )),
        }),
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_lists_plain_and_managed_names() {
        assert!(chain_check(&["dockgate".into()], "dockgate").is_ok());
        assert!(chain_check(&["other".into(), "dockgate:latest".into()], "dockgate").is_ok());
        let err = chain_check(&["dockgatex".into()], "dockgate").expect_err("not listed");
        assert!(err.what.contains("nothing is enforced"), "{}", err.what);
        let err = chain_check(&[], "dockgate").expect_err("empty chain");
        assert!(err.what.contains("(none)"), "{}", err.what);
        assert!(err.fix.contains("authorization-plugins"), "{}", err.fix);
    }
}
