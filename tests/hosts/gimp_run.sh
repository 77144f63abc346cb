#!/usr/bin/env bash
# Run real GIMP 3 headless in a cached trixie root (see gimp_root.sh), with a plug-in folder,
# an I/O folder and a private profile bind-mounted, and execute a Python batch file.
# Usage: gimp_run.sh ROOT PLUGINS_DIR IO_DIR PROFILE_DIR BATCH_FILE_IN_IO [VAR=VALUE ...]
# Mounts live in a private mount namespace, so nothing leaks to the host even if killed.
set -euo pipefail
root="$1" plugins="$2" io="$3" profile="$4" batch="$5"
shift 5
exec unshare -m --propagation private bash -s -- "$root" "$plugins" "$io" "$profile" "$batch" "$@" <<'INNER'
set -euo pipefail
root="$1" plugins="$2" io="$3" profile="$4" batch="$5"
shift 5
mkdir -p "$root/x/plugin" "$root/x/io" "$root/x/profile"
mount -t proc proc "$root/proc"
mount -t tmpfs -o size=512m tmpfs "$root/dev/shm"
mount --bind "$plugins" "$root/x/plugin"
mount --bind "$io" "$root/x/io"
mount --bind "$profile" "$root/x/profile"
if [[ ! -f "$profile/gimprc" ]]; then
  printf '(plug-in-path "${gimp_dir}/plug-ins:${gimp_plug_in_dir}/plug-ins:/x/plugin")\n' > "$profile/gimprc"
fi
exec chroot "$root" env -i HOME=/root PATH=/usr/bin:/bin LANG=C.UTF-8 GIMP3_DIRECTORY=/x/profile "$@" \
  gimp-console-3.0 -i -d -f --batch-interpreter=python-fu-eval \
  -b "exec(open('/x/io/$batch').read())" --quit
INNER
