"""The `bgcut` command as a user runs it: real process, real emulator over loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from imagery import iou, subject_photo
from PIL import Image


def run(args, env_extra=None, **kw):
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "bgcut", *args], capture_output=True, text=True, env=env, timeout=120, **kw
    )


def test_cut_a_folder_with_progress_and_exit_code(tmp_path, emulator, key):
    src = tmp_path / "in"
    src.mkdir()
    truths = {}
    for i in range(3):
        img, truth = subject_photo(200, 150, seed=30 + i)
        Image.fromarray(img).save(src / f"photo{i}.jpg", quality=95)
        truths[f"photo{i}"] = truth
    (src / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    env = {"BACKGROUNDCUT_API_KEY": key, "BACKGROUNDCUT_ENDPOINT": emulator.endpoint}
    res = run(["cut", str(src), "--out-dir", str(out), "--jobs", "2"], env)
    assert res.returncode == 0, res.stderr
    assert "3/3" in res.stderr and "3 done, 0 failed" in res.stderr
    assert sorted(p.name for p in out.iterdir()) == ["photo0-cut.png", "photo1-cut.png", "photo2-cut.png"]
    for stem, truth in truths.items():
        im = Image.open(out / f"{stem}-cut.png")
        assert im.mode == "RGBA" and im.size == (200, 150)
        assert iou(np.asarray(im)[..., 3] > 127, truth) > 0.95
    assert key not in res.stdout + res.stderr
    again = run(["cut", str(src), "--out-dir", str(out)], env)
    assert again.returncode == 0 and "3 already done" in again.stderr
    forced = run(["cut", str(src), "--out-dir", str(out), "--force"], env)
    assert forced.returncode == 0
    assert emulator.charged(key) == 3  # the forced rerun came from the cache


def test_mask_output_and_single_output_file(tmp_path, emulator, key):
    img, truth = subject_photo(160, 120, seed=40)
    path = tmp_path / "a.png"
    Image.fromarray(img).save(path)
    res = run(
        [
            "cut",
            str(path),
            "-o",
            str(tmp_path / "m.png"),
            "--channels",
            "alpha",
            "--api-key",
            key,
            "--endpoint",
            emulator.endpoint,
        ],
    )
    assert res.returncode == 0, res.stderr
    mask = Image.open(tmp_path / "m.png")
    assert mask.mode == "L" and iou(np.asarray(mask) > 127, truth) > 0.95
    assert emulator.seen[-1].fields["channels"] == "alpha"


def test_failures_give_one_line_each_and_exit_1(tmp_path, key):
    from bgcut.emulator import Emulator

    good = tmp_path / "good.png"
    Image.fromarray(subject_photo(64, 48)[0]).save(good)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG broken")
    with Emulator({key: 0}) as emu:
        res = run(
            [
                "cut",
                str(good),
                str(bad),
                "--api-key",
                key,
                "--endpoint",
                emu.endpoint,
                "--out-dir",
                str(tmp_path / "o"),
            ]
        )
    assert res.returncode == 1
    assert (
        "FAILED" in res.stderr and "Buy more credits" in res.stderr and "not a readable image" in res.stderr
    )
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_bad_option_is_a_usage_error(tmp_path):
    res = run(["cut", str(tmp_path), "--quality", "Ultra"])
    assert res.returncode == 2 and "High, Medium, Low" in res.stderr


def test_no_key_says_how_to_set_one(tmp_path):
    img = tmp_path / "a.png"
    Image.fromarray(subject_photo(64, 48)[0]).save(img)
    res = run(["cut", str(img)])
    assert res.returncode == 1 and "bgcut config --set-key" in res.stderr


def test_builtin_emulator_runs_without_a_key_and_says_so(tmp_path):
    img, truth = subject_photo(160, 120, seed=41)
    path = tmp_path / "a.png"
    Image.fromarray(img).save(path)
    res = run(["cut", str(path), "--emulator"])
    assert res.returncode == 0, res.stderr
    assert "built-in emulator" in res.stderr and "not the real" in res.stderr
    out = tmp_path / "a-cut.png"
    assert iou(np.asarray(Image.open(out))[..., 3] > 127, truth) > 0.95


def test_config_stores_the_key_0600_and_shows_it_masked(tmp_path):
    res = run(["config", "--set-key"], input="secret-key-abcdef123456\n")
    assert res.returncode == 0 and "****3456" in res.stdout
    assert "secret-key-abcdef123456" not in res.stdout + res.stderr
    cfg = Path(os.environ["BGCUT_CONFIG_DIR"]) / "config.json"
    assert oct(cfg.stat().st_mode & 0o777) == "0o600"
    shown = run(["config", "--show"])
    assert "****3456" in shown.stdout and "secret-key-abcdef123456" not in shown.stdout
    assert run(["config", "--remove-key"]).stdout.strip() == "Key removed."


def test_a_terminal_that_reports_no_size_still_gets_a_progress_bar(tmp_path, emulator, key):
    """`script` and some serial consoles report 0×0: tqdm alone would draw nothing there."""
    import fcntl
    import pty
    import struct
    import termios

    for i in range(2):
        Image.fromarray(subject_photo(40, 30, seed=700 + i)[0]).save(tmp_path / f"p{i}.png")
    parent, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 0, 0, 0, 0))
    env = {**os.environ, "BACKGROUNDCUT_API_KEY": key, "BACKGROUNDCUT_ENDPOINT": emulator.endpoint}
    done = subprocess.run(
        [sys.executable, "-m", "bgcut", "cut", str(tmp_path / "p0.png"), str(tmp_path / "p1.png")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=child,
        env=env,
        timeout=120,
    )
    os.close(child)
    seen = b""
    while True:
        try:
            chunk = os.read(parent, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(parent)
    text = seen.decode("utf-8", "replace")
    assert done.returncode == 0, text
    assert "2/2 [" in text and "images/s" in text, text
