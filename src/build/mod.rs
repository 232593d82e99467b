//! `dockgate build`: Rego sources → an OPA wasm bundle, without the Go toolchain.
//!
//! 1. [`PolicySources::load`] reads `.rego` files and data files (`data.json`, `data.yaml`)
//!    from directories or single files; a data file's directory is its path under `data`,
//!    as in an OPA bundle.
//! 2. [`check`] parses and analyses every module natively with regorus, so errors come back
//!    as `file:line:col` with the source line, before anything is compiled.
//! 3. [`build`] injects the sources and entrypoints into the committed runtime module
//!    ([`inject`]) and wraps it as an OPA bundle (`.manifest`, `/policy.wasm`, `data.json`,
//!    the sources) that `opa-wasm`, OPA's SDKs and dockgate's engine all load.
//!
//! [`discover_tests`] lists `test_*` rules for `dockgate test`.

pub mod inject;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::policy::bundle::{self, Bundle, Manifest, WasmEntry};

/// The library's decision entrypoint, used when none is given.
pub const DEFAULT_ENTRYPOINT: &str = "dockgate/main/decision";

/// Largest policy source file accepted.
const MAX_SOURCE_BYTES: u64 = 4 * 1024 * 1024;

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A data file is malformed or conflicts with another.
    #[error("{file}: {message}")]
    Data {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A Rego module does not parse or analyse (regorus's message: `file:line:col`, the line).
    #[error("{0}")]
    Compile(String),
    /// An entrypoint names nothing in the policies.
    #[error(
        "entrypoint {entrypoint} is neither a package nor a rule of the policies (entrypoints are written like `dockgate/main/decision`)"
    )]
    Entrypoint {
        /// The entrypoint.
        entrypoint: String,
    },
    /// No entrypoint given and no default found.
    #[error(
        "no entrypoint: pass `-e PACKAGE/RULE` (e.g. `-e myorg/docker/deny`); the default `{DEFAULT_ENTRYPOINT}` is not defined"
    )]
    NoEntrypoint,
    /// No `.rego` file in the inputs.
    #[error("no .rego files found in {0}")]
    NoPolicies(String),
    /// The runtime module could not take the payload.
    #[error(transparent)]
    Inject(#[from] inject::InjectError),
}

/// One Rego source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegoFile {
    /// The path as given (for messages).
    pub path: String,
    /// The path inside the bundle.
    pub bundle_path: String,
    /// The text.
    pub text: String,
}

impl RegoFile {
    /// True for `*_test.rego` files.
    pub fn is_test(&self) -> bool {
        self.bundle_path.ends_with("_test.rego")
    }
}

/// Policy sources: Rego files and the merged data document.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicySources {
    /// Rego files, sorted by bundle path.
    pub rego: Vec<RegoFile>,
    /// The data document.
    pub data: Value,
}

impl PolicySources {
    /// Reads sources from directories and files.
    pub fn load(paths: &[PathBuf]) -> Result<Self, BuildError> {
        let mut sources = Self {
            rego: Vec::new(),
            data: Value::Object(Map::new()),
        };
        for p in paths {
            let meta = std::fs::metadata(p).map_err(|source| BuildError::Io {
                path: p.display().to_string(),
                source,
            })?;
            if meta.is_dir() {
                walk(p, p, &mut sources)?;
            } else {
                let parent = p.parent().unwrap_or(Path::new(""));
                add_file(parent, p, &mut sources)?;
            }
        }
        if sources.rego.is_empty() {
            let list: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
            return Err(BuildError::NoPolicies(list.join(", ")));
        }
        sources
            .rego
            .sort_by(|a, b| a.bundle_path.cmp(&b.bundle_path));
        Ok(sources)
    }

    /// Sources from in-memory files: (bundle path, text) for Rego, plus a data document.
    pub fn from_memory(rego: Vec<(String, String)>, data: Value) -> Self {
        let mut rego: Vec<RegoFile> = rego
            .into_iter()
            .map(|(p, text)| RegoFile {
                path: p.clone(),
                bundle_path: p,
                text,
            })
            .collect();
        rego.sort_by(|a, b| a.bundle_path.cmp(&b.bundle_path));
        Self { rego, data }
    }
}

fn walk(root: &Path, dir: &Path, out: &mut PolicySources) -> Result<(), BuildError> {
    let io = |p: &Path, source| BuildError::Io {
        path: p.display().to_string(),
        source,
    };
    for path in bundle::sorted_entries(dir).map_err(|e| io(dir, e))? {
        let meta = std::fs::symlink_metadata(&path).map_err(|e| io(&path, e))?;
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if meta.is_dir() {
            walk(root, &path, out)?;
        } else if meta.is_file() {
            add_file(root, &path, out)?;
        }
    }
    Ok(())
}

fn add_file(root: &Path, path: &Path, out: &mut PolicySources) -> Result<(), BuildError> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let is_rego = name.ends_with(".rego");
    let is_data = matches!(name, "data.json" | "data.yaml" | "data.yml");
    if !is_rego && !is_data {
        return Ok(());
    }
    let shown = path.display().to_string();
    let io = |source| BuildError::Io {
        path: shown.clone(),
        source,
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > MAX_SOURCE_BYTES {
        return Err(BuildError::Data {
            file: shown,
            message: format!("larger than {MAX_SOURCE_BYTES} bytes"),
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    let rel = path
        .strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/");
    if is_rego {
        let text = String::from_utf8(bytes).map_err(|_| BuildError::Data {
            file: shown.clone(),
            message: "not UTF-8".into(),
        })?;
        out.rego.push(RegoFile {
            path: shown,
            bundle_path: rel,
            text,
        });
        return Ok(());
    }
    let value: Value = if name == "data.json" {
        serde_json::from_slice(&bytes).map_err(|e| BuildError::Data {
            file: shown.clone(),
            message: format!("invalid JSON: {e}"),
        })?
    } else {
        serde_yaml::from_slice(&bytes).map_err(|e| BuildError::Data {
            file: shown.clone(),
            message: format!("invalid YAML: {e}"),
        })?
    };
    let dir = rel.rsplit_once('/').map_or("", |(d, _)| d);
    bundle::merge_at(&mut out.data, dir, value).map_err(|message| BuildError::Data {
        file: shown,
        message,
    })
}

/// Parses and analyses every module natively (regorus), with the data, so that syntax and
/// semantic errors surface with their position. Returns the prepared engine.
pub fn check(sources: &PolicySources, include_tests: bool) -> Result<regorus::Engine, BuildError> {
    let mut engine = regorus::Engine::new();
    for f in sources
        .rego
        .iter()
        .filter(|f| include_tests || !f.is_test())
    {
        engine
            .add_policy(f.path.clone(), f.text.clone())
            .map_err(|e| BuildError::Compile(format!("{e}")))?;
    }
    rule_data_conflict(&mut engine, &sources.data)?;
    let data = regorus::Value::from_json_str(&sources.data.to_string())
        .map_err(|e| BuildError::Compile(format!("data: {e}")))?;
    engine
        .add_data(data)
        .map_err(|e| BuildError::Compile(format!("data: {e}")))?;
    // Analysis (unknown functions, recursion, conflicting definitions) runs on first eval.
    engine.set_input(regorus::Value::new_object());
    if let Err(e) = engine.eval_query("data".to_string(), false) {
        let msg = e.to_string();
        // Runtime errors on an empty input are not compile errors; analysis errors are.
        if msg.contains("error:") && !msg.contains("eval") {
            return Err(BuildError::Compile(msg));
        }
    }
    Ok(engine)
}

/// Refuses a rule (or function) whose path the data document also sets — or passes through a
/// value that is not an object — as OPA does: the two cannot both be `data.a.b`.
fn rule_data_conflict(engine: &mut regorus::Engine, data: &Value) -> Result<(), BuildError> {
    for head in rule_heads(engine) {
        let path = format!("{}.{}", head.package, head.name);
        // Quoted segments (`a["b-c"]`) are not split here: no check for those.
        if path.contains(['"', '[']) {
            continue;
        }
        let mut at = data;
        let mut walked = Vec::new();
        for seg in path.split('.') {
            let Value::Object(map) = at else {
                return Err(BuildError::Compile(format!(
                    "{}: rule data.{path} lies under data.{}, which the data files set to a {} (not an object): a rule and data cannot share a path — rename the package or the rule, or move that data",
                    head.location,
                    walked.join("."),
                    json_kind(at),
                )));
            };
            match map.get(seg) {
                Some(next) => {
                    walked.push(seg);
                    at = next;
                }
                None => break,
            }
        }
        if walked.len() == path.split('.').count() {
            return Err(BuildError::Compile(format!(
                "{}: rule data.{path} is also set by the data files (data.{path}): a rule and data cannot share a path — rename the rule, or move that data under another key",
                head.location,
            )));
        }
    }
    Ok(())
}

/// One rule head of a module, as written.
struct Head {
    /// The package, without `data.` (`dockgate.privilege`).
    package: String,
    /// The rule's name before any `[...]` (`findings` for `findings contains ...`).
    name: String,
    /// A function (or a function's default), not a rule with a value.
    function: bool,
    /// `file:line` of the head.
    location: String,
}

/// Every rule head of the engine's modules, in module and file order.
fn rule_heads(engine: &mut regorus::Engine) -> Vec<Head> {
    use regorus::unstable::{Rule, RuleHead};
    let mut heads = Vec::new();
    for m in engine.get_modules().iter() {
        let package = m.package.refr.span().text().to_string();
        for r in &m.policy {
            let (refr, function) = match r.as_ref() {
                Rule::Spec { head, .. } => match head {
                    RuleHead::Compr { refr, .. } | RuleHead::Set { refr, .. } => (refr, false),
                    RuleHead::Func { refr, .. } => (refr, true),
                },
                Rule::Default { refr, args, .. } => (refr, !args.is_empty()),
            };
            let span = refr.span();
            let text = span.text();
            heads.push(Head {
                package: package.clone(),
                name: text.split('[').next().unwrap_or(text).trim().to_string(),
                function,
                location: format!("{}:{}", span.source.file(), span.line),
            });
        }
    }
    heads
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Rule and package paths (`data.a.b`) defined by the engine's modules (functions left out).
fn defined_paths(engine: &mut regorus::Engine) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut packages = BTreeSet::new();
    for m in engine.get_modules().iter() {
        packages.insert(format!("data.{}", m.package.refr.span().text()));
    }
    let rules = rule_heads(engine)
        .into_iter()
        .filter(|h| !h.function)
        .map(|h| format!("data.{}.{}", h.package, h.name))
        .collect();
    (packages, rules)
}

/// `a/b/c` → `data.a.b.c`.
pub fn entrypoint_path(entrypoint: &str) -> String {
    let mut s = String::from("data");
    for seg in entrypoint.split(['/', '.']).filter(|s| !s.is_empty()) {
        s.push('.');
        s.push_str(seg);
    }
    s
}

/// A `test_*` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRule {
    /// Package, e.g. `dockgate.privilege_test`.
    pub package: String,
    /// Rule name, e.g. `test_privileged_denied`.
    pub name: String,
    /// OPA entrypoint, e.g. `dockgate/privilege_test/test_privileged_denied`.
    pub entrypoint: String,
    /// The file and line that define it.
    pub location: String,
}

/// Lists the `test_*` rules of the engine's modules, in file order.
pub fn discover_tests(engine: &mut regorus::Engine) -> Vec<TestRule> {
    use regorus::unstable::{Rule, RuleHead};
    let mut tests: Vec<TestRule> = Vec::new();
    for m in engine.get_modules().iter() {
        let package = m.package.refr.span().text().to_string();
        for r in &m.policy {
            let Rule::Spec {
                head: RuleHead::Compr { refr, .. },
                span,
                ..
            } = r.as_ref()
            else {
                continue;
            };
            let name = refr.span().text();
            if !name.starts_with("test_") || name.contains(['.', '[']) {
                continue;
            }
            if tests.iter().any(|t| t.package == package && t.name == name) {
                continue; // incremental definitions of one test
            }
            tests.push(TestRule {
                entrypoint: format!("{}/{name}", package.replace('.', "/")),
                package: package.clone(),
                name: name.to_string(),
                location: format!("{}:{}", span.source.get_path(), span.line),
            });
        }
    }
    tests
}

/// What to build.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Entrypoints (`pkg/rule`); empty = [`DEFAULT_ENTRYPOINT`] if defined.
    pub entrypoints: Vec<String>,
    /// Revision for the manifest; default = a hash of the inputs.
    pub revision: Option<String>,
    /// Include `*_test.rego` files (for `dockgate test`).
    pub include_tests: bool,
    /// Which evaluator the module runs rule entrypoints with.
    pub evaluator: Evaluator,
}

/// The evaluator inside the built module (see `runtime/src/compiled.rs`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Evaluator {
    /// regorus's interpreter: Rego's semantics as regorus implements them (the default).
    #[default]
    Interpreter,
    /// regorus's bytecode VM: about five times faster, but regorus 0.14.1's VM departs
    /// from Rego in places (an assignment of an undefined value does not fail its body; a body
    /// that iterates and finds nothing does not fall through to `else`): only for policies
    /// whose decisions are proven equal on it, as the built-in library's are.
    Vm,
}

impl Evaluator {
    fn as_str(self) -> &'static str {
        match self {
            Self::Interpreter => "interpreter",
            Self::Vm => "vm",
        }
    }
}

/// Checks the sources and builds the bundle.
pub fn build(sources: &PolicySources, options: &BuildOptions) -> Result<Bundle, BuildError> {
    let mut engine = check(sources, options.include_tests)?;
    let (packages, rules) = defined_paths(&mut engine);
    let mut entrypoints = options.entrypoints.clone();
    if entrypoints.is_empty() {
        if rules.contains(&entrypoint_path(DEFAULT_ENTRYPOINT)) {
            entrypoints.push(DEFAULT_ENTRYPOINT.to_string());
        } else {
            return Err(BuildError::NoEntrypoint);
        }
    }
    for e in &entrypoints {
        let path = entrypoint_path(e);
        let prefix = format!("{path}.");
        let known = rules.contains(&path)
            || packages.contains(&path)
            || packages.iter().any(|p| p.starts_with(&prefix));
        if !known {
            return Err(BuildError::Entrypoint {
                entrypoint: e.clone(),
            });
        }
    }
    let files: Vec<&RegoFile> = sources
        .rego
        .iter()
        .filter(|f| options.include_tests || !f.is_test())
        .collect();
    let payload = json!({
        "modules": files.iter().map(|f| json!({"path": f.path, "source": f.text})).collect::<Vec<_>>(),
        "entrypoints": entrypoints,
        "evaluator": options.evaluator.as_str(),
    });
    let payload = serde_json::to_vec(&payload).map_err(|e| BuildError::Compile(e.to_string()))?;
    let wasm = inject::inject(inject::RUNTIME_WASM, &payload)?;
    let revision = options.revision.clone().unwrap_or_else(|| {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(&payload);
        h.update(sources.data.to_string().as_bytes());
        hex::encode(h.finalize()).chars().take(12).collect()
    });
    let mut roots: BTreeSet<String> = packages
        .iter()
        .filter_map(|p| {
            p.strip_prefix("data.")?
                .split('.')
                .next()
                .map(str::to_string)
        })
        .collect();
    if let Value::Object(map) = &sources.data {
        roots.extend(map.keys().cloned());
    }
    Ok(Bundle {
        origin: "<build>".to_string(),
        manifest: Manifest {
            revision,
            roots: Some(roots.into_iter().collect()),
            wasm: entrypoints
                .iter()
                .map(|e| WasmEntry {
                    entrypoint: e.clone(),
                    module: "/policy.wasm".to_string(),
                })
                .collect(),
            rego_version: Some(1),
            // The entrypoints asked for, so the engine decides with exactly these (OPA may add
            // more to `wasm`: rules that depend on an entrypoint).
            metadata: Some(json!({"dockgate": {"decision_entrypoints": entrypoints}})),
        },
        wasm,
        wasm_path: "/policy.wasm".to_string(),
        data: sources.data.clone(),
        rego: files
            .iter()
            .map(|f| (f.bundle_path.clone(), f.text.clone()))
            .collect(),
    })
}
