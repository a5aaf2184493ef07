#!/usr/bin/env bash
#! Makes the local base image `localhost/cipherdrop-base:bookworm` (Debian bookworm, minbase) with
#! debootstrap from the Debian mirror apt already uses, for machines that reach Debian's packages
#! but no container registry. Idempotent: does nothing when the image exists. Prints its name.
set -euo pipefail
IMAGE=localhost/cipherdrop-base:bookworm
PODMAN=(podman --runtime runc)
if "${PODMAN[@]}" image exists "$IMAGE"; then
  echo "$IMAGE"
  exit 0
fi
# The first main-archive URI of apt's own sources (deb822 or one-line format).
MIRROR="$( { grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}';
            grep -h '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}'; } \
          | grep -v -- '-security' | head -n1 || true)"
[ -n "$MIRROR" ] || { echo "no Debian mirror in apt's sources" >&2; exit 1; }
ROOTFS="$(mktemp -d)"
trap 'rm -rf "$ROOTFS"' EXIT
debootstrap --variant=minbase bookworm "$ROOTFS" "$MIRROR" >&2
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/archives/*.deb
tar -C "$ROOTFS" -c . | "${PODMAN[@]}" import --change 'CMD ["/bin/bash"]' - "$IMAGE" >&2
echo "$IMAGE"
