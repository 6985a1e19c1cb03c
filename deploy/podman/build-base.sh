#!/usr/bin/env bash
# Build a Debian bookworm base image with python3 + venv from Debian's own packages and import
# it into podman, for hosts that cannot pull python:*-slim or nvidia/cuda from Docker Hub.
#
#   deploy/podman/build-base.sh            # prints the image name: localhost/ali-debian-python:bookworm
#   podman build --build-arg PYTHON_IMAGE=localhost/ali-debian-python:bookworm --target cpu .
#
# debootstrap (--variant=minbase) needs root and reaches only the Debian mirror. The root
# filesystem is cached as a tarball under ${XDG_CACHE_HOME:-$HOME/.cache}/ali-image/, keyed by a
# hash of the suite, mirror and package list, so later runs only `podman import` it (or nothing,
# when podman already holds that key). Delete the cache folder to pick up newer Debian packages.
#
# Environment: DEBIAN_MIRROR (default http://deb.debian.org/debian), ALI_BASE_IMAGE (the name),
# CONTAINERS_CONF (passed through to podman).
set -euo pipefail

SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
IMAGE=${ALI_BASE_IMAGE:-localhost/ali-debian-python:bookworm}
# python-is-python3: the `python` link the Dockerfile's cpu stages call. passwd (useradd) is in
# minbase already. Bump RECIPE when the steps below change.
PACKAGES=python3,python3-venv,python-is-python3,ca-certificates
RECIPE=1
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/ali-image

key=$(printf '%s\n' "$RECIPE" "$SUITE" "$MIRROR" "$PACKAGES" | sha256sum | cut -c1-12)
tarball=$CACHE/debian-$SUITE-python-$key.tar.gz
repo=${IMAGE%:*}

log() { echo "build-base: $*" >&2; }

if podman image exists "$repo:$key"; then
  log "podman already holds $repo:$key"
  podman tag "$repo:$key" "$IMAGE"
  echo "$IMAGE"
  exit 0
fi

if [ ! -s "$tarball" ]; then
  command -v debootstrap >/dev/null || {
    log "debootstrap is not installed (apt-get install debootstrap)"
    exit 1
  }
  mkdir -p "$CACHE"
  root=$(mktemp -d "$CACHE/rootfs.XXXXXX")
  steps=$root.log
  # Leave nothing mounted or half-written behind, whatever happens; show the log on failure.
  cleanup() {
    local rc=$?
    # Unmount whatever debootstrap or this script left mounted in the chroot, deepest first,
    # and never let rm cross into a mount (a bind-mounted /dev would be the host's).
    awk -v r="$root/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r |
      while read -r m; do umount -l "$m" 2>/dev/null || true; done
    [ $rc = 0 ] || tail -20 "$steps" >&2
    rm -rf --one-file-system "$root" "$steps" "$tarball.tmp"
  }
  trap cleanup EXIT
  log "debootstrap $SUITE ($PACKAGES) from $MIRROR"
  start=$SECONDS
  debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$root" "$MIRROR" >"$steps" 2>&1
  # Like Debian's official images: no service starts on package install inside an image
  # build (Debian's prometheus package, for one, starts a server from its postinst).
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 755 "$root/usr/sbin/policy-rc.d"
  # The same apt sources as debian:bookworm, security updates included, applied now.
  rm -f "$root/etc/apt/sources.list"
  cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  mount -t proc proc "$root/proc"
  chroot "$root" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get upgrade -y -qq' \
    >>"$steps" 2>&1
  umount "$root/proc"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/tmp/*
  tar --numeric-owner -C "$root" --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
    -czf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  log "cached $tarball ($((SECONDS - start)) s)"
else
  log "using cached $tarball"
fi

podman import --quiet \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["/bin/bash"]' \
  "$tarball" "$repo:$key" >/dev/null
podman tag "$repo:$key" "$IMAGE"
log "imported $IMAGE ($repo:$key)"
echo "$IMAGE"
