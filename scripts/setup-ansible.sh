#!/usr/bin/env bash
# Idempotent set-up for the Ansible role tests (Molecule with podman on a locally built Debian 12 image).
# Runs as root, non-interactive. Installs only what is missing and says what it does.
#   - apt: podman, runc, debootstrap (+ slirp4netns, fuse-overlayfs, uidmap used by podman)
#   - /etc/containers/containers.conf: [engine] runtime = "runc" (crun fails here with setrlimit RLIMIT_NOFILE)
#   - image $KCLOUD_NODE_IMAGE (default localhost/kcloud-debian12-node:latest) built with debootstrap + podman import
# The Python tools (ansible, ansible-lint, molecule, molecule-plugins[podman]) come from the project's
# `ansible` extra (pins in tests/ansible/REQUIREMENTS.txt); this script does not touch any virtualenv.
set -euo pipefail

IMAGE="${KCLOUD_NODE_IMAGE:-localhost/kcloud-debian12-node:latest}"
SUITE="${KCLOUD_NODE_SUITE:-bookworm}"
MIRROR="${KCLOUD_DEBIAN_MIRROR:-}"
CONF=/etc/containers/containers.conf

log() { printf 'setup-ansible: %s\n' "$*"; }

if [[ $(id -u) -ne 0 ]]; then
  log "must run as root (it installs packages and builds a podman image)" >&2
  exit 1
fi

# 1. System packages, only the missing ones.
missing=()
for pkg in podman runc debootstrap slirp4netns fuse-overlayfs uidmap; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  log "podman, runc, debootstrap already installed"
fi

# 2. podman engine runtime = runc.
mkdir -p "$(dirname "$CONF")"
if [[ -f $CONF ]] && grep -Eq '^[[:space:]]*runtime[[:space:]]*=[[:space:]]*"runc"' "$CONF"; then
  log "$CONF already sets runtime = \"runc\""
elif [[ -f $CONF ]] && grep -Eq '^[[:space:]]*\[engine\]' "$CONF"; then
  log "adding runtime = \"runc\" to the [engine] table of $CONF"
  sed -i -E '/^[[:space:]]*runtime[[:space:]]*=/d' "$CONF"
  sed -i -E 's/^([[:space:]]*\[engine\].*)$/\1\nruntime = "runc"/' "$CONF"
else
  log "writing [engine] runtime = \"runc\" to $CONF"
  printf '\n[engine]\nruntime = "runc"\n' >>"$CONF"
fi

# 3. The Debian 12 node image, only if absent.
if podman image exists "$IMAGE"; then
  log "image $IMAGE already exists"
else
  root=$(mktemp -d /var/tmp/kcloud-debian12-rootfs.XXXXXX)
  trap 'rm -rf "$root"' EXIT
  log "building $IMAGE: debootstrap $SUITE into $root (about a minute)"
  debootstrap --variant=minbase --include=python3,systemd,systemd-sysv,dbus,iproute2,procps,ca-certificates \
    "$SUITE" "$root" ${MIRROR:+"$MIRROR"} >/dev/null
  # Containers have no real console or hardware; mask units that only fail or wait there.
  for unit in getty@tty1.service serial-getty@.service console-getty.service systemd-udevd.service \
    systemd-udev-trigger.service systemd-modules-load.service sys-kernel-config.mount \
    sys-kernel-debug.mount sys-kernel-tracing.mount systemd-remount-fs.service; do
    ln -sf /dev/null "$root/etc/systemd/system/$unit"
  done
  rm -f "$root/etc/machine-id" && : >"$root/etc/machine-id"
  apt-get clean -o RootDir="$root" 2>/dev/null || true
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb
  tar -C "$root" -c . | podman import \
    --change 'CMD ["/sbin/init"]' --change 'ENV container=podman' --change 'STOPSIGNAL SIGRTMIN+3' \
    - "$IMAGE" >/dev/null
  log "image $IMAGE built"
fi
log "done"
