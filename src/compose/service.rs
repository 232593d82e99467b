//! One compose service → [`ContainerSpec`], as docker-compose 1.29 would send it.
//!
//! The service arrives merged (files, `extends`) and interpolated; this module only
//! translates: default network `<project>_default`, image `<project>_<service>` for a
//! build-only service, compose's own labels, environment from `env_file` then `environment`
//! (a name without value is taken from the project's variables, else left null), limits from
//! the legacy keys or `deploy.resources.limits`, sizes in bytes and durations in ns. A value
//! the schema let through but that cannot be normalised is an error naming the field.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::ComposeError;
use super::mounts::{MountCtx, truthy};
use super::node::Node;
use super::ports::parse_ports;
use super::units::{parse_bytes, parse_duration_ns};
use crate::model::normalize::{capability, security_opt};
use crate::model::{
    BuildSpec, ContainerSpec, DeviceMapping, Healthcheck, ImageRef, Logging, Resources,
    RestartPolicy,
};

/// docker-compose's version, as its `com.docker.compose.version` label says.
pub const COMPOSE_VERSION: &str = "1.29.2";

/// What every service of a project shares.
pub struct ServiceCtx<'a> {
    /// Project name.
    pub project: &'a str,
    /// The merged top-level document (JSON).
    pub top: &'a Value,
    /// Variables (environment, then `.env`).
    pub vars: &'a dyn Fn(&str) -> Option<String>,
    /// `env_file` contents by resolved path.
    pub env_files: &'a HashMap<String, Vec<(String, Option<String>)>>,
    /// Mount context.
    pub mounts: MountCtx<'a>,
    /// Compose's project labels (`working_dir`, `config_files`, ...).
    pub project_labels: &'a BTreeMap<String, String>,
}

/// A service being normalised: name, tree (for positions) and JSON.
struct Svc<'a> {
    name: &'a str,
    node: &'a Node,
    json: Value,
}

impl Svc<'_> {
    fn err(&self, path: &[&str], message: impl Into<String>) -> ComposeError {
        let mut n = path.len();
        let pos = loop {
            if let Some(p) = self.node.position_at(&path[..n]) {
                break p.clone();
            }
            if n == 0 {
                break self.node.pos.clone();
            }
            n -= 1;
        };
        ComposeError::Service {
            service: self.name.to_string(),
            field: path.join("."),
            pos,
            message: message.into(),
        }
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.json.get(key).filter(|v| !v.is_null())
    }

    fn string(&self, key: &str) -> String {
        self.get(key).map(scalar).unwrap_or_default()
    }

    fn boolean(&self, key: &str) -> Result<bool, ComposeError> {
        truthy(self.get(key)).map_err(|e| self.err(&[key], e))
    }

    fn list(&self, key: &str) -> Vec<String> {
        match self.get(key) {
            Some(Value::Array(a)) => a.iter().map(scalar).collect(),
            Some(v) => vec![scalar(v)],
            None => Vec::new(),
        }
    }
}

/// The text of a scalar as compose would pass it on.
pub fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A list-or-mapping field (`environment`, `labels`, `sysctls`, `args`) as name → value.
pub fn mapping(v: Option<&Value>, sep: char) -> BTreeMap<String, Option<String>> {
    match v {
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| (k.clone(), (!v.is_null()).then(|| scalar(v))))
            .collect(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|item| {
                let s = scalar(item);
                match s.split_once(sep) {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (s, None),
                }
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// Normalises one service.
pub fn normalize(
    ctx: &ServiceCtx<'_>,
    name: &str,
    node: &Node,
) -> Result<ContainerSpec, ComposeError> {
    let s = Svc {
        name,
        node,
        json: node.to_json(),
    };
    let image = match s.get("image") {
        Some(v) => scalar(v),
        None if s.get("build").is_some() => {
            format!("{}_{}", ctx.project.trim_start_matches(['_', '-']), name)
        }
        None => return Err(s.err(&[], "the service has neither `image` nor `build`: add one")),
    };
    let image_ref = ImageRef::parse(&image)
        .map_err(|e| s.err(&["image"], format!("{e}; fix the image reference")))?;
    let (network_mode, networks) = networking(ctx, &s);
    let mut mounts = Vec::new();
    if let Some(Value::Array(items)) = s.get("volumes") {
        for (i, item) in items.iter().enumerate() {
            mounts.push(
                ctx.mounts
                    .volume(item)
                    .map_err(|e| s.err(&["volumes", &i.to_string()], e))?,
            );
        }
    }
    if let Some(t) = s.get("tmpfs") {
        mounts.extend(ctx.mounts.tmpfs(t));
    }
    let mut secrets = Vec::new();
    if let Some(Value::Array(items)) = s.get("secrets") {
        for (i, item) in items.iter().enumerate() {
            let (secret, mount) = ctx
                .mounts
                .secret(item)
                .map_err(|e| s.err(&["secrets", &i.to_string()], e))?;
            secrets.push(secret);
            mounts.extend(mount);
        }
    }
    let ports = match s.get("ports") {
        Some(Value::Array(items)) => {
            parse_ports(items).map_err(|(i, e)| s.err(&["ports", &i.to_string()], e))?
        }
        _ => Vec::new(),
    };
    let mut labels: BTreeMap<String, String> = mapping(s.get("labels"), '=')
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect();
    labels.extend(ctx.project_labels.clone());
    labels.insert("com.docker.compose.project".into(), ctx.project.to_string());
    labels.insert("com.docker.compose.service".into(), name.to_string());
    labels.insert("com.docker.compose.oneoff".into(), "False".into());
    labels.insert("com.docker.compose.container-number".into(), "1".into());
    labels.insert("com.docker.compose.version".into(), COMPOSE_VERSION.into());
    Ok(ContainerSpec {
        image,
        image_ref,
        user: s.get("user").map(scalar),
        privileged: s.boolean("privileged")?,
        read_only: s.boolean("read_only")?,
        cap_add: s.list("cap_add").iter().map(|c| capability(c)).collect(),
        cap_drop: s.list("cap_drop").iter().map(|c| capability(c)).collect(),
        security_opt: s
            .list("security_opt")
            .iter()
            .map(|o| security_opt(o))
            .collect(),
        network_mode,
        pid_mode: namespace(ctx, &s.string("pid")),
        ipc_mode: namespace(ctx, &s.string("ipc")),
        uts_mode: s.string("uts"),
        userns_mode: s.string("userns_mode"),
        cgroup_parent: s.string("cgroup_parent"),
        env: environment(ctx, &s)?,
        mounts,
        ports,
        devices: devices(&s)?,
        sysctls: mapping(s.get("sysctls"), '=')
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect(),
        resources: resources(&s)?,
        logging: logging(&s),
        healthcheck: healthcheck(&s)?,
        restart_policy: restart(&s)?,
        secrets,
        labels,
        entrypoint: command(&s, "entrypoint")?,
        command: command(&s, "command")?,
        networks,
        build: build(ctx, &s),
        image_config: None,
    })
}

/// The container name docker-compose gives a service's first container.
pub fn container_name(project: &str, service: &str, json: &Value) -> String {
    match json.get("container_name").and_then(Value::as_str) {
        Some(n) => n.to_string(),
        None => format!("{}_{}_1", project.trim_start_matches(['_', '-']), service),
    }
}

/// `service:x` → `container:<x's container name>` for pid/ipc/network_mode.
fn namespace(ctx: &ServiceCtx<'_>, mode: &str) -> String {
    match mode.strip_prefix("service:") {
        Some(other) => {
            let json = ctx
                .top
                .get("services")
                .and_then(|s| s.get(other))
                .cloned()
                .unwrap_or(Value::Null);
            format!("container:{}", container_name(ctx.project, other, &json))
        }
        None => mode.to_string(),
    }
}

/// The full name of a project network.
fn network_name(ctx: &ServiceCtx<'_>, net: &str) -> String {
    let decl = ctx.top.get("networks").and_then(|n| n.get(net));
    let get = |k: &str| decl.and_then(|d| d.get(k));
    if let Some(n) = get("name").and_then(Value::as_str) {
        return n.to_string();
    }
    match get("external") {
        Some(Value::Bool(true)) => net.to_string(),
        Some(e) if e.get("name").is_some() => e.get("name").map(scalar).unwrap_or_default(),
        _ => format!("{}_{}", ctx.project.trim_start_matches(['_', '-']), net),
    }
}

fn networking(ctx: &ServiceCtx<'_>, s: &Svc<'_>) -> (String, Vec<String>) {
    if let Some(mode) = s.get("network_mode") {
        return (namespace(ctx, &scalar(mode)), Vec::new());
    }
    let mut nets: Vec<(String, i64)> = match s.get("networks") {
        Some(Value::Array(a)) => a.iter().map(|n| (scalar(n), 0)).collect(),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.get("priority").and_then(Value::as_i64).unwrap_or(0),
                )
            })
            .collect(),
        _ => Vec::new(),
    };
    if nets.is_empty() {
        nets.push(("default".into(), 0));
    }
    nets.sort_by_key(|(_, p)| std::cmp::Reverse(*p));
    let names: Vec<String> = nets.iter().map(|(n, _)| network_name(ctx, n)).collect();
    (names.first().cloned().unwrap_or_default(), names)
}

fn environment(
    ctx: &ServiceCtx<'_>,
    s: &Svc<'_>,
) -> Result<BTreeMap<String, Option<String>>, ComposeError> {
    let mut env = BTreeMap::new();
    for file in env_file_paths(&s.json) {
        let resolved =
            super::mounts::resolve_path(ctx.mounts.dir, &file, ctx.mounts.home.as_deref());
        if let Some(entries) = ctx.env_files.get(&resolved) {
            env.extend(entries.iter().cloned());
        }
    }
    env.extend(mapping(s.get("environment"), '='));
    Ok(env
        .into_iter()
        .map(|(k, v)| {
            let v = v.or_else(|| (ctx.vars)(&k));
            (k, v)
        })
        .collect())
}

/// The `env_file` paths of a service, as written (string, list, or list of `{path}`).
pub fn env_file_paths(json: &Value) -> Vec<String> {
    match json.get("env_file") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Object(o) => o.get("path").and_then(Value::as_str).map(str::to_string),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn devices(s: &Svc<'_>) -> Result<Vec<DeviceMapping>, ComposeError> {
    let Some(Value::Array(items)) = s.get("devices") else {
        return Ok(Vec::new());
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(d) => {
                let parts: Vec<&str> = d.split(':').collect();
                let host = parts[0].to_string();
                Ok(DeviceMapping {
                    container_path: parts.get(1).map_or(host.clone(), |c| c.to_string()),
                    permissions: parts.get(2).map_or("rwm".to_string(), |p| p.to_string()),
                    host_path: host,
                })
            }
            Value::Object(o) => {
                let g = |k: &str| o.get(k).map(scalar);
                let host = g("source").unwrap_or_default();
                Ok(DeviceMapping {
                    container_path: g("target").unwrap_or_else(|| host.clone()),
                    permissions: g("permissions").unwrap_or_else(|| "rwm".into()),
                    host_path: host,
                })
            }
            other => Err(s.err(
                &["devices", &i.to_string()],
                format!("{other} is not a device mapping"),
            )),
        })
        .collect()
}

fn resources(s: &Svc<'_>) -> Result<Resources, ComposeError> {
    let limits = s
        .json
        .pointer("/deploy/resources/limits")
        .cloned()
        .unwrap_or(Value::Null);
    let bytes = |v: &Value, path: &[&str]| match v {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| s.err(path, format!("{n} is not a whole number of bytes"))),
        other => parse_bytes(&scalar(other)).ok_or_else(|| {
            s.err(
                path,
                format!("{other} is not a size (a number, then b, k, m or g, e.g. 512m)"),
            )
        }),
    };
    let cpus = |v: &Value, path: &[&str]| {
        let f = match v {
            Value::Number(n) => n.as_f64(),
            other => scalar(other).trim().parse::<f64>().ok(),
        };
        match f {
            Some(f) if (0.0..1e9).contains(&f) => Ok((f * 1e9) as i64),
            _ => Err(s.err(path, format!("{v} is not a number of CPUs (e.g. 0.5)"))),
        }
    };
    let int = |v: &Value, path: &[&str]| match v {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| s.err(path, format!("{n} is not an integer"))),
        other => scalar(other)
            .trim()
            .parse::<i64>()
            .map_err(|_| s.err(path, format!("{other} is not an integer"))),
    };
    let memory_bytes = match (s.get("mem_limit"), limits.get("memory")) {
        (Some(v), _) => Some(bytes(v, &["mem_limit"])?),
        (None, Some(v)) => Some(bytes(v, &["deploy", "resources", "limits", "memory"])?),
        _ => None,
    };
    let nano_cpus = match (s.get("cpus"), limits.get("cpus"), s.get("cpu_quota")) {
        (Some(v), _, _) => Some(cpus(v, &["cpus"])?),
        (None, Some(v), _) => Some(cpus(v, &["deploy", "resources", "limits", "cpus"])?),
        (None, None, Some(q)) => {
            let quota = int(q, &["cpu_quota"])?;
            let period = match s.get("cpu_period") {
                Some(p) => int(p, &["cpu_period"])?,
                None => 100_000,
            };
            (quota > 0 && period > 0).then(|| quota.saturating_mul(1_000_000_000) / period)
        }
        _ => None,
    };
    let pids_limit = match (s.get("pids_limit"), limits.get("pids")) {
        (Some(v), _) => Some(int(v, &["pids_limit"])?),
        (None, Some(v)) => Some(int(v, &["deploy", "resources", "limits", "pids"])?),
        _ => None,
    };
    let cpu_shares = s
        .get("cpu_shares")
        .map(|v| int(v, &["cpu_shares"]))
        .transpose()?;
    Ok(Resources {
        memory_bytes,
        nano_cpus,
        pids_limit,
        cpu_shares,
    })
}

fn logging(s: &Svc<'_>) -> Logging {
    let (driver, options) = match s.get("logging") {
        Some(l) => (
            l.get("driver").map(scalar).unwrap_or_default(),
            l.get("options"),
        ),
        None => (s.string("log_driver"), s.get("log_opt")),
    };
    Logging {
        driver,
        options: mapping(options, '=')
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect(),
    }
}

fn healthcheck(s: &Svc<'_>) -> Result<Option<Healthcheck>, ComposeError> {
    let Some(h) = s.get("healthcheck") else {
        return Ok(None);
    };
    let disabled = truthy(h.get("disable")).map_err(|e| s.err(&["healthcheck", "disable"], e))?;
    let test = match h.get("test") {
        _ if disabled => vec!["NONE".to_string()],
        Some(Value::String(t)) => vec!["CMD-SHELL".to_string(), t.clone()],
        Some(Value::Array(a)) => a.iter().map(scalar).collect(),
        _ => Vec::new(),
    };
    let dur = |k: &str| -> Result<Option<i64>, ComposeError> {
        match h.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => parse_duration_ns(&scalar(v)).map(Some).ok_or_else(|| {
                s.err(
                    &["healthcheck", k],
                    format!("{v} is not a duration (e.g. 1m30s)"),
                )
            }),
        }
    };
    let retries = match h.get("retries") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            scalar(v)
                .parse::<i64>()
                .map_err(|_| s.err(&["healthcheck", "retries"], "not an integer"))?,
        ),
    };
    Ok(Some(Healthcheck {
        disabled: disabled || test.first().is_some_and(|t| t == "NONE"),
        test,
        interval_ns: dur("interval")?,
        timeout_ns: dur("timeout")?,
        retries,
        start_period_ns: dur("start_period")?,
    }))
}

fn restart(s: &Svc<'_>) -> Result<RestartPolicy, ComposeError> {
    let raw = s.string("restart");
    let (name, retries) = raw.split_once(':').unwrap_or((raw.as_str(), ""));
    let name = match name {
        "" | "no" => "no",
        "always" | "unless-stopped" | "on-failure" => name,
        other => {
            return Err(s.err(
                &["restart"],
                format!("{other:?} is not no, always, unless-stopped or on-failure[:N]"),
            ));
        }
    };
    let max_retries = if retries.is_empty() {
        0
    } else {
        retries.parse().map_err(|_| {
            s.err(
                &["restart"],
                format!("{retries:?} is not a number of retries"),
            )
        })?
    };
    Ok(RestartPolicy {
        name: name.to_string(),
        max_retries,
    })
}

fn command(s: &Svc<'_>, key: &str) -> Result<Option<Vec<String>>, ComposeError> {
    match s.get(key) {
        None => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a.iter().map(scalar).collect())),
        Some(Value::String(c)) => shlex::split(c).map(Some).ok_or_else(|| {
            s.err(
                &[key],
                "unbalanced quotes: fix the quoting or use the list form",
            )
        }),
        Some(other) => Ok(Some(vec![scalar(other)])),
    }
}

fn build(ctx: &ServiceCtx<'_>, s: &Svc<'_>) -> Option<BuildSpec> {
    let b = s.get("build")?;
    let (context, dockerfile, args) = match b {
        Value::Object(o) => (
            o.get("context").map(scalar).unwrap_or_else(|| ".".into()),
            o.get("dockerfile").map(scalar),
            mapping(o.get("args"), '='),
        ),
        other => (scalar(other), None, BTreeMap::new()),
    };
    let remote = context.contains("://")
        || context.starts_with("git@")
        || context.starts_with("github.com/");
    let context = if remote {
        context
    } else {
        super::mounts::resolve_path(ctx.mounts.dir, &context, ctx.mounts.home.as_deref())
    };
    Some(BuildSpec {
        context,
        dockerfile,
        args,
    })
}
