#!/usr/bin/env bash
# Run a command in a cached GIMP root (see gimp_root.sh) with the plug-in folder at
# /x/plugin, an I/O folder at /x/io and a private profile at /x/profile (GIMP3_DIRECTORY).
# Usage: gimp_chroot.sh ROOT PLUGINS_DIR IO_DIR PROFILE_DIR [VAR=VALUE ...] COMMAND [ARG ...]
# Mounts live in a private mount namespace, so nothing leaks to the host even if killed.
set -euo pipefail
exec unshare -m --propagation private bash -s -- "$@" <<'INNER'
set -euo pipefail
root="$1" plugins="$2" io="$3" profile="$4"
shift 4
mkdir -p "$root/x/plugin" "$root/x/io" "$root/x/profile"
mount -t proc proc "$root/proc"
mount -t tmpfs -o size=512m tmpfs "$root/dev/shm"
mount -t tmpfs tmpfs "$root/tmp"
mount --bind "$plugins" "$root/x/plugin"
mount --bind "$io" "$root/x/io"
mount --bind "$profile" "$root/x/profile"
exec chroot "$root" env -i HOME=/root PATH=/usr/bin:/bin LANG=C.UTF-8 GIMP3_DIRECTORY=/x/profile "$@"
INNER
