//! `extends:` — a service based on another, in the same file or in another file.
//!
//! The base service is resolved first (it may extend another in turn), then the extending
//! service is merged onto it with the same rules as `-f` overrides. Cycles are errors naming
//! the chain. A base in another file is read, interpolated and validated like any compose file.
//! Relative paths in a base from another file (`build`, `env_file`, bind sources) are taken
//! from that file's directory, as Compose does.

use std::path::Path;

use super::ComposeError;
use super::error::Diagnostic;
use super::fs::FileSystem;
use super::load::{Vars, read_file};
use super::merge::merge_service;
use super::mounts::resolve_path;
use super::node::{Kind, Node};

const MAX_CHAIN: usize = 32;

/// Resolves `extends` of every service of `root`, in place.
pub fn resolve_all(
    root: &mut Node,
    fs: &dyn FileSystem,
    vars: &Vars,
    warnings: &mut Vec<Diagnostic>,
) -> Result<(), ComposeError> {
    let Some(services) = root.get("services").cloned() else {
        return Ok(());
    };
    let names: Vec<String> = services
        .entries()
        .unwrap_or_default()
        .iter()
        .map(|e| e.key.clone())
        .collect();
    for name in names {
        let Some(svc) = services.get(&name) else {
            continue;
        };
        if svc.get("extends").is_none() {
            continue;
        }
        let resolved = resolve(
            svc.clone(),
            &name,
            &services,
            fs,
            vars,
            warnings,
            &mut Vec::new(),
        )?;
        if let Some(slot) = root.get_mut("services").and_then(|s| s.get_mut(&name)) {
            *slot = resolved;
        }
    }
    Ok(())
}

fn resolve(
    svc: Node,
    name: &str,
    siblings: &Node,
    fs: &dyn FileSystem,
    vars: &Vars,
    warnings: &mut Vec<Diagnostic>,
    chain: &mut Vec<String>,
) -> Result<Node, ComposeError> {
    let Some(ext) = svc.get("extends").cloned() else {
        return Ok(svc);
    };
    let id = format!("{}:{name}", svc.pos.file);
    if chain.contains(&id) || chain.len() >= MAX_CHAIN {
        chain.push(id);
        return Err(ComposeError::Project {
            pos: ext.pos,
            message: format!("`extends` loops: {}; break the cycle", chain.join(" → ")),
        });
    }
    chain.push(id);
    let (base_name, file) = match &ext.kind {
        Kind::Str(s) => (s.clone(), None),
        Kind::Map(_) => (
            ext.get("service")
                .and_then(Node::as_str)
                .unwrap_or_default()
                .to_string(),
            ext.get("file").and_then(Node::as_str).map(str::to_string),
        ),
        _ => (String::new(), None),
    };
    let other;
    let scope = match &file {
        Some(f) => {
            let dir = Path::new(svc.pos.file.as_ref())
                .parent()
                .unwrap_or(Path::new(""));
            let mut errors = Vec::new();
            let tree = read_file(fs, &dir.join(f), vars, warnings, &mut errors)?;
            if !errors.is_empty() {
                return Err(ComposeError::Schema { errors });
            }
            other = tree
                .get("services")
                .cloned()
                .unwrap_or_else(|| Node::new(tree.pos.clone(), Kind::Map(Vec::new())));
            &other
        }
        None => siblings,
    };
    let Some(base) = scope.get(&base_name).cloned() else {
        return Err(ComposeError::Project {
            pos: ext.pos,
            message: format!(
                "`extends` names service {base_name:?}, which is not defined{}",
                file.map(|f| format!(" in {f}")).unwrap_or_default()
            ),
        });
    };
    let mut base = resolve(base, &base_name, scope, fs, vars, warnings, chain)?;
    if let Some(f) = &file {
        let dir = Path::new(svc.pos.file.as_ref())
            .parent()
            .unwrap_or(Path::new(""));
        if let Some(other_dir) = dir.join(f).parent() {
            rebase(&mut base, other_dir);
        }
    }
    let child_pos = svc.pos.clone();
    let mut child = svc;
    if let Kind::Map(entries) = &mut child.kind {
        entries.retain(|e| e.key != "extends");
    }
    let mut merged = merge_service(base, child);
    merged.pos = child_pos;
    chain.pop();
    Ok(merged)
}

/// Makes the relative paths of a service from another file absolute against its directory.
fn rebase(svc: &mut Node, dir: &Path) {
    let local = |p: &str| p.starts_with("./") || p.starts_with("../") || p == "." || p == "..";
    // `build` and `env_file` are always paths; a volume source is one only when it starts
    // like one (else it names a volume).
    let relative = |p: &str| {
        !p.starts_with('/') && !p.starts_with('~') && !p.contains("://") && !p.starts_with("git@")
    };
    let fix = |n: &mut Node| {
        if let Kind::Str(p) = &mut n.kind
            && relative(p)
        {
            *p = resolve_path(dir, p, None);
        }
    };
    if let Some(b) = svc.get_mut("build") {
        match &b.kind {
            Kind::Str(_) => fix(b),
            _ => {
                if let Some(c) = b.get_mut("context") {
                    fix(c);
                }
            }
        }
    }
    if let Some(e) = svc.get_mut("env_file") {
        match &mut e.kind {
            Kind::Str(_) => fix(e),
            Kind::Seq(items) => items.iter_mut().for_each(|i| match &i.kind {
                Kind::Str(_) => fix(i),
                _ => {
                    if let Some(p) = i.get_mut("path") {
                        fix(p);
                    }
                }
            }),
            _ => {}
        }
    }
    if let Some(Node {
        kind: Kind::Seq(items),
        ..
    }) = svc.get_mut("volumes")
    {
        for item in items {
            match &mut item.kind {
                Kind::Str(spec) => {
                    if let Some((src, rest)) = spec.split_once(':')
                        && local(src)
                    {
                        *spec = format!("{}:{rest}", resolve_path(dir, src, None));
                    }
                }
                Kind::Map(_) => {
                    if item.get("type").and_then(Node::as_str) == Some("bind")
                        && let Some(src) = item.get_mut("source")
                        && let Kind::Str(p) = &mut src.kind
                        && local(p)
                    {
                        *p = resolve_path(dir, p, None);
                    }
                }
                _ => {}
            }
        }
    }
}
