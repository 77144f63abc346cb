"""The interactive path in the real GIMP 3.0 and 3.2 GUIs (under Xvfb): the menu, the
procedure dialog, the one-time API key prompt, the progress bar and its cancel button, used
as a user would, and the result in the image. Screenshots of each step are kept in
.ci/screenshots/gimp-<version>/ for a reviewer to see what a user sees."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from imagery import encode, iou, subject_photo

sys.path.insert(0, str(Path(__file__).parent / "hosts"))
from bgcut.emulator import Emulator  # noqa: E402
from gimp_host import HOSTS, REPO, SUITES, gimp_root, install_plugin  # noqa: E402

pytestmark = pytest.mark.gimp
TYPED = "typed-in-dialog-key-5150"
SHOTS = REPO / ".ci" / "screenshots"
# the README's one documented line for GIMP's Python console, typed there as is
CONSOLE_IMPORT = (
    'import sys; sys.path.append(Gimp.directory() + "/plug-ins/bgcut-remove-background"); '
    "from bgcut_console import *"
)
VERSIONS = pytest.mark.parametrize("version", sorted(SUITES), ids=lambda v: f"gimp{v}")


def drive(
    version: str, tmp_path: Path, img: np.ndarray, typed: str, *env: str, console: list[str] = ()
) -> tuple[Path, dict, str]:
    root = gimp_root("gui", version)
    plugins, io_dir, profile = (tmp_path / d for d in ("plugins", "io", "profile"))
    for d in (plugins, io_dir, profile):
        d.mkdir()
    # where install.py puts it: the profile's own plug-ins folder (what the console line names)
    install_plugin(profile / "plug-ins" if console else plugins, "--no-vendor")
    (io_dir / "in.png").write_bytes(encode(img))
    if console:
        (io_dir / "console.txt").write_text("\n".join(console) + "\n")
    out = subprocess.run(
        ["bash", str(HOSTS / "gimp_gui.sh"), str(root), str(plugins), str(io_dir), str(profile), typed]
        + ["BGCUT_CONFIG_DIR=/x/io/config", "BGCUT_CACHE_DIR=/x/io/cache", *env],
        capture_output=True,
        text=True,
        timeout=300,
    )
    log = (io_dir / "gimp.log").read_text() if (io_dir / "gimp.log").exists() else out.stderr
    assert (io_dir / "report.json").exists(), log + out.stderr[-3000:]
    return io_dir, json.loads((io_dir / "report.json").read_text()), log


def keep_screenshots(io_dir: Path, version: str, names: dict[str, str]) -> None:
    """Copy the run's screenshots to .ci/screenshots/gimp-<version>/ under telling names."""
    dest = SHOTS / f"gimp-{version}"
    dest.mkdir(parents=True, exist_ok=True)
    for shot, name in names.items():
        assert (io_dir / shot).exists(), f"{shot} was not taken"
        shutil.copy(io_dir / shot, dest / name)


@VERSIONS
def test_menu_dialog_then_key_prompt_then_mask(version, tmp_path):
    img, truth = subject_photo(320, 240, seed=700)
    with Emulator({TYPED: 5}) as emu:
        io_dir, report, log = drive(version, tmp_path, img, TYPED, f"BACKGROUNDCUT_ENDPOINT={emu.endpoint}")
        charged = emu.charged(TYPED)
    assert report["status"] == "success", log
    keep_screenshots(
        io_dir,
        version,
        {"menu.png": "1-menu.png", "dialog1.png": "2-dialog.png", "dialog2.png": "3-key-prompt.png"}
        | {"result.png": "4-result.png"},
    )
    layer = report["layers"][0]
    mask = np.fromfile(io_dir / layer["mask"], np.uint8).reshape(layer["h"], layer["w"])
    assert iou(mask > 127, truth) > 0.95 and charged == 1
    cfg = io_dir / "config" / "config.json"
    assert stat.S_IMODE(os.stat(cfg).st_mode) == 0o600 and TYPED in cfg.read_text()
    assert "duplicate mnemonic" not in log
    for path in (tmp_path / "profile").rglob("*"):
        if path.is_file():
            assert TYPED.encode() not in path.read_bytes(), path


@VERSIONS
def test_cancel_from_the_progress_bar_stops_and_leaves_the_image_as_it_was(version, tmp_path):
    img, truth = subject_photo(320, 240, seed=701)
    key = "gimp-cancel-key-31c4"
    with Emulator({key: 5}, service_time=30) as emu:
        env = [f"BACKGROUNDCUT_ENDPOINT={emu.endpoint}", f"BACKGROUNDCUT_API_KEY={key}", "CANCEL_AFTER=3"]
        io_dir, report, log = drive(version, tmp_path, img, "unused", *env)
        arrivals = len(emu.arrivals())
    keep_screenshots(
        io_dir, version, {"progress.png": "5-progress-before-cancel.png", "result.png": "6-after-cancel.png"}
    )
    assert report["status"] == "cancel", (report, log)
    assert arrivals == 1  # the request was in flight when the user cancelled
    [layer] = report["layers"]
    assert layer["mask"] is None and layer["name"] == "Background"
    pixels = np.fromfile(io_dir / layer["pixels"], np.uint8).reshape(240, 320, 4)
    assert np.array_equal(pixels[..., :3], img) and (pixels[..., 3] == 255).all()
    clicked = float((io_dir / "cancelled-at").read_text())
    returned, gone = report["returned_at"] - clicked, float((io_dir / "plugin-gone-at").read_text()) - clicked
    print(f"GIMP {version}: cancel to the call returning {returned:.2f} s, to the plug-in gone {gone:.2f} s")
    timings = {"cancel_to_call_returned_s": returned, "cancel_to_plugin_gone_s": gone}
    (SHOTS / f"gimp-{version}" / "timings.json").write_text(json.dumps(timings, indent=1) + "\n")
    assert 0 <= returned < 2 and 0 <= gone < 2


@VERSIONS
def test_one_line_from_gimps_python_console(version, tmp_path):
    img, truth = subject_photo(320, 240, seed=702)
    key = "gimp-console-key-77a1"
    lines = [
        CONSOLE_IMPORT,
        'cut = bgcut_remove_background(Gimp.get_images()[0], output="rgba-layer")',
        'open("/x/io/console-done", "w").write(repr([layer.get_name() for layer in cut]))',
    ]
    assert CONSOLE_IMPORT in (REPO / "README.md").read_text()
    with Emulator({key: 5}) as emu:
        env = [f"BACKGROUNDCUT_ENDPOINT={emu.endpoint}", f"BACKGROUNDCUT_API_KEY={key}"]
        io_dir, report, log = drive(version, tmp_path, img, "unused", *env, console=lines)
        charged = emu.charged(key)
    keep_screenshots(io_dir, version, {"console.png": "7-python-console.png"})
    assert (io_dir / "console-done").read_text() == "['Background (cut)']", log
    names = [layer["name"] for layer in report["layers"]]
    assert names == ["Background (cut)", "Background"] and charged == 1
    top = report["layers"][0]
    cut = np.fromfile(io_dir / top["pixels"], np.uint8).reshape(240, 320, 4)
    assert iou(cut[..., 3] > 127, truth) > 0.95
