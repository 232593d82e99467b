#!/usr/bin/env bash
# Builds the dockgate authorization plugin as a Docker managed plugin (docker.authz/1.0):
# a rootfs holding the release binary and the shared libraries it links, plus config.json.
#
#   cargo build --release
#   bash deploy/plugin/build.sh [TAG]          # default TAG: dockgate/authz:<crate version>
#   docker plugin enable dockgate/authz:0.1.0
#
# then list the plugin by its full name in daemon.json ("authorization-plugins":
# ["dockgate/authz:0.1.0"]). Needs root and a running dockerd; run from the repository root.
set -euo pipefail
cd "$(dirname "$0")/../.."

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
tag=${1:-dockgate/authz:$version}
binary=${DOCKGATE_BINARY:-target/release/dockgate}
[ -x "$binary" ] || { echo "build.sh: $binary missing: run cargo build --release" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs
mkdir -p "$rootfs/usr/local/bin" "$rootfs/run/docker/plugins" "$rootfs/run/dockgate" "$rootfs/tmp"
install -m 0755 "$binary" "$rootfs/usr/local/bin/dockgate"
# The binary links glibc dynamically: copy exactly the libraries (and loader) it names.
ldd "$binary" | awk '/=>/ {print $3} !/=>/ && /^\s*\// {print $1}' | while read -r lib; do
  [ -n "$lib" ] && [ -e "$lib" ] || continue
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
done
cp deploy/plugin/config.json "$work/config.json"
docker plugin create "$tag" "$work"
echo "created $tag: docker plugin enable $tag"
