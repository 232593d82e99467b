//! Docker's plugin protocol over a unix socket: HTTP/1.1 (hyper), one task per connection, so
//! the daemon's concurrent calls (including those caused by the plugin's own Docker API
//! lookups) are served side by side.
//!
//! `POST /Plugin.Activate` → `{"Implements":["authz"]}`; `POST /AuthZPlugin.AuthZReq` and
//! `/AuthZPlugin.AuthZRes` → `{"Allow","Msg","Err"}`. A plugin call body that is not a valid
//! request is answered with `Err` set, which the daemon turns into a denial.

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::UnixListener;

use super::gate::Gate;
use super::protocol::{ACTIVATE_RESPONSE, AuthzRequest, AuthzResponse};

/// Largest plugin call accepted: the daemon passes request bodies up to 1 MiB, base64-encoded
/// (4/3), plus headers and the response body for AuthZRes.
pub const MAX_CALL_BYTES: usize = 8 * 1024 * 1024;

/// The content type of plugin replies.
const CONTENT_TYPE: &str = "application/vnd.docker.plugins.v1.2+json";

/// Why the plugin could not start listening.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The socket path is taken by something that is not a socket.
    #[error("{0}: exists and is not a socket; remove it or choose another --socket")]
    NotASocket(PathBuf),
    /// Another process answers on the socket.
    #[error("{0}: another process is listening on this socket (a running plugin?)")]
    InUse(PathBuf),
    /// An I/O error.
    #[error("{path}: {source}")]
    Io {
        /// The socket path.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

/// Binds `path`: creates its directory, replaces a stale socket, and makes it owner-only
/// (the daemon runs as root).
pub fn bind(path: &Path) -> Result<UnixListener, ServeError> {
    let io_err = |source| ServeError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(io_err)?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(ServeError::InUse(path.to_path_buf()));
            }
            std::fs::remove_file(path).map_err(io_err)?;
        }
        Ok(_) => return Err(ServeError::NotASocket(path.to_path_buf())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(e)),
    }
    let l = UnixListener::bind(path).map_err(io_err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io_err)?;
    Ok(l)
}

/// Serves plugin calls on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: UnixListener,
    gate: Arc<Gate>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(target: "dockgate::authz", error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let gate = gate.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let gate = gate.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(&gate, req).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await
            {
                tracing::debug!(target: "dockgate::authz", error = %e, "plugin connection ended");
            }
        });
    }
}

fn reply(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(CONTENT_TYPE),
    );
    r
}

fn json(resp: &AuthzResponse) -> Response<Full<Bytes>> {
    match serde_json::to_string(resp) {
        Ok(s) => reply(StatusCode::OK, s),
        Err(e) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(r#"{{"Err":"cannot encode the reply: {e}"}}"#),
        ),
    }
}

/// A reply the daemon treats as a plugin failure (and denies).
fn failure(msg: String) -> Response<Full<Bytes>> {
    json(&AuthzResponse {
        allow: false,
        msg: String::new(),
        err: msg,
    })
}

async fn handle(gate: &Gate, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    if req.method() != Method::POST {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            r#"{"Err":"plugin calls are POST"}"#.into(),
        );
    }
    let body = match Limited::new(req.into_body(), MAX_CALL_BYTES)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return failure(format!(
                "dockgate: the plugin call could not be read ({e}); denied"
            ));
        }
    };
    match path.as_str() {
        "/Plugin.Activate" => reply(StatusCode::OK, ACTIVATE_RESPONSE.into()),
        "/AuthZPlugin.AuthZReq" | "/AuthZPlugin.AuthZRes" => {
            let call: AuthzRequest = match serde_json::from_slice(&body) {
                Ok(c) => c,
                Err(e) => {
                    return failure(format!(
                        "dockgate: the plugin call is not a valid AuthZ request ({e}); denied"
                    ));
                }
            };
            let resp = if path == "/AuthZPlugin.AuthZReq" {
                gate.request(&call).await
            } else {
                gate.response(&call).await
            };
            json(&resp)
        }
        _ => reply(
            StatusCode::NOT_FOUND,
            format!(r#"{{"Err":"unknown plugin call {path:?}"}}"#),
        ),
    }
}
