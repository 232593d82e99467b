//! `dockgate build`: Rego sources → an OPA wasm bundle, without the Go toolchain.
