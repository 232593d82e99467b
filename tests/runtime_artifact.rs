//! The committed wasm runtime (`runtime/dist/dockgate-runtime.wasm`) matches its source.
//!
//! Always: the hashes in `runtime/dist/SOURCES.sha256` match the runtime's sources, and every
//! source file is listed (so an edit without `runtime/build.sh` fails here, also in CI where
//! the wasm target is absent). When the `wasm32-unknown-unknown` target is installed: the
//! runtime is rebuilt from source (regorus patched by `runtime/patch-regorus.sh`) and must
//! equal the committed module byte for byte.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

fn runtime_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("runtime")
}

#[test]
fn committed_runtime_hashes_match_its_sources() {
    let dir = runtime_dir();
    let listing = std::fs::read_to_string(dir.join("dist/SOURCES.sha256")).unwrap();
    let mut listed = Vec::new();
    for line in listing.lines() {
        let (hash, file) = line.split_once("  ").expect("sha256sum format");
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let actual = hex::encode(Sha256::digest(&bytes));
        assert_eq!(
            actual, hash,
            "runtime/{file} changed since runtime/dist was built: run runtime/build.sh and commit runtime/dist"
        );
        listed.push(file.to_string());
    }
    for folder in ["src", "patches"] {
        for entry in std::fs::read_dir(dir.join(folder)).unwrap() {
            let name = format!("{folder}/{}", entry.unwrap().file_name().to_string_lossy());
            assert!(
                listed.contains(&name),
                "runtime/{name} is not in runtime/dist/SOURCES.sha256: run runtime/build.sh"
            );
        }
    }
}

fn wasm_target_installed() -> bool {
    let Ok(out) = Command::new("rustc").args(["--print", "sysroot"]).output() else {
        return false;
    };
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Path::new(&sysroot)
        .join("lib/rustlib/wasm32-unknown-unknown")
        .is_dir()
}

#[test]
fn rebuilding_the_runtime_reproduces_the_committed_module() {
    if !wasm_target_installed() {
        eprintln!(
            "SKIPPED rebuilding_the_runtime_reproduces_the_committed_module: the \
             wasm32-unknown-unknown target is not installed (rustup target add \
             wasm32-unknown-unknown); the source hashes were still checked"
        );
        return;
    }
    let dir = runtime_dir();
    // The runtime builds against a patched regorus made from the published crate.
    let status = Command::new("bash")
        .arg(dir.join("patch-regorus.sh"))
        .status()
        .unwrap();
    assert!(status.success(), "runtime/patch-regorus.sh failed");
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/runtime-check");
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--locked"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .unwrap();
    assert!(status.success(), "building the runtime failed");
    let built =
        std::fs::read(target.join("wasm32-unknown-unknown/release/dockgate_runtime.wasm")).unwrap();
    let committed = std::fs::read(dir.join("dist/dockgate-runtime.wasm")).unwrap();
    assert!(
        built == committed,
        "runtime/dist/dockgate-runtime.wasm differs from a fresh build ({} vs {} bytes): run runtime/build.sh",
        committed.len(),
        built.len()
    );
}
