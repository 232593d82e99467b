//! Shared helpers for integration tests. Use from a test crate with
//! `mod support;` and then e.g. `support::dockerd::PrivateDockerd`.

pub mod dockerd;
