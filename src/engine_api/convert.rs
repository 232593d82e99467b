//! Decoded Engine API structs → [`ContainerSpec`], by the document's conventions.
//!
//! Zero means "unset" where the daemon treats it so (`Memory: 0`, `NanoCpus: 0`,
//! `PidsLimit: 0` or `-1`, healthcheck durations of 0); CPU limits given as
//! `CpuQuota`/`CpuPeriod` become nano-CPUs; `Binds` strings are parsed as the daemon parses
//! them; `Config.Volumes` entries that a bind, mount or tmpfs already covers are not repeated.

use super::EngineApiError;
use super::wire::{ContainerConfig, HealthConfig, HostConfig, PortBindingApi, RestartPolicyApi};
use crate::model::normalize::{bind_string, capability, env_list, security_opt, tmpfs_read_only};
use crate::model::{
    ContainerSpec, DeviceMapping, Healthcheck, ImageRef, Logging, Mount, PortBinding, Resources,
    RestartPolicy,
};

/// Builds the spec from the `Config` and `HostConfig` parts and the joined networks.
pub fn spec(
    what: &'static str,
    config: ContainerConfig,
    host: HostConfig,
    networks: Vec<String>,
) -> Result<ContainerSpec, EngineApiError> {
    let image = config.image.unwrap_or_default();
    let image_ref = image_ref(what, &image)?;
    let mut mounts: Vec<Mount> = host
        .binds
        .unwrap_or_default()
        .iter()
        .map(|b| bind_string(b))
        .collect();
    for m in host.mounts.unwrap_or_default() {
        mounts.push(Mount {
            kind: m.kind.unwrap_or_default().to_ascii_lowercase(),
            source: m.source.unwrap_or_default(),
            target: m.target.unwrap_or_default(),
            read_only: m.read_only.unwrap_or(false),
            propagation: m
                .bind_options
                .and_then(|b| b.propagation)
                .unwrap_or_default(),
        });
    }
    for (target, opts) in host.tmpfs.unwrap_or_default() {
        mounts.push(Mount {
            kind: "tmpfs".into(),
            source: String::new(),
            target,
            read_only: tmpfs_read_only(&opts),
            propagation: String::new(),
        });
    }
    for target in config.volumes.unwrap_or_default().into_keys() {
        if !mounts.iter().any(|m| m.target == target) {
            mounts.push(Mount {
                kind: "volume".into(),
                source: String::new(),
                target,
                read_only: false,
                propagation: String::new(),
            });
        }
    }
    let nonzero = |v: Option<i64>| v.filter(|n| *n != 0);
    let nano_cpus = nonzero(host.nano_cpus).or_else(|| {
        let quota = host.cpu_quota.filter(|q| *q > 0)?;
        let period = host.cpu_period.filter(|p| *p > 0).unwrap_or(100_000);
        Some(quota.saturating_mul(1_000_000_000) / period)
    });
    let log = host.log_config.unwrap_or_default();
    Ok(ContainerSpec {
        image,
        image_ref,
        user: config.user.filter(|u| !u.is_empty()),
        privileged: host.privileged.unwrap_or(false),
        read_only: host.readonly_rootfs.unwrap_or(false),
        cap_add: host
            .cap_add
            .map(|c| c.into_vec())
            .unwrap_or_default()
            .iter()
            .map(|c| capability(c))
            .collect(),
        cap_drop: host
            .cap_drop
            .map(|c| c.into_vec())
            .unwrap_or_default()
            .iter()
            .map(|c| capability(c))
            .collect(),
        security_opt: host
            .security_opt
            .unwrap_or_default()
            .iter()
            .map(|o| security_opt(o))
            .collect(),
        network_mode: host.network_mode.unwrap_or_default(),
        pid_mode: host.pid_mode.unwrap_or_default(),
        ipc_mode: host.ipc_mode.unwrap_or_default(),
        uts_mode: host.uts_mode.unwrap_or_default(),
        userns_mode: host.userns_mode.unwrap_or_default(),
        cgroup_parent: host.cgroup_parent.unwrap_or_default(),
        env: env_list(config.env.unwrap_or_default().iter().map(String::as_str)),
        mounts,
        ports: ports(what, host.port_bindings.unwrap_or_default())?,
        devices: host
            .devices
            .unwrap_or_default()
            .into_iter()
            .map(|d| {
                let host_path = d.path_on_host.unwrap_or_default();
                DeviceMapping {
                    container_path: d
                        .path_in_container
                        .filter(|c| !c.is_empty())
                        .unwrap_or_else(|| host_path.clone()),
                    permissions: d
                        .cgroup_permissions
                        .filter(|p| !p.is_empty())
                        .unwrap_or_else(|| "rwm".into()),
                    host_path,
                }
            })
            .collect(),
        sysctls: host.sysctls.unwrap_or_default(),
        resources: Resources {
            memory_bytes: nonzero(host.memory),
            nano_cpus,
            pids_limit: host.pids_limit.filter(|p| *p > 0),
            cpu_shares: nonzero(host.cpu_shares),
        },
        logging: Logging {
            driver: log.kind.unwrap_or_default(),
            options: log.config.unwrap_or_default(),
        },
        healthcheck: config.healthcheck.and_then(healthcheck),
        restart_policy: restart(host.restart_policy),
        secrets: Vec::new(),
        labels: config.labels.unwrap_or_default(),
        entrypoint: config.entrypoint.map(|e| e.into_vec()),
        command: config.cmd.map(|c| c.into_vec()),
        networks,
        build: None,
        image_config: None,
    })
}

/// Parses an image reference; an image ID (`sha256:<hex>`) is kept as a digest.
pub fn image_ref(what: &'static str, image: &str) -> Result<ImageRef, EngineApiError> {
    if let Some(hex) = image.strip_prefix("sha256:")
        && hex.len() == 64
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Ok(ImageRef {
            registry: String::new(),
            repository: String::new(),
            tag: None,
            digest: Some(image.to_string()),
        });
    }
    ImageRef::parse(image).map_err(|e| EngineApiError::Field {
        what,
        path: "Image".into(),
        message: e.to_string(),
    })
}

/// A healthcheck; `None` when it sets nothing (the image's applies).
pub fn healthcheck(h: HealthConfig) -> Option<Healthcheck> {
    let test = h.test.map(|t| t.into_vec()).unwrap_or_default();
    let pos = |v: Option<i64>| v.filter(|n| *n > 0);
    let hc = Healthcheck {
        disabled: test.first().is_some_and(|t| t == "NONE"),
        interval_ns: pos(h.interval),
        timeout_ns: pos(h.timeout),
        retries: pos(h.retries),
        start_period_ns: pos(h.start_period),
        test,
    };
    let empty = hc.test.is_empty()
        && hc.interval_ns.is_none()
        && hc.timeout_ns.is_none()
        && hc.retries.is_none()
        && hc.start_period_ns.is_none();
    (!empty).then_some(hc)
}

/// A restart policy (`""` is `no`).
pub fn restart(r: Option<RestartPolicyApi>) -> RestartPolicy {
    let r = r.unwrap_or_default();
    let name = r
        .name
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "no".into());
    RestartPolicy {
        max_retries: if name == "on-failure" {
            r.maximum_retry_count.unwrap_or(0)
        } else {
            0
        },
        name,
    }
}

fn ports(
    what: &'static str,
    bindings: std::collections::BTreeMap<String, Option<Vec<PortBindingApi>>>,
) -> Result<Vec<PortBinding>, EngineApiError> {
    let mut out = Vec::new();
    for (key, list) in bindings {
        let bad = |m: String| EngineApiError::Field {
            what,
            path: format!("HostConfig.PortBindings.{key}"),
            message: m,
        };
        let (port, proto) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
        let container_port: u16 = port
            .parse()
            .map_err(|_| bad(format!("{port:?} is not a port number")))?;
        for b in list.unwrap_or_default() {
            let hp = b.host_port.unwrap_or_default();
            let first = hp.split('-').next().unwrap_or("");
            let host_port = if first.is_empty() {
                None
            } else {
                Some(
                    first
                        .parse::<u16>()
                        .map_err(|_| bad(format!("HostPort {hp:?} is not a port number")))?,
                )
            };
            out.push(PortBinding {
                host_ip: b.host_ip.unwrap_or_default(),
                host_port,
                container_port,
                protocol: proto.to_ascii_lowercase(),
            });
        }
    }
    Ok(out)
}
