//! Engine API adapter: Docker Engine API bodies (create, update, inspect, exec, image
//! inspect) → `AdmissionRequest`.
//!
//! The same container described by a compose file and by the create body docker-compose sends
//! for it normalises to the same [`ContainerSpec`](crate::model::ContainerSpec) (the
//! equivalence test checks this against captured bodies). Input is JSON as the daemon
//! receives it, for API versions from 1.41 on: field names match case-insensitively as Go's
//! decoder does ([`wire`]), unknown fields are ignored, and a field present with the wrong
//! type is an error naming it. No I/O and no Docker client here: callers pass bodies.

mod convert;
pub mod wire;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::model::normalize::env_list;
use crate::model::{AdmissionRequest, ExecSpec, ImageConfig, Operation, Origin, Source, json_kind};
use wire::{CreateBody, ExecBody, ImageInspectBody, InspectBody, UpdateBody};

/// Why a body could not be turned into a document.
#[derive(Debug, thiserror::Error)]
pub enum EngineApiError {
    /// Not JSON at all.
    #[error("the {what} body is not valid JSON: {source}")]
    Json {
        /// Which body.
        what: &'static str,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A field has the wrong type or an invalid value.
    #[error("the {what} body: field `{path}`: {message}")]
    Field {
        /// Which body.
        what: &'static str,
        /// The field's path (`HostConfig.Memory`).
        path: String,
        /// What is wrong.
        message: String,
    },
}

const COMPOSE_PROJECT: &str = "com.docker.compose.project";
const COMPOSE_SERVICE: &str = "com.docker.compose.service";

fn decode<T: DeserializeOwned>(what: &'static str, v: &Value) -> Result<T, EngineApiError> {
    if !v.is_object() {
        return Err(EngineApiError::Field {
            what,
            path: "$".into(),
            message: format!("expected a JSON object, found {}", json_kind(v)),
        });
    }
    let canonical = wire::canonicalize(v);
    serde_path_to_error::deserialize(&canonical).map_err(|e| EngineApiError::Field {
        what,
        path: e.path().to_string(),
        message: e.into_inner().to_string(),
    })
}

fn origin(
    labels: &std::collections::BTreeMap<String, String>,
    name: Option<&str>,
    id: Option<&str>,
) -> Origin {
    Origin {
        file: None,
        project: labels.get(COMPOSE_PROJECT).cloned(),
        service: labels.get(COMPOSE_SERVICE).cloned(),
        container_name: name
            .map(|n| n.trim_start_matches('/').to_string())
            .filter(|n| !n.is_empty()),
        container_id: id.map(str::to_string).filter(|i| !i.is_empty()),
    }
}

/// Parses raw body bytes as JSON.
pub fn parse_body(what: &'static str, body: &[u8]) -> Result<Value, EngineApiError> {
    serde_json::from_slice(body).map_err(|source| EngineApiError::Json { what, source })
}

/// `POST /containers/create?name=...` → a `CREATE` document.
pub fn from_create(body: &Value, name: Option<&str>) -> Result<AdmissionRequest, EngineApiError> {
    let body: CreateBody = decode("container create", body)?;
    let (config, host, networks) = body.split();
    let spec = convert::spec("container create", config, host, networks)?;
    let origin = origin(&spec.labels, name, None);
    Ok(AdmissionRequest::new(
        Operation::Create,
        Source::Engine,
        origin,
        spec,
    ))
}

/// [`from_create`] from raw bytes.
pub fn from_create_bytes(
    body: &[u8],
    name: Option<&str>,
) -> Result<AdmissionRequest, EngineApiError> {
    from_create(&parse_body("container create", body)?, name)
}

/// `GET /containers/{id}/json` → a document for `operation` (`START`, `AUDIT`...).
pub fn from_inspect(
    inspect: &Value,
    operation: Operation,
) -> Result<AdmissionRequest, EngineApiError> {
    let body: InspectBody = decode("container inspect", inspect)?;
    let mut config = body.config.unwrap_or_default();
    if config.image.as_deref().is_none_or(str::is_empty) {
        config.image = body.image.clone();
    }
    let networks = body
        .network_settings
        .and_then(|n| n.networks)
        .map(|n| n.into_keys().collect())
        .unwrap_or_default();
    let spec = convert::spec(
        "container inspect",
        config,
        body.host_config.unwrap_or_default(),
        networks,
    )?;
    let origin = origin(&spec.labels, body.name.as_deref(), body.id.as_deref());
    Ok(AdmissionRequest::new(
        operation,
        Source::Engine,
        origin,
        spec,
    ))
}

/// `POST /containers/{id}/update` merged onto the container's inspect → an `UPDATE`
/// document showing the container as it will be after the update.
///
/// The daemon's update semantics: the CLI sends every resource field, and a zero means
/// "unchanged" (memory, CPUs, CPU shares), as does a restart policy without a name. A
/// negative memory or CPU quota, and a pids limit of zero or less, lift the limit.
pub fn from_update(inspect: &Value, update: &Value) -> Result<AdmissionRequest, EngineApiError> {
    let mut req = from_inspect(inspect, Operation::Update)?;
    let u: UpdateBody = decode("container update", update)?;
    let r = &mut req.container.resources;
    if let Some(m) = u.memory.filter(|m| *m != 0) {
        r.memory_bytes = (m > 0).then_some(m);
    }
    if let Some(n) = u.nano_cpus.filter(|n| *n != 0) {
        r.nano_cpus = (n > 0).then_some(n);
    } else if let Some(q) = u.cpu_quota.filter(|q| *q != 0) {
        let period = u.cpu_period.filter(|p| *p > 0).unwrap_or(100_000);
        r.nano_cpus = (q > 0).then(|| q.saturating_mul(1_000_000_000) / period);
    }
    if let Some(s) = u.cpu_shares.filter(|s| *s != 0) {
        r.cpu_shares = Some(s);
    }
    if let Some(p) = u.pids_limit {
        r.pids_limit = (p > 0).then_some(p);
    }
    if u.restart_policy
        .as_ref()
        .is_some_and(|p| p.name.as_deref().is_some_and(|n| !n.is_empty()))
    {
        req.container.restart_policy = convert::restart(u.restart_policy);
    }
    Ok(req)
}

/// `POST /containers/{id}/exec` with the target container's inspect → an `EXEC` document.
pub fn from_exec(
    exec: &Value,
    container_inspect: &Value,
) -> Result<AdmissionRequest, EngineApiError> {
    let mut req = from_inspect(container_inspect, Operation::Exec)?;
    let e: ExecBody = decode("exec create", exec)?;
    req.exec = Some(ExecSpec {
        privileged: e.privileged.unwrap_or(false),
        user: e.user.filter(|u| !u.is_empty()),
        command: e.cmd.map(|c| c.into_vec()).unwrap_or_default(),
        tty: e.tty.unwrap_or(false),
        env: env_list(e.env.unwrap_or_default().iter().map(String::as_str)),
    });
    Ok(req)
}

/// Records what the image configures (`GET /images/{name}/json`): its `USER` and
/// `HEALTHCHECK`, which apply when the container sets none.
pub fn apply_image_inspect(
    req: &mut AdmissionRequest,
    image_inspect: &Value,
) -> Result<(), EngineApiError> {
    let body: ImageInspectBody = decode("image inspect", image_inspect)?;
    let config = body.config.unwrap_or_default();
    req.container.image_config = Some(ImageConfig {
        user: config.user.filter(|u| !u.is_empty()),
        healthcheck: config.healthcheck.and_then(convert::healthcheck),
    });
    Ok(())
}
