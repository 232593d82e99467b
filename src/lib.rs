//! dockgate: admission control for Docker and Docker Compose.
//!
//! The crate follows the data:
//!
//! ```text
//! adapters in                 core                         adapters out
//! compose/ (files)   ─┐                                  ┌─ gRPC reply (server/)
//! engine_api/ (JSON) ─┼─► model::AdmissionRequest ─► policy::Engine ─► model::Decision ─┼─ AuthZ reply (authz/)
//!                     ┘                                  └─ reports (report/)
//! ```
//!
//! - [`model`]: the input document and the decision (pure data, no I/O);
//! - [`policy`]: loads OPA bundles and evaluates them in WebAssembly (the engine facade);
//! - [`build`]: `dockgate build`, Rego sources → an OPA wasm bundle without the Go toolchain;
//! - [`library`]: the built-in default policy library (`policies/`), compiled in;
//! - [`compose`] and [`engine_api`]: adapters from compose files and Engine API bodies.

pub mod authz;
pub mod build;
pub mod catalogue;
pub mod check;
pub mod client;
pub mod compose;
pub mod engine_api;
pub mod library;
pub mod model;
pub mod policy;
pub mod report;
pub mod server;
