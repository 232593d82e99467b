//! Compose `volumes:`, `tmpfs:` and file `secrets:` → the document's mounts.
//!
//! What docker-compose sends: host paths resolved against the project directory (`~` from
//! `HOME`), named volumes under their full name (`<project>_<name>`, or the `name:`/external
//! name the top-level `volumes:` gives), anonymous volumes with an empty source, and each
//! file-based secret as a read-only bind at `/run/secrets/<name>`.

use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use crate::model::normalize::{PROPAGATIONS, bind_string, tmpfs_read_only};
use crate::model::{Mount, SecretMount};

/// What mount normalisation needs from the project.
pub struct MountCtx<'a> {
    /// Project name.
    pub project: &'a str,
    /// Project directory (absolute).
    pub dir: &'a Path,
    /// Top-level `volumes:` (JSON), or null.
    pub volumes: &'a Value,
    /// Top-level `secrets:` (JSON), or null.
    pub secrets: &'a Value,
    /// `HOME`, for `~`.
    pub home: Option<String>,
}

/// Lexically resolves `path` against `base` (`.` and `..` removed, `~` expanded).
pub fn resolve_path(base: &Path, path: &str, home: Option<&str>) -> String {
    let expanded = match (path.strip_prefix('~'), home) {
        (Some(rest), Some(h)) if rest.is_empty() || rest.starts_with('/') => format!("{h}{rest}"),
        _ => path.to_string(),
    };
    let joined = base.join(&expanded);
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out.to_string_lossy().into_owned()
}

impl MountCtx<'_> {
    /// The engine-side name of a named volume.
    pub fn volume_name(&self, name: &str) -> String {
        let decl = self.volumes.get(name);
        let explicit = decl.and_then(|d| d.get("name")).and_then(Value::as_str);
        let external = decl.and_then(|d| d.get("external"));
        let external_name = external.and_then(|e| e.get("name")).and_then(Value::as_str);
        match (explicit, external_name, external) {
            (Some(n), _, _) => n.to_string(),
            (None, Some(n), _) => n.to_string(),
            (None, None, Some(Value::Bool(true))) => name.to_string(),
            _ => format!("{}_{}", self.project, name),
        }
    }

    /// One `volumes:` item.
    pub fn volume(&self, item: &Value) -> Result<Mount, String> {
        match item {
            Value::String(s) => {
                let mut m = bind_string(s);
                if m.target.is_empty() {
                    return Err(format!("{s:?} has no container path"));
                }
                if m.kind == "bind" {
                    m.source = resolve_path(self.dir, &m.source, self.home.as_deref());
                } else if !m.source.is_empty() {
                    m.source = self.volume_name(&m.source);
                }
                Ok(m)
            }
            Value::Object(o) => {
                let s = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                let kind = s("type");
                let target = s("target");
                if target.is_empty() {
                    return Err("`target` is required".into());
                }
                let source = match kind.as_str() {
                    "bind" => resolve_path(self.dir, &s("source"), self.home.as_deref()),
                    "volume" if !s("source").is_empty() => self.volume_name(&s("source")),
                    "tmpfs" => String::new(),
                    _ => s("source"),
                };
                let propagation = o
                    .get("bind")
                    .and_then(|b| b.get("propagation"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                if !propagation.is_empty() && !PROPAGATIONS.contains(&propagation.as_str()) {
                    return Err(format!(
                        "bind propagation {propagation:?} is not one of {PROPAGATIONS:?}"
                    ));
                }
                Ok(Mount {
                    kind,
                    source,
                    target,
                    read_only: truthy(o.get("read_only"))
                        .map_err(|e| format!("`read_only`: {e}"))?,
                    propagation,
                })
            }
            other => Err(format!("{other} is not a volume specification")),
        }
    }

    /// `tmpfs:` (a string or a list of `path[:options]`).
    pub fn tmpfs(&self, v: &Value) -> Vec<Mount> {
        let items: Vec<&str> = match v {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        items
            .into_iter()
            .map(|t| {
                let (target, opts) = t.split_once(':').unwrap_or((t, ""));
                Mount {
                    kind: "tmpfs".into(),
                    source: String::new(),
                    target: target.to_string(),
                    read_only: tmpfs_read_only(opts),
                    propagation: String::new(),
                }
            })
            .collect()
    }

    /// `secrets:` items → (secret, the bind mount docker-compose makes for a file secret).
    pub fn secret(&self, item: &Value) -> Result<(SecretMount, Option<Mount>), String> {
        let (source, target) = match item {
            Value::String(s) => (s.clone(), None),
            Value::Object(o) => (
                o.get("source")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                o.get("target").and_then(Value::as_str).map(str::to_string),
            ),
            other => return Err(format!("{other} is not a secret reference")),
        };
        if source.is_empty() {
            return Err("`source` is required".into());
        }
        let decl = self.secrets.get(&source).ok_or_else(|| {
            format!(
                "secret {source:?} is not declared in the top-level `secrets:`; declare it there"
            )
        })?;
        let target = match target {
            None => format!("/run/secrets/{source}"),
            Some(t) if t.starts_with('/') => t,
            Some(t) => format!("/run/secrets/{t}"),
        };
        let mount = decl.get("file").and_then(Value::as_str).map(|f| Mount {
            kind: "bind".into(),
            source: resolve_path(self.dir, f, self.home.as_deref()),
            target: target.clone(),
            read_only: true,
            propagation: String::new(),
        });
        Ok((SecretMount { source, target }, mount))
    }
}

/// A boolean that compose may have written as a string (`"true"`) after interpolation.
pub fn truthy(v: Option<&Value>) -> Result<bool, String> {
    match v {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(true),
            "false" | "no" | "off" | "0" | "" => Ok(false),
            _ => Err(format!("{s:?} is not a boolean (true or false)")),
        },
        Some(other) => Err(format!("{other} is not a boolean (true or false)")),
    }
}
