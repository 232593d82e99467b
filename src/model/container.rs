//! `ContainerSpec`: the container as it will run, normalised.
//!
//! Conventions, so that policies need no per-source cases: field names are snake_case;
//! defaults are explicit (`privileged: false`, `network_mode: ""`); sizes are bytes, CPU is
//! nano-CPUs, durations are nanoseconds; capabilities are upper case without `CAP_`; security
//! options are `key=value`; unset optional limits are `null`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ImageRef;

/// The normalised container configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainerSpec {
    /// The image reference as written.
    pub image: String,
    /// The parsed and normalised reference (`docker.io/library/` added as Docker does).
    pub image_ref: ImageRef,
    /// `user` / `--user`, or null when the container sets none (the image's user applies).
    pub user: Option<String>,
    /// `privileged` / `--privileged`.
    pub privileged: bool,
    /// `read_only` / `--read-only`.
    pub read_only: bool,
    /// Added capabilities (upper case, no `CAP_` prefix; `ALL` kept as `ALL`).
    pub cap_add: Vec<String>,
    /// Dropped capabilities (same normalisation).
    pub cap_drop: Vec<String>,
    /// Security options as `key=value` (`key:value` normalised), or a bare flag such as
    /// `no-new-privileges`.
    pub security_opt: Vec<String>,
    /// `host`, `none`, `bridge`, `default`, `container:<id>`, a network name, or `""`.
    pub network_mode: String,
    /// `host`, `container:<id>`, or `""`.
    pub pid_mode: String,
    /// `host`, `private`, `shareable`, `none`, `container:<id>`, or `""`.
    pub ipc_mode: String,
    /// `host` or `""`.
    pub uts_mode: String,
    /// `host` or `""`.
    pub userns_mode: String,
    /// The cgroup parent, or `""`.
    pub cgroup_parent: String,
    /// Environment: name → value, null for a name given without a value.
    pub env: BTreeMap<String, Option<String>>,
    /// Bind mounts, volumes and tmpfs mounts, in one list.
    pub mounts: Vec<Mount>,
    /// Published ports, one entry per port (ranges expanded).
    pub ports: Vec<PortBinding>,
    /// Host devices mapped into the container.
    pub devices: Vec<DeviceMapping>,
    /// Namespaced kernel parameters.
    pub sysctls: BTreeMap<String, String>,
    /// Resource limits.
    pub resources: Resources,
    /// The logging driver and its options.
    pub logging: Logging,
    /// The container's healthcheck, or null when it sets none.
    pub healthcheck: Option<Healthcheck>,
    /// The restart policy (`name` is `no` when unset).
    pub restart_policy: RestartPolicy,
    /// Compose secrets mounted as files.
    pub secrets: Vec<SecretMount>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Entrypoint override, or null.
    pub entrypoint: Option<Vec<String>>,
    /// Command override, or null.
    pub command: Option<Vec<String>>,
    /// Networks the container joins (compose `networks:`, Engine `NetworkingConfig`).
    pub networks: Vec<String>,
    /// Build-time facts (compose `build:` only).
    pub build: Option<BuildSpec>,
    /// What the image itself configures, when the adapter inspected it (START, AUDIT).
    pub image_config: Option<ImageConfig>,
}

/// One mount.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Mount {
    /// `bind`, `volume`, `tmpfs`, `npipe` or `cluster`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Host path (bind), volume name (volume; `""` for anonymous), `""` for tmpfs.
    pub source: String,
    /// Path inside the container.
    pub target: String,
    /// Mounted read-only.
    pub read_only: bool,
    /// Bind propagation (`private`, `rprivate`, `shared`, `rshared`, `slave`, `rslave`), or
    /// `""` when unset.
    pub propagation: String,
}

/// One published port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PortBinding {
    /// The host address, `""` when unset (all interfaces).
    pub host_ip: String,
    /// The host port, or null when Docker picks one.
    pub host_port: Option<u16>,
    /// The container port.
    pub container_port: u16,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
}

/// A host device mapping.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceMapping {
    /// Path on the host.
    pub host_path: String,
    /// Path in the container.
    pub container_path: String,
    /// cgroup permissions, e.g. `rwm`.
    pub permissions: String,
}

/// Resource limits; null means unset (unlimited).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// Memory limit in bytes.
    pub memory_bytes: Option<i64>,
    /// CPU limit in units of 10^-9 CPUs (`cpus: 0.5` is 500000000).
    pub nano_cpus: Option<i64>,
    /// Maximum number of processes.
    pub pids_limit: Option<i64>,
    /// Relative CPU weight.
    pub cpu_shares: Option<i64>,
}

/// Logging configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Logging {
    /// The driver, `""` when unset (the daemon's default applies).
    pub driver: String,
    /// Driver options.
    pub options: BTreeMap<String, String>,
}

/// A healthcheck.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Healthcheck {
    /// The test in Docker's form: `["CMD", ...]`, `["CMD-SHELL", "..."]` or `["NONE"]`.
    pub test: Vec<String>,
    /// True when the healthcheck is disabled (`disable: true` or test `NONE`).
    pub disabled: bool,
    /// Interval in nanoseconds, or null.
    pub interval_ns: Option<i64>,
    /// Timeout in nanoseconds, or null.
    pub timeout_ns: Option<i64>,
    /// Retries, or null.
    pub retries: Option<i64>,
    /// Start period in nanoseconds, or null.
    pub start_period_ns: Option<i64>,
}

/// Restart policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RestartPolicy {
    /// `no`, `always`, `unless-stopped` or `on-failure`.
    pub name: String,
    /// Maximum retries for `on-failure` (0 = unlimited).
    pub max_retries: i64,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            name: "no".to_string(),
            max_retries: 0,
        }
    }
}

/// A compose secret mounted into the container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretMount {
    /// The top-level secret name.
    pub source: String,
    /// The path in the container (`/run/secrets/<source>` by default).
    pub target: String,
}

/// Build-time facts of a compose service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BuildSpec {
    /// Build context.
    pub context: String,
    /// Dockerfile, when set.
    pub dockerfile: Option<String>,
    /// Build arguments (name → value, null for a name without value).
    pub args: BTreeMap<String, Option<String>>,
}

/// What the image configures, known only after an image inspect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageConfig {
    /// The image's `USER`, or null when it sets none (root).
    pub user: Option<String>,
    /// The image's `HEALTHCHECK`, or null.
    pub healthcheck: Option<Healthcheck>,
}
