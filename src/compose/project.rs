//! A loaded compose project: its services normalised, its merged tree kept for positions.
//!
//! [`Project::admission_requests`] gives one document per active service, with the project
//! context (top-level secrets and volumes and who uses them). [`Project::position`] answers
//! "where in which file is this" for reports: the offending key where it exists, else the
//! nearest enclosing one, at worst the service's key.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use super::error::Diagnostic;
use super::node::{Node, Position};
use crate::model::{
    AdmissionRequest, ContainerSpec, Operation, Origin, ProjectContext, ProjectSecret,
    ProjectVolume, Source,
};

/// One normalised service.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceDoc {
    /// The service name.
    pub name: String,
    /// The file that defines it (as named to the loader).
    pub file: String,
    /// The name of its first container.
    pub container_name: String,
    /// The container it describes.
    pub spec: ContainerSpec,
}

/// A loaded project.
#[derive(Debug, Clone)]
pub struct Project {
    /// The project name.
    pub name: String,
    /// The project directory.
    pub dir: PathBuf,
    /// The compose files, in merge order.
    pub files: Vec<PathBuf>,
    /// Warnings (unknown keys, unset variables).
    pub warnings: Vec<Diagnostic>,
    root: Node,
    services: Vec<ServiceDoc>,
    context: ProjectContext,
}

impl Project {
    pub(crate) fn new(
        name: String,
        dir: PathBuf,
        files: Vec<PathBuf>,
        root: Node,
        services: Vec<ServiceDoc>,
        warnings: Vec<Diagnostic>,
        top: &Value,
    ) -> Self {
        let context = context(&name, &services, top);
        Self {
            name,
            dir,
            files,
            warnings,
            root,
            services,
            context,
        }
    }

    /// The active services, in file order.
    pub fn services(&self) -> &[ServiceDoc] {
        &self.services
    }

    /// The project context every document of this project carries.
    pub fn context(&self) -> &ProjectContext {
        &self.context
    }

    /// One document per active service.
    pub fn admission_requests(&self, operation: Operation) -> Vec<AdmissionRequest> {
        self.services
            .iter()
            .map(|s| {
                let origin = Origin {
                    file: Some(s.file.clone()),
                    project: Some(self.name.clone()),
                    service: Some(s.name.clone()),
                    container_name: Some(s.container_name.clone()),
                    container_id: None,
                };
                let mut req =
                    AdmissionRequest::new(operation, Source::Compose, origin, s.spec.clone());
                req.project = Some(self.context.clone());
                req
            })
            .collect()
    }

    /// Where `field_path` (compose keys, `.`-separated, indices as numbers or `[n]`:
    /// `ports.0`, `deploy.resources.limits.memory`) of `service` is written: the deepest
    /// existing key of the path, at worst the service's key. `None` for an unknown service.
    pub fn position(&self, service: &str, field_path: &str) -> Option<Position> {
        let services = self.root.get("services")?;
        let entry = services.entry(service)?;
        let normalized = field_path.replace('[', ".").replace(']', "");
        let segs: Vec<&str> = normalized.split('.').filter(|s| !s.is_empty()).collect();
        for n in (1..=segs.len()).rev() {
            if let Some(p) = entry.value.position_at(&segs[..n]) {
                return Some(p.clone());
            }
        }
        Some(entry.key_pos.clone())
    }

    /// Where the compose file sets the input-document field `input_field` (as a finding
    /// names it: `container.privileged`, `container.mounts[0]`, `container.env.TOKEN`,
    /// `project.secrets.api_key`) of `service`: the most specific key that exists (see
    /// `locate`), at worst the service's key. `None` for an unknown service.
    pub fn position_of_input_field(&self, service: &str, input_field: &str) -> Option<Position> {
        let services = self.root.get("services")?;
        let svc = services.entry(service)?;
        let mut segs = super::locate::segments(input_field);
        if segs.first().is_some_and(|s| s == "input") {
            segs.remove(0);
        }
        let found = match segs.first().map(String::as_str) {
            Some("project") => {
                let path: Vec<&str> = segs[1..].iter().map(String::as_str).collect();
                (1..=path.len())
                    .rev()
                    .find_map(|n| self.root.position_at(&path[..n]))
                    .cloned()
            }
            Some("container") => super::locate::candidates(&svc.value, &segs[1..])
                .iter()
                .find_map(|c| {
                    let c: Vec<&str> = c.iter().map(String::as_str).collect();
                    svc.value.position_at(&c).cloned()
                }),
            _ => None,
        };
        Some(found.unwrap_or_else(|| svc.key_pos.clone()))
    }
}

fn context(name: &str, services: &[ServiceDoc], top: &Value) -> ProjectContext {
    let mut secrets = BTreeMap::new();
    if let Some(Value::Object(m)) = top.get("secrets") {
        for (k, v) in m {
            let s = |f: &str| v.get(f).and_then(Value::as_str).map(str::to_string);
            let (source, reference) = if let Some(f) = s("file") {
                ("file", Some(f))
            } else if let Some(e) = s("environment") {
                ("environment", Some(e))
            } else if v.get("content").is_some() {
                ("content", None)
            } else {
                ("external", Some(s("name").unwrap_or_else(|| k.clone())))
            };
            let used_by = services
                .iter()
                .filter(|svc| svc.spec.secrets.iter().any(|x| &x.source == k))
                .map(|svc| svc.name.clone())
                .collect();
            secrets.insert(
                k.clone(),
                ProjectSecret {
                    source: source.into(),
                    reference,
                    used_by,
                },
            );
        }
    }
    let mut volumes = BTreeMap::new();
    if let Some(Value::Object(m)) = top.get("volumes") {
        for (k, v) in m {
            let v = if v.is_null() { &Value::Null } else { v };
            let external = match v.get("external") {
                Some(Value::Bool(b)) => *b,
                Some(Value::Object(_)) => true,
                _ => false,
            };
            let full = super::mounts::MountCtx {
                project: name,
                dir: std::path::Path::new(""),
                volumes: top.get("volumes").unwrap_or(&Value::Null),
                secrets: &Value::Null,
                home: None,
            }
            .volume_name(k);
            let used_by = services
                .iter()
                .filter(|svc| {
                    svc.spec
                        .mounts
                        .iter()
                        .any(|m| m.kind == "volume" && m.source == full)
                })
                .map(|svc| svc.name.clone())
                .collect();
            volumes.insert(
                k.clone(),
                ProjectVolume {
                    external,
                    driver: v
                        .get("driver")
                        .and_then(Value::as_str)
                        .unwrap_or("local")
                        .to_string(),
                    used_by,
                },
            );
        }
    }
    ProjectContext {
        name: name.to_string(),
        secrets,
        volumes,
        services: services.iter().map(|s| s.name.clone()).collect(),
    }
}
