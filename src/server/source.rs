//! Where the server's policies come from, and how to (re)load them into a bundle.

use std::path::PathBuf;

use serde_json::Value;

use crate::build::{self, BuildOptions, PolicySources};
use crate::library::{self, Profile};
use crate::policy::Bundle;

/// The policies a server (or a command) enforces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    /// The built-in library.
    Library,
    /// An OPA bundle (.tar.gz, directory, or bare .wasm).
    Bundle(PathBuf),
    /// A directory of Rego sources, built on load.
    Policies(PathBuf),
}

impl PolicySource {
    /// Reads or builds the bundle; `profile` overrides `data.dockgate.config.profile`.
    pub fn load(&self, profile: Option<Profile>) -> Result<Bundle, String> {
        let mut bundle = match self {
            Self::Library => library::bundle(None).map_err(|e| e.to_string())?,
            Self::Bundle(p) => Bundle::read(p).map_err(|e| e.to_string())?,
            Self::Policies(dir) => {
                let sources =
                    PolicySources::load(std::slice::from_ref(dir)).map_err(|e| e.to_string())?;
                let mut b =
                    build::build(&sources, &BuildOptions::default()).map_err(|e| e.to_string())?;
                b.origin = dir.display().to_string();
                b
            }
        };
        if let Some(p) = profile {
            bundle.set_data(&library::PROFILE_PATH, Value::String(p.as_str().into()));
        }
        Ok(bundle)
    }

    /// The path to watch for changes, if any.
    pub fn watch_path(&self) -> Option<&PathBuf> {
        match self {
            Self::Library => None,
            Self::Bundle(p) | Self::Policies(p) => Some(p),
        }
    }
}

/// The profile a bundle's data selects, if it has one.
pub fn bundle_profile(bundle: &Bundle) -> String {
    let mut cur = &bundle.data;
    for seg in library::PROFILE_PATH {
        match cur.get(seg) {
            Some(v) => cur = v,
            None => return String::new(),
        }
    }
    cur.as_str().unwrap_or_default().to_string()
}
