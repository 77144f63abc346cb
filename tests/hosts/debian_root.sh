#!/usr/bin/env bash
# Build (once) a minimal Debian root with mmdebstrap for the host tests; sourced by
# gimp_root.sh and blender_root.sh, which say what goes in it.
# Usage: debian_root <root> <suite> <include> <stampline> <dir inside the root>...
# The root is rebuilt only when its stamp file is missing or holds another stampline. A lock
# beside it lets test runs started side by side wait for one build instead of racing.
debian_root() {
  local root="$1" suite="$2" include="$3" stampline="$4"
  shift 4
  local dirs=("$@") aptopt=()
  # the mirror's Release files for forky and sid are past their Valid-Until date
  [[ "$suite" == trixie ]] || aptopt=(--aptopt='Acquire::Check-Valid-Until "false"')
  mkdir -p "$(dirname "$root")"
  exec 9>"$root.lock"
  flock 9
  if [[ -f "$root/.bgcut-stamp" && "$(cat "$root/.bgcut-stamp")" == "$stampline" ]]; then
    echo "$root"; return 0
  fi
  if ! command -v mmdebstrap >/dev/null; then
    apt-get update >&2
    apt-get install -y --no-install-recommends mmdebstrap debian-archive-keyring >&2
  fi
  if mountpoint -q "$root/proc" 2>/dev/null; then
    echo "refusing to rebuild $root: something is mounted under it" >&2; return 1
  fi
  rm -rf "$root.tmp" "$root"
  mmdebstrap --variant=minbase --include="$include" "${aptopt[@]}" \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    "$suite" "$root.tmp" http://deb.debian.org/debian >&2
  local d
  for d in "${dirs[@]}"; do mkdir -p "$root.tmp/$d"; done
  echo "$stampline" > "$root.tmp/.bgcut-stamp"
  mv "$root.tmp" "$root"
  echo "$root"
}
