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
use super::limits::{healthcheck, logging, resources, restart};
use super::mounts::{MountCtx, truthy};
use super::node::Node;
use super::ports::parse_ports;
use crate::model::normalize::{capability, security_opt};
use crate::model::{BuildSpec, ContainerSpec, DeviceMapping, ImageRef};

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
pub(super) struct Svc<'a> {
    pub(super) name: &'a str,
    pub(super) node: &'a Node,
    pub(super) json: Value,
}

impl Svc<'_> {
    pub(super) fn err(&self, path: &[&str], message: impl Into<String>) -> ComposeError {
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

    pub(super) fn get(&self, key: &str) -> Option<&Value> {
        self.json.get(key).filter(|v| !v.is_null())
    }

    pub(super) fn string(&self, key: &str) -> String {
        self.get(key).map(scalar).unwrap_or_default()
    }

    pub(super) fn boolean(&self, key: &str) -> Result<bool, ComposeError> {
        truthy(self.get(key)).map_err(|e| self.err(&[key], e))
    }

    pub(super) fn list(&self, key: &str) -> Vec<String> {
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
