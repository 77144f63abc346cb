#!/usr/bin/env bash
# Drive the real GIMP 3 GUI under Xvfb in a "gui" root as a user would: open Layer ▸
# Transparency from the keyboard (screenshot), let gimp_gui_batch.py open Remove Background
# interactively, screenshot each dialog the plug-in shows and answer it (type the API key
# when asked, then press Return); with CANCEL_AFTER=S, click the progress bar's cancel
# button S seconds after the dialog was accepted (screenshot first). A last screenshot
# shows the result. With IO_DIR/console.txt, GIMP's Python console opens instead and each
# of its lines is typed there (console.png). Screenshots land in IO_DIR (menu.png,
# dialog1.png, ..., result.png).
# Usage: gimp_gui.sh ROOT PLUGINS_DIR IO_DIR PROFILE_DIR TYPED_KEY [VAR=VALUE ...]
set -euo pipefail
root="$1" plugins="$2" io="$3" profile="$4" typed_key="$5"
shift 5
cp "$(dirname "$0")/gimp_gui_batch.py" "$io/gui_batch.py"
version=$(dpkg-query --admindir="$root/var/lib/dpkg" -W -f '${Version}' gimp)
version="${version#*:}" version="${version%%-*}" version="${version%%+*}"
cat > "$profile/gimprc" <<RC
(plug-in-path "\${gimp_dir}/plug-ins:\${gimp_plug_in_dir}/plug-ins:/x/plugin")
(config-version "$version")
(show-welcome-dialog no)
(show-tips no)
RC
cat > "$io/drive.sh" <<'DRIVE'
set -u
exec 2>/x/io/drive.log
FIND_CANCEL='
from PIL import Image, ImageChops
idle, busy = (Image.open(f"/x/io/{n}.png").convert("L") for n in ("idle", "progress"))
changed = ImageChops.difference(idle, busy).point(lambda v: 255 if v > 40 else 0)
bottom = changed.getbbox()[3]  # the status bar is the lowest part that changed
band = changed.crop((0, bottom - 30, changed.width, bottom)).getbbox()
print(band[2] - 20, bottom - 30 + (band[1] + band[3]) // 2)
'
shot() { import -window root "/x/io/$1.png"; }
# a display number of its own: X's abstract sockets are shared with the host and other runs
exec 3>/x/io/display
Xvfb -displayfd 3 -screen 0 1400x900x24 >/dev/null 2>&1 &
for _ in $(seq 100); do [[ -s /x/io/display ]] && break; sleep 0.1; done
export DISPLAY=":$(cat /x/io/display)"
gimp -n -d -f --batch-interpreter=python-fu-eval -b "exec(open('/x/io/gui_batch.py').read())" --quit \
  > /x/io/gimp.log 2>&1 &
gimp=$!
for _ in $(seq 1 120); do  # a minute: GIMP 3.0's first start on a fresh profile can take that long
  # an image window's title: "[in] (imported)-1.0 (…) – GIMP" (3.2) or "*[Untitled]-1.0 (…) – GIMP" (3.0)
  image_win=$(xdotool search --name '^\*?\[.+\].*GIMP$' 2>/dev/null | head -1 || true)
  [[ -n "$image_win" ]] && break
  sleep 0.5
done
if [[ -z "$image_win" ]]; then  # say what there is, for whoever reads drive.log
  echo "no image window found; the windows named:" >&2
  for w in $(xdotool search --name . 2>/dev/null); do echo "  $w: $(xdotool getwindowname "$w")" >&2; done
fi
xdotool windowsize --sync "$image_win" 1400 900 2>/dev/null || true
# the pointer on the empty canvas below the image: with no window manager the keys go to
# the window under it, and no tooltip covers the menus
X=0 Y=0 WIDTH=800 HEIGHT=600
eval "$(xdotool getwindowgeometry --shell "$image_win" 2>/dev/null)"
xdotool mousemove $((X + WIDTH / 2)) $((Y + HEIGHT - 70))
sleep 1.5
shot idle
xdotool windowfocus --sync "$image_win"; sleep 0.3
xdotool key alt+l; sleep 0.7; xdotool key a; sleep 1
shot menu
xdotool key Escape; sleep 0.2; xdotool key Escape; sleep 0.3
touch /x/io/go
n=0
for _ in $(seq 1 240); do
  sleep 0.5
  kill -0 "$gimp" 2>/dev/null || break
  if [[ -f /x/io/report.json && ! -f /x/io/result.png ]]; then
    sleep 0.5; shot result; touch /x/io/shot-done
    continue
  fi
  win=$(xdotool search --name "Python Console" 2>/dev/null | head -1 || true)
  if [[ -n "$win" && -f /x/io/console.txt && ! -f /x/io/console.png ]]; then
    sleep 1; xdotool windowfocus --sync "$win"; sleep 0.3
    while IFS= read -r line; do
      xdotool type --delay 10 "$line"; xdotool key Return; sleep 1
    done < /x/io/console.txt
    for _ in $(seq 60); do [[ -f /x/io/console-done ]] && break; sleep 0.5; done
    sleep 0.5; shot console
    # its Close button, bottom right
    eval "$(xdotool getwindowgeometry --shell "$win")"
    xdotool mousemove --sync $((X + WIDTH - 60)) $((Y + HEIGHT - 30)) click 1
    continue
  fi
  win=$(xdotool search --name "BackgroundCut API key" 2>/dev/null | head -1 || true)
  if [[ -n "$win" ]]; then
    sleep 1; n=$((n+1)); shot "dialog$n"
    xdotool windowfocus --sync "$win"; sleep 0.3
    xdotool type --delay 20 "$TYPED_KEY"; xdotool key Return
    sleep 2
    continue
  fi
  win=$(xdotool search --name "Remove Background" 2>/dev/null | head -1 || true)
  if [[ -n "$win" ]]; then
    sleep 1; n=$((n+1)); shot "dialog$n"
    xdotool windowfocus --sync "$win"; sleep 0.3
    xdotool key Return
    if [[ -n "${CANCEL_AFTER:-}" ]]; then
      sleep "$CANCEL_AFTER"; shot progress
      # the progress bar's cancel button: the right end of what changed in the status bar
      at=$(python3 -c "$FIND_CANCEL")
      echo "$at" > /x/io/cancel-button
      xdotool mousemove --sync $at
      date +%s.%N > /x/io/cancelled-at
      xdotool click 1
      # the plug-in's own process must be gone, not just the progress bar
      for _ in $(seq 200); do
        grep -lqs '/x/plugin/bgcut-remove-backgroun[d]/' /proc/[0-9]*/cmdline || break
        sleep 0.05
      done
      date +%s.%N > /x/io/plugin-gone-at
      CANCEL_AFTER=
    fi
    sleep 2
  fi
done
wait "$gimp" 2>/dev/null || true
DRIVE
exec bash "$(dirname "$0")/gimp_chroot.sh" "$root" "$plugins" "$io" "$profile" \
  TYPED_KEY="$typed_key" "$@" timeout 180 bash /x/io/drive.sh
