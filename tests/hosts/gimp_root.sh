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
source "$(dirname "$0")/debian_root.sh"
flavour="${1:-full}" suite="${2:-trixie}"
cache="${BGCUT_HOST_CACHE:-/var/cache/bgcut}"
case "$suite" in
  trixie) root="$cache/gimp-root-$flavour" ;;
  forky) root="$cache/gimp-root-forky-$flavour" ;;
  *) echo "unknown suite: $suite (trixie|forky)" >&2; exit 2 ;;
esac
case "$flavour" in
  full) include="gimp,python3-gi,gir1.2-gimp-3.0,python3-numpy,python3-pil,python3-requests" ;;
  bare) include="gimp,python3-gi,gir1.2-gimp-3.0" ;;
  gui) include="gimp,python3-gi,gir1.2-gimp-3.0,python3-numpy,python3-pil,python3-requests,xvfb,xauth,xdotool,imagemagick,fonts-dejavu-core,x11-utils" ;;
  *) echo "unknown flavour: $flavour (full|bare|gui)" >&2; exit 2 ;;
esac
stampline="$include"
[[ "$suite" == trixie ]] || stampline="$suite $include"
debian_root "$root" "$suite" "$include" "$stampline" x/plugin x/io x/profile
