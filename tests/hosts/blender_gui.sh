#!/usr/bin/env bash
# Run Debian's real Blender with its GUI under Xvfb in a root from blender_root.sh, with
# blender_gui_control.py driving it the user's way (menus, Esc, the panel) from a timer on
# Blender's main thread; xdotool sends the real keys, ImageMagick takes the screenshots.
# Usage: blender_gui.sh ROOT IO_DIR [VAR=VALUE ...]   (IO_DIR holds bgcut.zip and in.png;
# everything the run writes lands there). Mounts live in a private mount namespace.
set -euo pipefail
cp "$(dirname "$0")/blender_gui_control.py" "$2/control.py"
exec unshare -m --propagation private bash -s -- "$@" <<'INNER'
set -euo pipefail
root="$1" io="$2"
shift 2
mkdir -p "$root/x/io" "$io/home"
mount -t proc proc "$root/proc"
mount -t tmpfs -o size=512m tmpfs "$root/dev/shm"
mount -t tmpfs tmpfs "$root/tmp"
mount --bind "$io" "$root/x/io"
exec chroot "$root" env -i HOME=/x/io/home PATH=/usr/bin:/bin LANG=C.UTF-8 DISPLAY=:71 \
  BGCUT_CONFIG_DIR=/x/io/config BGCUT_CACHE_DIR=/x/io/cache "$@" bash -c '
    Xvfb :71 -screen 0 1600x1000x24 -nolisten tcp >/dev/null 2>&1 &
    sleep 1
    openbox >/dev/null 2>&1 &
    sleep 0.5
    timeout 240 blender --factory-startup --online-mode --python /x/io/control.py > /x/io/blender.log 2>&1
    echo "blender exit $?" >> /x/io/blender.log'
INNER
