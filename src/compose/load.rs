//! Loading a compose project: files → one merged, interpolated, validated tree → services.
//!
//! The order is Compose's: find the files (or take `-f`), read the variables (`--env-file`
//! or `<project dir>/.env`, overridden by the caller's environment), then for each file parse,
//! interpolate and validate against the Compose schema (every violation of every file is
//! collected before failing), merge the files in order, resolve `extends`, keep the services
//! whose profiles are enabled, read their `env_file`s, and normalise each service. Reading goes
//! through a [`FileSystem`]; everything else is pure.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::Diagnostic;
use super::fs::{FileSystem, RealFs};
use super::interpolate::{InterpolationError, interpolate};
use super::mounts::{MountCtx, resolve_path};
use super::node::{Kind, Node, Position};
use super::project::{Project, ServiceDoc};
use super::service::{ServiceCtx, container_name, env_file_paths, normalize};
use super::{ComposeError, dotenv, extends, merge, schema, yaml};

/// File names looked for, in order, when no file is named.
pub const DEFAULT_FILES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];
/// Override files picked up next to a discovered file.
pub const OVERRIDE_FILES: [&str; 4] = [
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yaml",
    "docker-compose.override.yml",
];

/// How to load a project (the `docker compose` flags that matter).
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `-f` files, in order; empty to look for the default names in `project_dir`.
    pub files: Vec<PathBuf>,
    /// `--project-directory`; default: the first file's directory.
    pub project_dir: Option<PathBuf>,
    /// `--project-name`; default: `COMPOSE_PROJECT_NAME`, the file's `name:`, the directory.
    pub project_name: Option<String>,
    /// `--env-file`s; default: `<project dir>/.env` when it exists.
    pub env_files: Vec<PathBuf>,
    /// `--profile`s; default: `COMPOSE_PROFILES`.
    pub profiles: Vec<String>,
    /// The environment (wins over env files), usually the process environment.
    /// `COMPOSE_FILE` in it names the files when `files` is empty.
    pub env: BTreeMap<String, String>,
    /// Where relative paths of `files` start and where file discovery begins (walking up to
    /// the parents) when no project directory is given: the current directory. [`load`]
    /// fills it in.
    pub working_dir: Option<PathBuf>,
}

/// Loads from the real file system. Relative paths are taken from the current directory.
pub fn load(options: &LoadOptions) -> Result<Project, ComposeError> {
    let cwd = std::env::current_dir().map_err(|source| ComposeError::Io {
        path: PathBuf::from("."),
        source,
    })?;
    let abs = |p: &Path| PathBuf::from(resolve_path(&cwd, &p.to_string_lossy(), None));
    let mut opts = options.clone();
    opts.working_dir = Some(opts.working_dir.as_deref().map_or_else(|| cwd.clone(), abs));
    opts.files = options.files.iter().map(|f| abs(f)).collect();
    opts.env_files = options.env_files.iter().map(|f| abs(f)).collect();
    opts.project_dir = options.project_dir.as_deref().map(abs);
    load_with(&opts, &RealFs)
}

/// Decodes a file as UTF-8, or says where it stops being UTF-8.
pub fn text(file: &Arc<str>, bytes: Vec<u8>) -> Result<String, ComposeError> {
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
        let col = valid.iter().rev().take_while(|b| **b != b'\n').count() + 1;
        ComposeError::Yaml {
            pos: Position::new(file, line, col),
            message: "the file is not UTF-8: save it as UTF-8".into(),
        }
    })
}

/// Variables for interpolation and env resolution.
pub struct Vars(pub BTreeMap<String, String>);

impl Vars {
    /// A variable's value.
    pub fn get(&self, k: &str) -> Option<String> {
        self.0.get(k).cloned()
    }
}

/// Reads, parses, interpolates and validates one compose file.
pub fn read_file(
    fs: &dyn FileSystem,
    path: &Path,
    vars: &Vars,
    warnings: &mut Vec<Diagnostic>,
    errors: &mut Vec<Diagnostic>,
) -> Result<Node, ComposeError> {
    let name: Arc<str> = Arc::from(path.to_string_lossy().as_ref());
    let src = text(&name, fs.read(path)?)?;
    let mut root = yaml::parse(&name, &src)?;
    if !matches!(root.kind, Kind::Map(_)) {
        return Err(ComposeError::Yaml {
            pos: root.pos,
            message: "the top level of a compose file must be a mapping (`services:` ...)".into(),
        });
    }
    let lookup = |k: &str| vars.get(k);
    root.try_for_each_str_mut(&mut |s: &mut String, pos: &Position| {
        let mut unset = Vec::new();
        *s = interpolate(s, &lookup, &mut unset).map_err(|e| ComposeError::Interpolation {
            pos: pos.clone(),
            message: match e {
                InterpolationError::Required { var, message } => format!(
                    "required variable {var} is missing a value: {message} (set {var} in the environment or the .env file)"
                ),
                InterpolationError::Syntax(m) => format!("invalid interpolation: {m}"),
            },
        })?;
        for var in unset {
            warnings.push(Diagnostic {
                pos: pos.clone(),
                path: String::new(),
                message: format!("variable {var} is not set: substituting an empty string"),
            });
        }
        Ok(())
    })?;
    let found = schema::validate(&root);
    errors.extend(found.errors);
    warnings.extend(found.warnings);
    Ok(root)
}

/// Loads a project through `fs`. `options.project_dir` should be absolute when `files` is
/// empty; relative file paths are taken relative to it.
pub fn load_with(options: &LoadOptions, fs: &dyn FileSystem) -> Result<Project, ComposeError> {
    let cwd = options
        .working_dir
        .clone()
        .or_else(|| options.project_dir.clone())
        .unwrap_or_else(|| PathBuf::from("."));
    let named: Vec<PathBuf> = if options.files.is_empty() {
        let sep = options
            .env
            .get("COMPOSE_PATH_SEPARATOR")
            .map_or(":", String::as_str);
        options
            .env
            .get("COMPOSE_FILE")
            .map(|f| {
                f.split(sep)
                    .filter(|s| !s.is_empty())
                    .map(PathBuf::from)
                    .collect()
            })
            .unwrap_or_default()
    } else {
        options.files.clone()
    };
    let files: Vec<PathBuf> = if named.is_empty() {
        discover(fs, options.project_dir.as_ref().unwrap_or(&cwd))?
    } else {
        named.iter().map(|f| cwd.join(f)).collect()
    };
    let dir = options.project_dir.clone().unwrap_or_else(|| {
        files
            .first()
            .and_then(|f| f.parent())
            .map(Path::to_path_buf)
            .unwrap_or_default()
    });
    let base = cwd;

    let vars = read_vars(options, &dir, fs)?;
    let mut warnings = Vec::new();
    let mut errors = Vec::new();
    let mut trees = Vec::new();
    for f in &files {
        trees.push(read_file(fs, f, &vars, &mut warnings, &mut errors)?);
    }
    if !errors.is_empty() {
        return Err(ComposeError::Schema { errors });
    }
    let mut trees = trees.into_iter();
    let Some(first) = trees.next() else {
        return Err(ComposeError::NotFound { dir });
    };
    let mut root = trees.fold(first, merge::merge_files);
    extends::resolve_all(&mut root, fs, &vars, &mut warnings)?;

    let name = project_name(options, &vars, &root, &dir);
    let profiles: Vec<String> = if options.profiles.is_empty() {
        vars.get("COMPOSE_PROFILES")
            .map(|p| {
                p.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    } else {
        options.profiles.clone()
    };
    let services_node = root
        .get("services")
        .cloned()
        .unwrap_or_else(|| Node::new(root.pos.clone(), Kind::Map(Vec::new())));
    let active: Vec<(String, Position, Node)> = services_node
        .entries()
        .unwrap_or_default()
        .iter()
        .filter(|e| active(&e.value, &profiles))
        .map(|e| (e.key.clone(), e.key_pos.clone(), e.value.clone()))
        .collect();

    let env_files = read_env_files(fs, &dir, &vars, active.iter().map(|(_, _, n)| n))?;
    let top = root.to_json();
    let mut project_labels = BTreeMap::new();
    project_labels.insert(
        "com.docker.compose.project.working_dir".to_string(),
        dir.to_string_lossy().into_owned(),
    );
    project_labels.insert(
        "com.docker.compose.project.config_files".to_string(),
        files
            .iter()
            .map(|f| f.strip_prefix(&dir).unwrap_or(f).to_string_lossy())
            .collect::<Vec<_>>()
            .join(","),
    );
    if let Some(e) = options.env_files.first() {
        project_labels.insert(
            "com.docker.compose.project.environment_file".to_string(),
            base.join(e).to_string_lossy().into_owned(),
        );
    }
    let null = serde_json::Value::Null;
    let lookup = |k: &str| vars.get(k);
    let ctx = ServiceCtx {
        project: &name,
        top: &top,
        vars: &lookup,
        env_files: &env_files,
        mounts: MountCtx {
            project: &name,
            dir: &dir,
            volumes: top.get("volumes").unwrap_or(&null),
            secrets: top.get("secrets").unwrap_or(&null),
            home: vars.get("HOME"),
        },
        project_labels: &project_labels,
    };
    let mut services = Vec::new();
    for (svc, key_pos, node) in &active {
        let spec = normalize(&ctx, svc, node)?;
        services.push(ServiceDoc {
            name: svc.clone(),
            file: key_pos.file.to_string(),
            container_name: container_name(&name, svc, &node.to_json()),
            spec,
        });
    }
    Ok(Project::new(
        name, dir, files, root, services, warnings, &top,
    ))
}

/// Looks for a compose file in `start` and then its parents, as Compose does; an override
/// file beside it is included.
fn discover(fs: &dyn FileSystem, start: &Path) -> Result<Vec<PathBuf>, ComposeError> {
    for dir in start.ancestors() {
        if let Some(main) = DEFAULT_FILES
            .iter()
            .map(|n| dir.join(n))
            .find(|p| fs.is_file(p))
        {
            let mut files = vec![main];
            files.extend(
                OVERRIDE_FILES
                    .iter()
                    .map(|n| dir.join(n))
                    .find(|p| fs.is_file(p)),
            );
            return Ok(files);
        }
    }
    Err(ComposeError::NotFound {
        dir: start.to_path_buf(),
    })
}

fn read_vars(options: &LoadOptions, dir: &Path, fs: &dyn FileSystem) -> Result<Vars, ComposeError> {
    let env_files: Vec<PathBuf> = if options.env_files.is_empty() {
        let dot = dir.join(".env");
        if fs.is_file(&dot) {
            vec![dot]
        } else {
            Vec::new()
        }
    } else {
        options.env_files.iter().map(|f| dir.join(f)).collect()
    };
    let mut vars = BTreeMap::new();
    for f in env_files {
        let name: Arc<str> = Arc::from(f.to_string_lossy().as_ref());
        let content = text(&name, fs.read(&f)?)?;
        let outer = |k: &str| options.env.get(k).cloned().or_else(|| vars.get(k).cloned());
        let parsed = dotenv::parse(&content, &outer).map_err(|e| ComposeError::EnvFile {
            file: name.to_string(),
            line: e.line,
            message: e.message,
        })?;
        for (k, v) in parsed {
            vars.insert(k, v.unwrap_or_default());
        }
    }
    vars.extend(options.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(Vars(vars))
}

fn project_name(options: &LoadOptions, vars: &Vars, root: &Node, dir: &Path) -> String {
    let raw = options
        .project_name
        .clone()
        .or_else(|| vars.get("COMPOSE_PROJECT_NAME"))
        .or_else(|| root.get("name").and_then(Node::as_str).map(str::to_string))
        .unwrap_or_else(|| {
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
    let name: String = raw
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    if name.is_empty() {
        "default".to_string()
    } else {
        name
    }
}

fn active(service: &Node, enabled: &[String]) -> bool {
    let profiles: Vec<String> = match service.get("profiles").map(|p| &p.kind) {
        Some(Kind::Seq(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    profiles.is_empty() || enabled.iter().any(|e| e == "*" || profiles.contains(e))
}

/// `env_file` contents by resolved path.
type EnvFiles = HashMap<String, Vec<(String, Option<String>)>>;

fn read_env_files<'a>(
    fs: &dyn FileSystem,
    dir: &Path,
    vars: &Vars,
    services: impl Iterator<Item = &'a Node>,
) -> Result<EnvFiles, ComposeError> {
    let mut out = HashMap::new();
    for svc in services {
        let json = svc.to_json();
        let optional: Vec<String> = match json.get("env_file") {
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .filter(|v| v.get("required") == Some(&serde_json::Value::Bool(false)))
                .filter_map(|v| v.get("path").and_then(|p| p.as_str()).map(str::to_string))
                .collect(),
            _ => Vec::new(),
        };
        for f in env_file_paths(&json) {
            let path = resolve_path(dir, &f, vars.get("HOME").as_deref());
            if out.contains_key(&path) {
                continue;
            }
            if optional.contains(&f) && !fs.is_file(Path::new(&path)) {
                continue;
            }
            let name: Arc<str> = Arc::from(path.as_str());
            let content = text(&name, fs.read(Path::new(&path))?)?;
            let lookup = |k: &str| vars.get(k);
            let parsed = dotenv::parse(&content, &lookup).map_err(|e| ComposeError::EnvFile {
                file: path.clone(),
                line: e.line,
                message: e.message,
            })?;
            out.insert(path, parsed);
        }
    }
    Ok(out)
}
