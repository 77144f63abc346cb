#!/usr/bin/env bash
# Build (once) a Debian root holding real GIMP 3 for the host tests.
# Usage: tests/hosts/gimp_root.sh [full|bare|gui] [trixie|forky]   -> prints the root's path
#   trixie (default): GIMP 3.0.x, Python 3.13;  forky: GIMP 3.2.x, Python 3.14
#   full: gimp + python3-gi + numpy/Pillow/requests (like a Linux distro's GIMP)
#   bare: gimp + python3-gi only (like GIMP's bundled Python on Windows/macOS)
#   gui:  full + Xvfb and xdotool, to drive GIMP's real windows
# The root is cached outside the repo (BGCUT_HOST_CACHE, default /var/cache/bgcut) and
# rebuilt only when its stamp file is missing.
set -euo pipefail
flavour="${1:-full}" suite="${2:-trixie}"
cache="${BGCUT_HOST_CACHE:-/var/cache/bgcut}"
case "$suite" in
  trixie) root="$cache/gimp-root-$flavour" aptopt=() ;;
  # the mirror's forky Release files are past their Valid-Until date
  forky) root="$cache/gimp-root-forky-$flavour" aptopt=(--aptopt='Acquire::Check-Valid-Until "false"') ;;
  *) echo "unknown suite: $suite (trixie|forky)" >&2; exit 2 ;;
esac
stamp="$root/.bgcut-stamp"
case "$flavour" in
  full) include="gimp,python3-gi,gir1.2-gimp-3.0,python3-numpy,python3-pil,python3-requests" ;;
  bare) include="gimp,python3-gi,gir1.2-gimp-3.0" ;;
  gui) include="gimp,python3-gi,gir1.2-gimp-3.0,python3-numpy,python3-pil,python3-requests,xvfb,xauth,xdotool,imagemagick,fonts-dejavu-core,x11-utils" ;;
  *) echo "unknown flavour: $flavour (full|bare|gui)" >&2; exit 2 ;;
esac
stampline="$include"
[[ "$suite" == trixie ]] || stampline="$suite $include"
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
mkdir -p "$root.tmp/x/plugin" "$root.tmp/x/io" "$root.tmp/x/profile"
echo "$stampline" > "$root.tmp/.bgcut-stamp"
mv "$root.tmp" "$root"
echo "$root"
