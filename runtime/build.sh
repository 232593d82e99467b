#!/usr/bin/env bash
# Rebuilds the wasm runtime and refreshes dist/: the module that `dockgate build` injects
# policies into, and the hashes of the sources it was built from (checked by
# tests/runtime_artifact.rs). Needs `rustup target add wasm32-unknown-unknown` and `patch`.
set -euo pipefail
cd "$(dirname "$0")"
./patch-regorus.sh
cargo build --release --locked
cp target/wasm32-unknown-unknown/release/dockgate_runtime.wasm dist/dockgate-runtime.wasm
sha256sum Cargo.toml Cargo.lock .cargo/config.toml build.sh patch-regorus.sh patches/*.patch src/*.rs > dist/SOURCES.sha256
echo "runtime/dist updated: $(wc -c < dist/dockgate-runtime.wasm) bytes"
