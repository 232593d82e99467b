//! The client side of the server's `CheckCompose`: a project loaded here is sent as the files
//! the loader read, and the reply is read back into the same [`ProjectReport`] an embedded
//! check makes, positions included.
//!
//! What is sent: the compose files and every other file the loader read (`.env`/`--env-file`
//! as `dotenv`, `env_file` and `extends` files as attachments), named relative to the project
//! directory; the project name and profiles as resolved here; and only those environment
//! variables whose names occur as a word in the files sent (interpolation and pass-through
//! `environment:` entries can only use those), plus `COMPOSE_*` — never the whole environment.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::projects::Loaded;
use super::report::{FileIssue, Level, ProjectReport, ReportFinding, ServiceReport};
use crate::model::Severity;
use crate::server::pb;

/// Why a remote check failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// A file the project reads is outside its directory: the server could not place it.
    #[error(
        "{0}: the project reads this file from outside its directory; the server cannot be given it (check embedded, without --server)"
    )]
    Outside(String),
    /// A file that is not UTF-8 (the loader would have refused it already).
    #[error("{0}: not UTF-8")]
    NotUtf8(String),
    /// The call failed.
    #[error("CheckCompose failed: {}: {}", .0.code(), .0.message())]
    Call(#[from] tonic::Status),
}

/// The `CheckCompose` request for a loaded project.
pub fn request(loaded: &Loaded) -> Result<pb::CheckComposeRequest, RemoteError> {
    let dir = &loaded.project.dir;
    let name_of = |p: &Path| -> Result<String, RemoteError> {
        let rel = p
            .strip_prefix(dir)
            .map_err(|_| RemoteError::Outside(p.display().to_string()))?;
        Ok(rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/"))
    };
    let text = |p: &Path, b: &[u8]| {
        String::from_utf8(b.to_vec()).map_err(|_| RemoteError::NotUtf8(p.display().to_string()))
    };
    let env_files: Vec<PathBuf> = if loaded.options.env_files.is_empty() {
        vec![dir.join(".env")]
    } else {
        loaded.options.env_files.clone()
    };
    let mut req = pb::CheckComposeRequest {
        project_name: loaded.project.name.clone(),
        profiles: loaded.options.profiles.clone(),
        ..Default::default()
    };
    let mut seen = BTreeSet::new();
    let mut words = BTreeSet::new();
    for (path, bytes) in &loaded.read {
        if !seen.insert(path.clone()) {
            continue;
        }
        let content = text(path, bytes)?;
        collect_words(&content, &mut words);
        if env_files.contains(path) {
            req.dotenv.push_str(&content);
            if !req.dotenv.ends_with('\n') {
                req.dotenv.push('\n');
            }
        } else if loaded.project.files.contains(path) {
            req.files.push(pb::ComposeFile {
                name: name_of(path)?,
                content,
            });
        } else {
            req.attachments.push(pb::ComposeFile {
                name: name_of(path)?,
                content,
            });
        }
    }
    // Files in merge order (the read order already is, but be explicit).
    req.files.sort_by_key(|f| {
        loaded
            .project
            .files
            .iter()
            .position(|p| name_of(p).ok().as_deref() == Some(f.name.as_str()))
    });
    req.env = loaded
        .options
        .env
        .iter()
        .filter(|(k, _)| k.starts_with("COMPOSE_") || words.contains(k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(req)
}

fn collect_words(text: &str, out: &mut BTreeSet<String>) {
    for w in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if !w.is_empty() {
            out.insert(w.to_string());
        }
    }
}

/// Sends the project to the server.
pub async fn check(
    client: &mut pb::policy_service_client::PolicyServiceClient<tonic::transport::Channel>,
    loaded: &Loaded,
) -> Result<Reply, RemoteError> {
    let req = request(loaded)?;
    let resp = client.check_compose(req).await?.into_inner();
    Ok(read_reply(
        resp,
        &loaded.project.dir,
        &loaded.project.name,
        &loaded.project.files,
    ))
}

/// A reply, read back: the project's report or its input errors.
#[derive(Debug)]
pub struct Reply {
    /// The report, when the project loaded on the server.
    pub report: Option<ProjectReport>,
    /// Input errors.
    pub errors: Vec<FileIssue>,
    /// The revision that decided.
    pub bundle_revision: String,
}

/// Reads a reply; file names are made absolute again under `dir`.
pub fn read_reply(
    resp: pb::CheckComposeResponse,
    dir: &Path,
    name: &str,
    files: &[PathBuf],
) -> Reply {
    let abs = |f: &str| {
        if f.is_empty() || Path::new(f).is_absolute() {
            f.to_string()
        } else {
            dir.join(f).to_string_lossy().into_owned()
        }
    };
    let issue = |e: &pb::FileError| FileIssue {
        file: abs(&e.file),
        line: e.line as usize,
        column: e.column as usize,
        path: e.path.clone(),
        message: e.message.clone(),
    };
    if !resp.errors.is_empty() {
        return Reply {
            report: None,
            errors: resp.errors.iter().map(issue).collect(),
            bundle_revision: resp.bundle_revision,
        };
    }
    let services = resp
        .services
        .iter()
        .map(|s| {
            let d = s.decision.clone().unwrap_or_default();
            let pos = s.position.clone().unwrap_or_default();
            let mut findings = Vec::new();
            for (level, list) in [
                (Level::Deny, &d.violations),
                (Level::Warn, &d.warnings),
                (Level::Audit, &d.audits),
            ] {
                findings.extend(list.iter().map(|f| finding(f, level, &abs)));
            }
            ServiceReport {
                name: s.service.clone(),
                file: abs(&pos.file),
                line: pos.line as usize,
                column: pos.column as usize,
                allowed: d.allowed,
                findings,
            }
        })
        .collect();
    Reply {
        report: Some(ProjectReport {
            name: name.to_string(),
            files: files
                .iter()
                .map(|f| f.to_string_lossy().into_owned())
                .collect(),
            services,
            warnings: resp.warnings.iter().map(issue).collect(),
        }),
        errors: Vec::new(),
        bundle_revision: resp.bundle_revision,
    }
}

fn finding(f: &pb::Finding, level: Level, abs: &dyn Fn(&str) -> String) -> ReportFinding {
    let details: BTreeMap<String, serde_json::Value> = if f.details_json.is_empty() {
        BTreeMap::new()
    } else {
        serde_json::from_str(&f.details_json).unwrap_or_default()
    };
    let pos = f.position.clone().unwrap_or_default();
    ReportFinding {
        rule_id: f.rule_id.clone(),
        title: details
            .get("title")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_string(),
        level,
        severity: severity(f.severity),
        message: f.message.clone(),
        field: (!f.field.is_empty()).then(|| f.field.clone()),
        package: f.package.clone(),
        file: abs(&pos.file),
        line: pos.line as usize,
        column: pos.column as usize,
    }
}

fn severity(v: i32) -> Severity {
    match pb::Severity::try_from(v).unwrap_or(pb::Severity::Unspecified) {
        pb::Severity::Info => Severity::Info,
        pb::Severity::Low => Severity::Low,
        pb::Severity::Medium | pb::Severity::Unspecified => Severity::Medium,
        pb::Severity::High => Severity::High,
        pb::Severity::Critical => Severity::Critical,
    }
}
