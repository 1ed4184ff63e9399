#!/usr/bin/env bash
# Build a local stand-in for python:3.11-slim from Debian packages, for machines
# that reach Debian's archive but no image registry (the smoke test's build host).
# Usage: docker/local-base.sh [IMAGE]   (default rmbg-local/python:3.11-slim)
# Needs root, debootstrap and a running Docker engine. Does nothing if IMAGE exists.
set -euo pipefail

DOCKER=${DOCKER:-docker}

image=${1:-rmbg-local/python:3.11-slim}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if "$DOCKER" image inspect "$image" >/dev/null 2>&1; then
    echo "local-base: $image already exists"
    exit 0
fi
command -v debootstrap >/dev/null || { echo "local-base: install debootstrap first" >&2; exit 1; }

rootfs=$(mktemp -d /tmp/rmbg-base.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT

# debootstrap does not resolve the dependencies of --include'd packages, so Python
# is installed afterwards with apt inside the new root.
debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs" "$mirror"
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
chroot "$rootfs" apt-get install -y --no-install-recommends python3.11 python3.11-venv python3-venv
chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs/etc/resolv.conf"

tar -C "$rootfs" -c . | "$DOCKER" import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' \
    - "$image"
"$DOCKER" run --rm "$image" python3 -c 'import sys, venv, ensurepip; print("local-base: Python", sys.version.split()[0])'
