//! The envelope: what is being admitted, from where, by whom.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ContainerSpec;

/// `apiVersion` of the input document this crate produces.
pub const API_VERSION: &str = "dockgate.dev/v1";
/// `kind` of the input document.
pub const KIND: &str = "AdmissionRequest";

/// A plain, hardened container create (nginx, non-root, read-only root filesystem, every
/// capability dropped but one, limits set) as the input document: the server decides it after
/// every load and refuses policies that fail on it; `dockgate bench` sends it.
pub const SAMPLE_REQUEST_JSON: &str = include_str!("sample_request.json");

/// [`SAMPLE_REQUEST_JSON`], parsed.
pub fn sample_request() -> Result<AdmissionRequest, serde_json::Error> {
    serde_json::from_str(SAMPLE_REQUEST_JSON)
}

/// The input document of every policy evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdmissionRequest {
    /// Always `dockgate.dev/v1`.
    #[serde(rename = "apiVersion")]
    #[schemars(extend("const" = "dockgate.dev/v1"))]
    pub api_version: String,
    /// Always `AdmissionRequest`.
    #[schemars(extend("const" = "AdmissionRequest"))]
    pub kind: String,
    /// What is being done.
    pub operation: Operation,
    /// Where the description came from.
    pub source: Source,
    /// Names of the workload, as far as the source knows them.
    pub origin: Origin,
    /// The caller, from the AuthZ request (only with TLS client authentication to dockerd).
    pub user: Option<RequestUser>,
    /// The container as it will run.
    pub container: ContainerSpec,
    /// The exec request, for `EXEC`.
    pub exec: Option<ExecSpec>,
    /// Project-level facts for compose sources (top-level secrets and volumes).
    pub project: Option<ProjectContext>,
}

impl AdmissionRequest {
    /// A request with the fixed `apiVersion`/`kind` and no user, exec or project.
    pub fn new(
        operation: Operation,
        source: Source,
        origin: Origin,
        container: ContainerSpec,
    ) -> Self {
        Self {
            api_version: API_VERSION.to_string(),
            kind: KIND.to_string(),
            operation,
            source,
            origin,
            user: None,
            container,
            exec: None,
            project: None,
        }
    }

    /// A short name for messages: the compose service, else the container name, else the id.
    pub fn subject(&self) -> String {
        let o = &self.origin;
        if let Some(s) = &o.service {
            return format!("service \"{s}\"");
        }
        if let Some(n) = &o.container_name {
            return format!("container \"{}\"", n.trim_start_matches('/'));
        }
        if let Some(id) = &o.container_id {
            return format!("container {}", id.chars().take(12).collect::<String>());
        }
        format!("image \"{}\"", self.container.image)
    }
}

/// What is being done to the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Operation {
    /// `POST /containers/create`.
    Create,
    /// `POST /containers/{id}/start` or `/restart`.
    Start,
    /// `POST /containers/{id}/update`.
    Update,
    /// `POST /containers/{id}/exec`.
    Exec,
    /// A pre-deploy check of a compose file.
    Check,
    /// The controller's audit of a running container.
    Audit,
}

impl Operation {
    /// The wire name (`CREATE`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "CREATE",
            Self::Start => "START",
            Self::Update => "UPDATE",
            Self::Exec => "EXEC",
            Self::Check => "CHECK",
            Self::Audit => "AUDIT",
        }
    }
}

/// Which adapter produced the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A compose file.
    Compose,
    /// The Docker Engine API (create/update body, inspect, exec).
    Engine,
}

/// Names of the workload. Every field is optional: each source knows a different subset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Origin {
    /// The compose file (path as given) that defines the service.
    pub file: Option<String>,
    /// The compose project name (from the file, or the `com.docker.compose.project` label).
    pub project: Option<String>,
    /// The compose service name (or the `com.docker.compose.service` label).
    pub service: Option<String>,
    /// The container name, without a leading `/`.
    pub container_name: Option<String>,
    /// The container id.
    pub container_id: Option<String>,
}

/// The caller, as dockerd authenticated it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestUser {
    /// The user name (the TLS client certificate's common name).
    pub name: String,
    /// How dockerd authenticated it (e.g. `TLS`).
    pub authn_method: Option<String>,
}

/// An exec request (`POST /containers/{id}/exec`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecSpec {
    /// `docker exec --privileged`.
    pub privileged: bool,
    /// `docker exec --user`, or null to run as the container's user.
    pub user: Option<String>,
    /// The command and its arguments.
    pub command: Vec<String>,
    /// Whether a TTY is attached.
    pub tty: bool,
    /// Environment added by the exec (name → value, null for a name without value).
    pub env: BTreeMap<String, Option<String>>,
}

/// Compose project facts that service-level fields cannot carry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectContext {
    /// The project name.
    pub name: String,
    /// Top-level `secrets:` by name.
    pub secrets: BTreeMap<String, ProjectSecret>,
    /// Top-level `volumes:` by name, with the services that mount each.
    pub volumes: BTreeMap<String, ProjectVolume>,
    /// All service names of the project.
    pub services: Vec<String>,
}

/// Where a top-level compose secret comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectSecret {
    /// `file`, `environment`, `content` or `external`.
    pub source: String,
    /// The file path, variable name or external name (never the content).
    pub reference: Option<String>,
    /// The services that use this secret.
    pub used_by: Vec<String>,
}

/// A top-level compose volume.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectVolume {
    /// `external: true`.
    pub external: bool,
    /// The volume driver (`local` when unset).
    pub driver: String,
    /// The services that mount this volume.
    pub used_by: Vec<String>,
}
