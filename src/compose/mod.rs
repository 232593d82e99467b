//! Compose adapter: compose files → `AdmissionRequest`s (one per active service).
//!
//! It reads a project as Docker Compose does — file discovery, `-f` overrides merged by the
//! Compose rules, `.env` and `env_file`, interpolation, anchors and merge keys, `extends`,
//! profiles, short and long syntaxes — validates every file against the official Compose JSON
//! Schema (all violations at once, each at `file:line:col`), and normalises each service into
//! the [`ContainerSpec`](crate::model::ContainerSpec) that docker-compose 1.29 would send to the
//! Engine, so a pre-deploy check and the runtime admission of the same service agree.
//!
//! Layout, in the order the data flows: [`fs`] (the only file I/O) → [`yaml`] (marked parse,
//! hostile-input limits) → [`interpolate`] / [`dotenv`] → [`schema`] → [`merge`] / [`extends`]
//! → [`service`] ([`ports`], [`mounts`], [`limits`], [`units`]) → [`project`]. [`load`] drives it.

mod dotenv;
pub mod error;
mod extends;
pub mod fs;
pub mod interpolate;
mod limits;
pub mod load;
mod locate;
mod merge;
mod mounts;
pub mod node;
mod ports;
pub mod project;
mod schema;
mod service;
pub mod units;
pub mod yaml;

pub use error::{ComposeError, Diagnostic};
pub use fs::{FileSystem, MAX_FILE_BYTES, MemFs, RealFs};
pub use load::{LoadOptions, load, load_with};
pub use node::Position;
pub use project::{Project, ServiceDoc};
pub use schema::SPEC as COMPOSE_SPEC_JSON;
pub use service::COMPOSE_VERSION;

/// Validates a document (already parsed) against the Compose schema; for tests and tools
/// that want the official verdict on a file without loading a project.
pub fn validate_against_spec(root: &node::Node) -> (Vec<Diagnostic>, Vec<Diagnostic>) {
    let f = schema::validate(root);
    (f.errors, f.warnings)
}
