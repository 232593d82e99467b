#!/usr/bin/env bash
# Makes runtime/patched/regorus-<version>/: regorus exactly as published on crates.io (the
# .crate's SHA-256 is pinned below and checked) with patches/regorus-<version>.patch applied.
# Cargo.toml's [patch.crates-io] builds the runtime against it. The directory is not
# committed; runtime/build.sh and tests/runtime_artifact.rs run this first. Does nothing when
# the directory is already made from the same crate and patch.
set -euo pipefail
cd "$(dirname "$0")"

VERSION=0.14.1
CRATE_SHA256=ec9c3ac0d614c8f87448b86c8ddef36c8affce3d2c5deea81b7c28c812e4bfb8
PATCH="$PWD/patches/regorus-$VERSION.patch"
OUT=patched/regorus-$VERSION

stamp="crate $CRATE_SHA256 patch $(sha256sum "$PATCH" | cut -d' ' -f1)"
if [ -f "$OUT/.dockgate-stamp" ] && [ "$(cat "$OUT/.dockgate-stamp")" = "$stamp" ]; then
    exit 0
fi

cargo_home="${CARGO_HOME:-$HOME/.cargo}"
find_crate() {
    if [ -d "$cargo_home/registry/cache" ]; then
        find "$cargo_home/registry/cache" -name "regorus-$VERSION.crate" | head -n 1
    fi
}
crate="$(find_crate)"
if [ -z "$crate" ]; then
    # Not in cargo's download cache yet: let cargo fetch it from the registry.
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    mkdir "$tmp/src"
    : > "$tmp/src/lib.rs"
    cat > "$tmp/Cargo.toml" <<EOF
[package]
name = "fetch-regorus"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
regorus = { version = "=$VERSION", default-features = false }
EOF
    cargo fetch --quiet --manifest-path "$tmp/Cargo.toml"
    crate="$(find_crate)"
fi
if [ -z "$crate" ]; then
    echo "patch-regorus.sh: regorus-$VERSION.crate not found in $cargo_home/registry/cache" >&2
    exit 1
fi
if ! echo "$CRATE_SHA256  $crate" | sha256sum --check --quiet; then
    echo "patch-regorus.sh: $crate is not the published regorus $VERSION (checksum differs)" >&2
    exit 1
fi

if ! command -v patch >/dev/null; then
    echo "patch-regorus.sh: needs the patch command (Debian: apt-get install patch)" >&2
    exit 1
fi
rm -rf "$OUT"
mkdir -p "$OUT"
tar -xzf "$crate" -C "$OUT" --strip-components=1
# The patch's leading text (what it changes and why) is not part of any hunk.
patch --quiet --directory="$OUT" --strip=1 --forward --input="$PATCH"
echo "$stamp" > "$OUT/.dockgate-stamp"
echo "runtime/$OUT: regorus $VERSION with $(basename "$PATCH")"
