#!/usr/bin/env bash
# Install what the Docker end-to-end tests need, if it is missing, and print
# the versions: Debian's docker.io (dockerd + docker CLI, engine 20.10,
# API 1.41), docker-compose (v1.29, Python) and busybox-static (the rootfs of
# the test image). Idempotent; run as root on Debian:
#
#   bash .ci/docker-setup.sh
#
# It does not start any daemon: tests start their own private dockerd
# (tests/support/dockerd.rs, tests/fixtures/engine-capture/capture.sh).
set -euo pipefail

PACKAGES=(docker.io docker-compose busybox-static)

[ "$(id -u)" = 0 ] || { echo "docker-setup.sh: must run as root" >&2; exit 1; }

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$pkg")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "docker-setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
  # Keep the package scripts from starting a system-wide dockerd, unless the
  # machine already has its own policy.
  policy=/usr/sbin/policy-rc.d
  own_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=1
  fi
  trap '[ -z "$own_policy" ] || rm -f "$policy"' EXIT
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "docker-setup.sh: ${PACKAGES[*]} already installed"
fi

# Debian's client is /usr/bin/docker; another docker earlier in PATH (e.g.
# /usr/local/bin/docker) is not the one the tests prefer.
echo "dockerd:        $(dockerd --version)"
echo "docker (CLI):   $(/usr/bin/docker --version)"
if [ "$(command -v docker)" != /usr/bin/docker ]; then
  echo "                note: PATH's docker is $(command -v docker): $(docker --version 2>&1 | head -n1)"
fi
echo "docker-compose: $(docker-compose version --short)"
echo "busybox:        $(busybox 2>&1 | head -n1)"
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='                ${Package} ${Version}\n' "$pkg"
done
