//! Errors and warnings of the compose adapter.
//!
//! Every error says where (`file:line:col`, and the service and field when there is one) and
//! what to do. Schema violations are collected, not stopped at: one run reports them all.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use super::node::Position;

/// One located message: a schema violation, or a warning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Where.
    pub pos: Position,
    /// The path in the file (`services.web.ports[0]`), `""` for the document.
    pub path: String,
    /// What.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}", self.pos, self.message)
        } else {
            write!(f, "{}: {}: {}", self.pos, self.path, self.message)
        }
    }
}

/// Why a compose project could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// No file named, none found.
    #[error(
        "no compose file in {dir} (looked for compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml): run from the project directory or name the file with -f"
    )]
    NotFound {
        /// Where it looked.
        dir: PathBuf,
    },
    /// A file could not be read.
    #[error("cannot read {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file over the size limit (refused before reading it).
    #[error(
        "{path}: {size} bytes is over the {limit}-byte limit for compose and env files: is it the right file?"
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size (at least).
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Malformed or hostile YAML, or a file that is not UTF-8.
    #[error("{pos}: {message}")]
    Yaml {
        /// Where.
        pos: Position,
        /// What, and what to do.
        message: String,
    },
    /// A malformed env file (`.env`, `env_file`).
    #[error("{file}:{line}: {message}")]
    EnvFile {
        /// The file.
        file: String,
        /// The line.
        line: usize,
        /// What.
        message: String,
    },
    /// `${VAR:?err}` failed or a `$` is malformed.
    #[error("{pos}: {message}")]
    Interpolation {
        /// Where the value is.
        pos: Position,
        /// What, and what to do.
        message: String,
    },
    /// The files violate the Compose JSON Schema; every violation is listed.
    #[error("{} error(s) against the Compose specification:\n{}", .errors.len(), list(.errors))]
    Schema {
        /// Every violation.
        errors: Vec<Diagnostic>,
    },
    /// A service field that the schema accepts but that cannot be normalised (a bad image
    /// reference, size or duration, a port range too large...).
    #[error("{pos}: service {service:?}: `{field}`: {message}")]
    Service {
        /// The service.
        service: String,
        /// The field path inside the service (`ports[2]`).
        field: String,
        /// Where.
        pos: Position,
        /// What, and what to do.
        message: String,
    },
    /// A project-level problem (`extends` cycle, missing base service, no services...).
    #[error("{pos}: {message}")]
    Project {
        /// Where.
        pos: Position,
        /// What, and what to do.
        message: String,
    },
}

fn list(errors: &[Diagnostic]) -> String {
    errors
        .iter()
        .map(|d| format!("  {d}"))
        .collect::<Vec<_>>()
        .join("\n")
}
