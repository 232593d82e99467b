//! The policy engine: OPA bundles evaluated in WebAssembly through `opa-wasm`.
