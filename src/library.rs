//! The built-in default policy library (`policies/`), compiled into the binary.
//!
//! The sources are embedded at compile time and built into a bundle in-process with
//! [`crate::build`] (injection is milliseconds; the wasm compilation that follows is cached by
//! the engine), so the binary needs no files to enforce the library.

use include_dir::{Dir, DirEntry, include_dir};
use serde_json::Value;

use crate::build::{self, BuildError, BuildOptions, Evaluator, PolicySources};
use crate::policy::Bundle;

static POLICIES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/policies");

/// Where the active profile lives in the policy data.
pub const PROFILE_PATH: [&str; 3] = ["dockgate", "config", "profile"];

/// The library's profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    /// Blocks known privilege escalation; safe to enforce everywhere.
    Baseline,
    /// Baseline plus the hardening practices (non-root, read-only, limits, pinned images...).
    Restricted,
}

impl Profile {
    /// The name used in policy data.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Baseline => "baseline",
            Self::Restricted => "restricted",
        }
    }
}

/// The embedded sources (Rego and data files) of the library, tests included.
pub fn sources() -> Result<PolicySources, BuildError> {
    let mut rego = Vec::new();
    let mut data = Value::Object(serde_json::Map::new());
    collect(&POLICIES, &mut rego, &mut data)?;
    Ok(PolicySources::from_memory(rego, data))
}

fn collect(
    dir: &Dir<'static>,
    rego: &mut Vec<(String, String)>,
    data: &mut Value,
) -> Result<(), BuildError> {
    for entry in dir.entries() {
        match entry {
            DirEntry::Dir(d) => collect(d, rego, data)?,
            DirEntry::File(f) => {
                let path = f.path().to_string_lossy().replace('\\', "/");
                let shown = format!("policies/{path}");
                if path.ends_with(".rego") {
                    let text = f.contents_utf8().ok_or_else(|| BuildError::Data {
                        file: shown.clone(),
                        message: "not UTF-8".into(),
                    })?;
                    rego.push((shown, text.to_string()));
                } else if path.ends_with("/data.json") || path == "data.json" {
                    let v: Value =
                        serde_json::from_slice(f.contents()).map_err(|e| BuildError::Data {
                            file: shown.clone(),
                            message: format!("invalid JSON: {e}"),
                        })?;
                    let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
                    crate::policy::bundle::merge_at(data, dir, v).map_err(|message| {
                        BuildError::Data {
                            file: shown,
                            message,
                        }
                    })?;
                }
            }
        }
    }
    Ok(())
}

/// The library as a bundle, with `profile` set (the data file's default when `None`).
pub fn bundle(profile: Option<Profile>) -> Result<Bundle, BuildError> {
    let sources = sources()?;
    // The VM: its departures from Rego are avoided by the library, and its decisions are
    // proven equal to the interpreter's (tests/library_equivalence.rs).
    let options = BuildOptions {
        evaluator: Evaluator::Vm,
        ..BuildOptions::default()
    };
    let mut bundle = build::build(&sources, &options)?;
    bundle.origin = "built-in library".to_string();
    if let Some(p) = profile {
        bundle.set_data(&PROFILE_PATH, Value::String(p.as_str().to_string()));
    }
    Ok(bundle)
}
