//! Connecting to a dockgate server named by a URI: `http://HOST:PORT`, `https://HOST:PORT`
//! or `unix:///PATH`, with optional TLS (CA, client certificate for mTLS).

use std::path::PathBuf;
use std::time::Duration;

use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// Why a connection could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URI is not one of the accepted forms.
    #[error("invalid server URI {0:?}: use http://HOST:PORT, https://HOST:PORT or unix:///PATH")]
    Uri(String),
    /// A TLS file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The transport failed.
    #[error("cannot connect to {uri}: {message}")]
    Connect {
        /// The server.
        uri: String,
        /// Why.
        message: String,
    },
}

/// TLS material of a client.
#[derive(Debug, Clone, Default)]
pub struct ClientTls {
    /// CA that signed the server's certificate (PEM); default: none (https then fails).
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM), for mTLS.
    pub cert: Option<PathBuf>,
    /// Client key (PEM), for mTLS.
    pub key: Option<PathBuf>,
    /// Expected server name, when it differs from the URI's host.
    pub domain: Option<String>,
}

fn read(p: &PathBuf) -> Result<Vec<u8>, ClientError> {
    std::fs::read(p).map_err(|source| ClientError::Io {
        path: p.display().to_string(),
        source,
    })
}

/// An endpoint for `uri` (lazy: nothing is connected yet).
pub fn endpoint(
    uri: &str,
    tls: &ClientTls,
    timeout: Duration,
) -> Result<(Endpoint, Option<PathBuf>), ClientError> {
    if let Some(path) = uri.strip_prefix("unix://") {
        if path.is_empty() || !path.starts_with('/') {
            return Err(ClientError::Uri(uri.to_string()));
        }
        // The authority is ignored by the connector below.
        let ep = Endpoint::from_static("http://localhost")
            .connect_timeout(timeout)
            .timeout(timeout);
        return Ok((ep, Some(PathBuf::from(path))));
    }
    if !(uri.starts_with("http://") || uri.starts_with("https://")) {
        return Err(ClientError::Uri(uri.to_string()));
    }
    let mut ep = Endpoint::from_shared(uri.to_string())
        .map_err(|_| ClientError::Uri(uri.to_string()))?
        .connect_timeout(timeout)
        .timeout(timeout);
    if uri.starts_with("https://") {
        let mut t = ClientTlsConfig::new();
        if let Some(ca) = &tls.ca {
            t = t.ca_certificate(Certificate::from_pem(read(ca)?));
        }
        if let (Some(c), Some(k)) = (&tls.cert, &tls.key) {
            t = t.identity(Identity::from_pem(read(c)?, read(k)?));
        }
        if let Some(d) = &tls.domain {
            t = t.domain_name(d.clone());
        }
        ep = ep.tls_config(t).map_err(|e| ClientError::Connect {
            uri: uri.to_string(),
            message: e.to_string(),
        })?;
    }
    Ok((ep, None))
}

/// Connects to `uri`.
pub async fn connect(
    uri: &str,
    tls: &ClientTls,
    timeout: Duration,
) -> Result<Channel, ClientError> {
    let (ep, socket) = endpoint(uri, tls, timeout)?;
    let err = |e: tonic::transport::Error| ClientError::Connect {
        uri: uri.to_string(),
        message: format!(
            "{e}: {}",
            std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_default()
        ),
    };
    match socket {
        Some(path) => ep
            .connect_with_connector(tower::service_fn(move |_| {
                let path = path.clone();
                async move {
                    let s = tokio::net::UnixStream::connect(path).await?;
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(s))
                }
            }))
            .await
            .map_err(err),
        None => ep.connect().await.map_err(err),
    }
}
