#!/usr/bin/env bash
# Build (once) a Debian root holding Debian's real Blender with its GUI, Xvfb and xdotool.
# Usage: tests/hosts/blender_root.sh [trixie|sid]   -> prints the root's path
#   trixie: Blender 4.3.2, Python 3.13;  sid: Blender 5.2.2 LTS, Python 3.14
# Debian's blender uses the system Python and depends on neither numpy nor requests (official
# builds bundle both): they are added. python3-pil is left out on purpose, so the Pillow the
# extension bundles is the one used. The root is cached outside the repo (BGCUT_HOST_CACHE,
# default /var/cache/bgcut) and rebuilt only when its stamp file is missing or stale.
set -euo pipefail
suite="${1:-trixie}"
cache="${BGCUT_HOST_CACHE:-/var/cache/bgcut}"
include="blender,python3-numpy,python3-requests,libgl1-mesa-dri,libegl-mesa0,xvfb,xauth,xdotool,imagemagick,openbox,fonts-dejavu-core,x11-utils"
case "$suite" in
  trixie) aptopt=() ;;
  # the mirror's sid Release files are past their Valid-Until date; sid's Extensions add-on
  # needs cattrs
  sid) aptopt=(--aptopt='Acquire::Check-Valid-Until "false"') include="$include,python3-cattr" ;;
  *) echo "unknown suite: $suite (trixie|sid)" >&2; exit 2 ;;
esac
root="$cache/blender-root-$suite"
stamp="$root/.bgcut-stamp"
stampline="$suite $include"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$stampline" ]]; then
  echo "$root"; exit 0
fi
if ! command -v mmdebstrap >/dev/null; then
  apt-get update >&2
  apt-get install -y --no-install-recommends mmdebstrap debian-archive-keyring >&2
fi
mkdir -p "$cache"
if mountpoint -q "$root/proc" 2>/dev/null; then
  echo "refusing to rebuild $root: something is mounted under it" >&2; exit 1
fi
rm -rf "$root.tmp" "$root"
mmdebstrap --variant=minbase --include="$include" "${aptopt[@]}" \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  "$suite" "$root.tmp" http://deb.debian.org/debian >&2
mkdir -p "$root.tmp/x/io"
echo "$stampline" > "$root.tmp/.bgcut-stamp"
mv "$root.tmp" "$root"
echo "$root"
