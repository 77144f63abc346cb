"""The interactive path in the real GIMP 3 GUI (under Xvfb): the procedure dialog, then
the one-time API key prompt, both answered as a user would, and the result in the image."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from imagery import encode, iou, subject_photo

sys.path.insert(0, str(Path(__file__).parent / "hosts"))
from bgcut.emulator import Emulator  # noqa: E402
from gimp_host import HOSTS, gimp_root, install_plugin  # noqa: E402

pytestmark = pytest.mark.gimp
TYPED = "typed-in-dialog-key-5150"


def test_menu_dialog_then_key_prompt_then_mask(tmp_path):
    root = gimp_root("gui")
    plugins, io_dir, profile = (tmp_path / d for d in ("plugins", "io", "profile"))
    for d in (plugins, io_dir, profile):
        d.mkdir()
    install_plugin(plugins, "--no-vendor")
    img, truth = subject_photo(320, 240, seed=700)
    (io_dir / "in.png").write_bytes(encode(img))
    with Emulator({TYPED: 5}) as emu:
        out = subprocess.run(
            [
                "bash",
                str(HOSTS / "gimp_gui.sh"),
                str(root),
                str(plugins),
                str(io_dir),
                str(profile),
                TYPED,
                f"BACKGROUNDCUT_ENDPOINT={emu.endpoint}",
                "BGCUT_CONFIG_DIR=/x/io/config",
                "BGCUT_CACHE_DIR=/x/io/cache",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        charged = emu.charged(TYPED)
    log = (io_dir / "gimp.log").read_text() if (io_dir / "gimp.log").exists() else out.stderr
    import json

    report = json.loads((io_dir / "report.json").read_text())
    assert report["status"] == "success", log
    assert (io_dir / "dialog1.png").exists() and (io_dir / "dialog2.png").exists()  # both dialogs shown
    layer = report["layers"][0]
    mask = np.fromfile(io_dir / layer["mask"], np.uint8).reshape(layer["h"], layer["w"])
    assert iou(mask > 127, truth) > 0.95 and charged == 1
    cfg = io_dir / "config" / "config.json"
    assert stat.S_IMODE(os.stat(cfg).st_mode) == 0o600 and TYPED in cfg.read_text()
    assert "duplicate mnemonic" not in log
    for path in profile.rglob("*"):
        if path.is_file():
            assert TYPED.encode() not in path.read_bytes(), path
