#!/usr/bin/env bash
# Run real GIMP 3 headless in a cached Debian root and execute a Python batch file from IO_DIR.
# Usage: gimp_run.sh ROOT PLUGINS_DIR IO_DIR PROFILE_DIR BATCH_FILE_IN_IO [VAR=VALUE ...]
set -euo pipefail
root="$1" plugins="$2" io="$3" profile="$4" batch="$5"
shift 5
if [[ ! -f "$profile/gimprc" ]]; then
  printf '(plug-in-path "${gimp_dir}/plug-ins:${gimp_plug_in_dir}/plug-ins:/x/plugin")\n' > "$profile/gimprc"
fi
exec bash "$(dirname "$0")/gimp_chroot.sh" "$root" "$plugins" "$io" "$profile" "$@" \
  gimp-console -i -d -f --batch-interpreter=python-fu-eval \
  -b "exec(open('/x/io/$batch').read())" --quit
