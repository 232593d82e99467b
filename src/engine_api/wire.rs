//! The Engine API's JSON shapes, as far as admission needs them, and their decoding.
//!
//! dockerd decodes bodies with Go's `encoding/json`, which matches field names
//! case-insensitively (`"privileged": true` sets `Privileged`). A policy that read only the
//! canonical spelling could be bypassed, so [`canonicalize`] first renames every struct key to
//! its canonical spelling (the last of several spellings wins, and `ſ` and the Kelvin sign fold
//! to `s` and `k`, as in Go) while leaving the keys of map-valued fields (`Labels`, `Tmpfs`,
//! `PortBindings`...) untouched. Decoding then goes
//! through `serde_path_to_error`, so a field of the wrong type is an error naming its path.
//! Unknown fields are ignored; `null` is the same as absent.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

/// Every struct field name the adapter reads, in canonical spelling.
const FIELDS: &[&str] = &[
    "Id",
    "Name",
    "Image",
    "User",
    "Env",
    "Cmd",
    "Entrypoint",
    "Labels",
    "Volumes",
    "ExposedPorts",
    "Healthcheck",
    "Test",
    "Interval",
    "Timeout",
    "Retries",
    "StartPeriod",
    "Config",
    "HostConfig",
    "NetworkingConfig",
    "EndpointsConfig",
    "NetworkSettings",
    "Networks",
    "Binds",
    "Mounts",
    "Type",
    "Source",
    "Target",
    "ReadOnly",
    "BindOptions",
    "Propagation",
    "Tmpfs",
    "PortBindings",
    "HostIp",
    "HostPort",
    "Memory",
    "NanoCpus",
    "CpuQuota",
    "CpuPeriod",
    "CpuShares",
    "PidsLimit",
    "ReadonlyRootfs",
    "Privileged",
    "SecurityOpt",
    "CapAdd",
    "CapDrop",
    "LogConfig",
    "NetworkMode",
    "PidMode",
    "IpcMode",
    "UTSMode",
    "UsernsMode",
    "CgroupParent",
    "Devices",
    "PathOnHost",
    "PathInContainer",
    "CgroupPermissions",
    "Sysctls",
    "RestartPolicy",
    "MaximumRetryCount",
    "Tty",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "Detach",
    "WorkingDir",
    "Capabilities",
];

/// Keys of these fields are data (names, ports, paths), not struct fields.
const MAP_FIELDS: &[&str] = &[
    "Labels",
    "Volumes",
    "ExposedPorts",
    "Tmpfs",
    "Sysctls",
    "Networks",
    "EndpointsConfig",
    "PortBindings",
    "StorageOpt",
    "DriverOpts",
    "Options",
];

/// Renames struct keys to their canonical spelling, recursively (see the module doc).
pub fn canonicalize(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, val) in m {
                let folded = go_fold(k);
                let canon = FIELDS
                    .iter()
                    .find(|f| f.eq_ignore_ascii_case(&folded))
                    .map_or_else(|| k.clone(), |f| (*f).to_string());
                let val = if canon == "Config"
                    && val.is_object()
                    && m.keys().any(|x| x.eq_ignore_ascii_case("Type"))
                {
                    // LogConfig.Config is a map of driver options.
                    val.clone()
                } else if MAP_FIELDS.contains(&canon.as_str()) {
                    map_values(val)
                } else {
                    canonicalize(val)
                };
                out.shift_remove(&canon);
                out.insert(canon, val);
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(canonicalize).collect()),
        other => other.clone(),
    }
}

/// Folds a key as Go's `encoding/json` matches names: ASCII case-insensitively, and with the
/// two non-ASCII letters that fold to ASCII ones (`ſ` U+017F to `s`, the Kelvin sign U+212A
/// to `k`), so `"Bindſ"` is `Binds` to dockerd and must be to us.
fn go_fold(key: &str) -> String {
    key.chars()
        .map(|c| match c {
            '\u{17f}' => 's',
            '\u{212a}' => 'k',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// A map-valued field: keys kept, values canonicalised (they may be structs).
fn map_values(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), canonicalize(x)))
                .collect(),
        ),
        other => canonicalize(other),
    }
}

/// `Cmd`/`Entrypoint`/`Test`: Docker accepts a list or a single string.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum StrSlice {
    /// A list.
    List(Vec<String>),
    /// One string.
    One(String),
}

impl StrSlice {
    /// As a list.
    pub fn into_vec(self) -> Vec<String> {
        match self {
            Self::List(v) => v,
            Self::One(s) => vec![s],
        }
    }
}

/// `Config` of a create body (its fields sit at the top level) or of an inspect.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerConfig {
    pub image: Option<String>,
    pub user: Option<String>,
    pub env: Option<Vec<String>>,
    pub cmd: Option<StrSlice>,
    pub entrypoint: Option<StrSlice>,
    pub labels: Option<BTreeMap<String, String>>,
    pub volumes: Option<BTreeMap<String, Value>>,
    pub healthcheck: Option<HealthConfig>,
}

/// `Healthcheck`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthConfig {
    pub test: Option<StrSlice>,
    pub interval: Option<i64>,
    pub timeout: Option<i64>,
    pub retries: Option<i64>,
    pub start_period: Option<i64>,
}

/// `HostConfig`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    pub binds: Option<Vec<String>>,
    pub mounts: Option<Vec<MountApi>>,
    pub tmpfs: Option<BTreeMap<String, String>>,
    pub port_bindings: Option<BTreeMap<String, Option<Vec<PortBindingApi>>>>,
    pub memory: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<i64>,
    pub cpu_shares: Option<i64>,
    pub pids_limit: Option<i64>,
    pub readonly_rootfs: Option<bool>,
    pub privileged: Option<bool>,
    pub security_opt: Option<Vec<String>>,
    pub cap_add: Option<StrSlice>,
    pub cap_drop: Option<StrSlice>,
    pub log_config: Option<LogConfigApi>,
    pub network_mode: Option<String>,
    pub pid_mode: Option<String>,
    pub ipc_mode: Option<String>,
    #[serde(rename = "UTSMode")]
    pub uts_mode: Option<String>,
    pub userns_mode: Option<String>,
    pub cgroup_parent: Option<String>,
    pub devices: Option<Vec<DeviceApi>>,
    pub sysctls: Option<BTreeMap<String, String>>,
    pub restart_policy: Option<RestartPolicyApi>,
}

/// `HostConfig.Mounts[]`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountApi {
    #[serde(rename = "Type")]
    pub kind: Option<String>,
    pub source: Option<String>,
    pub target: Option<String>,
    pub read_only: Option<bool>,
    pub bind_options: Option<BindOptionsApi>,
}

/// `BindOptions`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct BindOptionsApi {
    pub propagation: Option<String>,
}

/// `PortBindings["80/tcp"][]`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortBindingApi {
    pub host_ip: Option<String>,
    pub host_port: Option<String>,
}

/// `LogConfig`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfigApi {
    #[serde(rename = "Type")]
    pub kind: Option<String>,
    pub config: Option<BTreeMap<String, String>>,
}

/// `Devices[]`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeviceApi {
    pub path_on_host: Option<String>,
    pub path_in_container: Option<String>,
    pub cgroup_permissions: Option<String>,
}

/// `RestartPolicy`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicyApi {
    pub name: Option<String>,
    pub maximum_retry_count: Option<i64>,
}

/// `NetworkingConfig`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkingConfigApi {
    pub endpoints_config: Option<BTreeMap<String, Value>>,
}

/// A create body: `Config` fields at the top level, plus `HostConfig`, `NetworkingConfig`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateBody {
    pub image: Option<String>,
    pub user: Option<String>,
    pub env: Option<Vec<String>>,
    pub cmd: Option<StrSlice>,
    pub entrypoint: Option<StrSlice>,
    pub labels: Option<BTreeMap<String, String>>,
    pub volumes: Option<BTreeMap<String, Value>>,
    pub healthcheck: Option<HealthConfig>,
    pub host_config: Option<HostConfig>,
    pub networking_config: Option<NetworkingConfigApi>,
}

impl CreateBody {
    /// The `Config` part.
    pub fn split(self) -> (ContainerConfig, HostConfig, Vec<String>) {
        let networks = self
            .networking_config
            .and_then(|n| n.endpoints_config)
            .map(|e| e.into_keys().collect())
            .unwrap_or_default();
        (
            ContainerConfig {
                image: self.image,
                user: self.user,
                env: self.env,
                cmd: self.cmd,
                entrypoint: self.entrypoint,
                labels: self.labels,
                volumes: self.volumes,
                healthcheck: self.healthcheck,
            },
            self.host_config.unwrap_or_default(),
            networks,
        )
    }
}

/// `GET /containers/{id}/json` (the parts admission reads).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct InspectBody {
    pub id: Option<String>,
    pub name: Option<String>,
    pub image: Option<String>,
    pub config: Option<ContainerConfig>,
    pub host_config: Option<HostConfig>,
    pub network_settings: Option<NetworkSettingsApi>,
}

/// `NetworkSettings`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkSettingsApi {
    pub networks: Option<BTreeMap<String, Value>>,
}

/// `POST /containers/{id}/update`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UpdateBody {
    pub memory: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<i64>,
    pub cpu_shares: Option<i64>,
    pub pids_limit: Option<i64>,
    pub restart_policy: Option<RestartPolicyApi>,
}

/// `POST /containers/{id}/exec`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecBody {
    pub privileged: Option<bool>,
    pub user: Option<String>,
    pub cmd: Option<StrSlice>,
    pub tty: Option<bool>,
    pub env: Option<Vec<String>>,
}

/// `GET /images/{name}/json` (the parts admission reads).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageInspectBody {
    pub config: Option<ContainerConfig>,
}
