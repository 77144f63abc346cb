#!/usr/bin/env bash
# Build (once) a Debian root holding Debian's real Blender with its GUI, Xvfb and xdotool.
# Usage: tests/hosts/blender_root.sh [trixie|sid]   -> prints the root's path
#   trixie: Blender 4.3.2, Python 3.13;  sid: Blender 5.2.2 LTS, Python 3.14
# Debian's blender uses the system Python and depends on neither numpy nor requests (official
# builds bundle both): they are added. python3-pil is left out on purpose, so the Pillow the
# extension bundles is the one used. The root is cached outside the repo (BGCUT_HOST_CACHE,
# default /var/cache/bgcut) and rebuilt only when its stamp file is missing or stale.
set -euo pipefail
source "$(dirname "$0")/debian_root.sh"
suite="${1:-trixie}"
cache="${BGCUT_HOST_CACHE:-/var/cache/bgcut}"
include="blender,python3-numpy,python3-requests,libgl1-mesa-dri,libegl-mesa0,xvfb,xauth,xdotool,imagemagick,openbox,fonts-dejavu-core,x11-utils"
case "$suite" in
  trixie) ;;
  # sid's Extensions add-on needs cattrs
  sid) include="$include,python3-cattr" ;;
  *) echo "unknown suite: $suite (trixie|sid)" >&2; exit 2 ;;
esac
root="$cache/blender-root-$suite"
stampline="$suite $include"
debian_root "$root" "$suite" "$include" "$stampline" x/io
