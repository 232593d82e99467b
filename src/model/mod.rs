//! The admission model: what every adapter produces and every policy sees.
//!
//! One document, [`AdmissionRequest`], describes a proposed (or running) container whatever
//! its source — a compose service, an Engine API create/update body, a container inspect or an
//! exec request — so a compose check and the runtime verdict for the same service agree. The
//! engine turns it into a [`Decision`]. This module does no I/O.
//!
//! Policy authors: the JSON form of these types is the `input` document, documented in
//! `docs/input.md`; its JSON Schema is generated from these types (`dockgate schema input`).

mod container;
mod decision;
mod image_ref;
mod request;

pub use container::*;
pub use decision::*;
pub use image_ref::{ImageRef, ImageRefError};
pub use request::*;

pub mod normalize;
mod schema;

pub use schema::{
    InputFieldError, InputValidationError, input_schema, json_kind, json_path, validate_input_json,
};
