#!/usr/bin/env bash
# Drive the real GIMP 3 GUI under Xvfb in the "gui" root: run gimp_gui_batch.py, which
# opens Remove Background interactively; screenshot each dialog the plug-in shows, answer
# it (type the API key when asked, then press Return), and let the run finish.
# Usage: gimp_gui.sh ROOT PLUGINS_DIR IO_DIR PROFILE_DIR TYPED_KEY [VAR=VALUE ...]
set -euo pipefail
root="$1" plugins="$2" io="$3" profile="$4" typed_key="$5"
shift 5
cp "$(dirname "$0")/gimp_gui_batch.py" "$io/gui_batch.py"
cat > "$profile/gimprc" <<'RC'
(plug-in-path "${gimp_dir}/plug-ins:${gimp_plug_in_dir}/plug-ins:/x/plugin")
(config-version "3.0.4")
(show-welcome-dialog no)
(show-tips no)
RC
cat > "$io/drive.sh" <<'DRIVE'
set -u
Xvfb :77 -screen 0 1400x900x24 >/dev/null 2>&1 &
sleep 1
export DISPLAY=:77
gimp-3.0 -n -d -f --batch-interpreter=python-fu-eval -b "exec(open('/x/io/gui_batch.py').read())" --quit \
  > /x/io/gimp.log 2>&1 &
gimp=$!
shot=0
for _ in $(seq 1 120); do
  sleep 1
  kill -0 "$gimp" 2>/dev/null || break
  win=$(xdotool search --name "BackgroundCut API key" 2>/dev/null | head -1 || true)
  if [[ -n "$win" ]]; then
    sleep 1; shot=$((shot+1)); import -window root "/x/io/dialog$shot.png"
    xdotool windowfocus --sync "$win"; sleep 0.3
    xdotool type --delay 20 "$TYPED_KEY"; xdotool key Return
    sleep 2
    continue
  fi
  win=$(xdotool search --name "Remove Background" 2>/dev/null | head -1 || true)
  if [[ -n "$win" ]]; then
    sleep 1; shot=$((shot+1)); import -window root "/x/io/dialog$shot.png"
    xdotool windowfocus --sync "$win"; sleep 0.3
    xdotool key Return
    sleep 2
  fi
done
wait "$gimp" 2>/dev/null || true
DRIVE
exec bash "$(dirname "$0")/gimp_chroot.sh" "$root" "$plugins" "$io" "$profile" \
  TYPED_KEY="$typed_key" "$@" timeout 180 bash /x/io/drive.sh
