//! Generated protobuf and gRPC code for `dockgate.v1` (from `proto/`, by `build.rs`).

#![allow(missing_docs, clippy::all, clippy::pedantic)]

tonic::include_proto!("dockgate.v1");

/// The encoded file descriptor set, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    tonic::include_file_descriptor_set!("dockgate_v1_descriptor");
