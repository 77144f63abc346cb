"""The GIMP 3 plug-in inside real GIMP 3.0 and 3.2 (headless, Debian trixie and forky roots),
against the emulator."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from imagery import encode, iou, subject_photo

sys.path.insert(0, str(Path(__file__).parent / "hosts"))
from bgcut.emulator import Emulator  # noqa: E402
from gimp_host import SUITES, Gimp, gimp_root, install_plugin  # noqa: E402

pytestmark = pytest.mark.gimp
KEY = "gimp-test-key-5d1e8b7a9c"


@pytest.fixture(scope="module", params=sorted(SUITES), ids=lambda v: f"gimp{v}")
def gimp(request, tmp_path_factory) -> Gimp:
    root = gimp_root("full", request.param)
    plugins = tmp_path_factory.mktemp("plugins")
    install_plugin(plugins, "--no-vendor")
    return Gimp(root, plugins, tmp_path_factory.mktemp("profile"), tmp_path_factory.mktemp("gimp-io"))


@pytest.fixture(scope="module")
def emu():
    with Emulator({KEY: 1000}) as e:
        yield e


def env_for(emu) -> dict[str, str]:
    return {"BACKGROUNDCUT_API_KEY": KEY, "BACKGROUNDCUT_ENDPOINT": emu.endpoint}


def photo(w=320, h=240, seed=50):
    img, truth = subject_photo(w, h, seed=seed)
    return img, truth, encode(img)


def test_layer_mask_default_keeps_pixels_and_adds_the_mask(gimp, emu):
    img, truth, png = photo()
    run = gimp.run({"input": "in.png"}, {"in.png": png}, env_for(emu))
    assert run.report["found"], run.stdout
    assert run.report["status"] == "success", run.report
    before, after = run.layers("before"), run.layers("after")
    assert len(after) == 1 and after[0]["mask"] is not None
    assert np.array_equal(run.pixels(after[0])[..., :3], run.pixels(before[0])[..., :3])
    assert np.array_equal(run.pixels(after[0])[..., :3], img)
    assert iou(run.mask(after[0]) > 127, truth) > 0.95


def test_rgba_layer_is_added_above_with_the_cut(gimp, emu):
    img, truth, png = photo(seed=51)
    run = gimp.run({"input": "in.png", "args": {"output": "rgba-layer"}}, {"in.png": png}, env_for(emu))
    assert run.report["status"] == "success", run.report
    after = run.layers()
    assert [layer["name"] for layer in after] == ["Background (cut)", "Background"]
    cut = run.pixels(after[0])
    assert iou(cut[..., 3] > 127, truth) > 0.95
    full = cut[..., 3] == 255
    assert np.array_equal(cut[..., :3][full], img[full])
    assert np.array_equal(run.pixels(after[1]), run.pixels(run.layers("before")[0]))
    assert after[1]["mask"] is None


def test_mask_layer_holds_the_mask_as_grey(gimp, emu):
    img, truth, png = photo(seed=52)
    run = gimp.run(
        {"input": "in.png", "args": {"output": "mask-layer", "quality": "High"}},
        {"in.png": png},
        env_for(emu),
    )
    assert run.report["status"] == "success", run.report
    top = run.layers()[0]
    assert top["name"] == "Background (mask)"
    grey = run.pixels(top)
    assert np.array_equal(grey[..., 0], grey[..., 1]) and (grey[..., 3] == 255).all()
    assert iou(grey[..., 0] > 127, truth) > 0.95
    assert emu.seen[-1].fields["quality"] == "High"


def test_sixteen_bit_image_with_an_offset_layer(gimp, emu):
    img, truth, png = photo(seed=53)
    job = {
        "input": "in.png",
        "precision": "U16_NON_LINEAR",
        "offset": [17, -9],
        "args": {"output": "rgba-layer"},
        "dump_comp": "u16",
    }
    run = gimp.run(job, {"in.png": png}, env_for(emu))
    assert run.report["status"] == "success", run.report
    cut_layer, src_layer = run.layers()
    assert (cut_layer["x"], cut_layer["y"]) == (17, -9) == (src_layer["x"], src_layer["y"])
    cut = run.pixels(cut_layer, np.uint16)
    src = run.pixels(src_layer, np.uint16)
    full = cut[..., 3] == 65535
    assert full.sum() > 1000 and np.array_equal(cut[..., :3][full], src[..., :3][full])
    assert iou(cut[..., 3] > 32767, truth) > 0.95


def test_selection_only_cuts_the_selection_bounds(gimp, emu):
    img, truth, png = photo(seed=54)
    job = {
        "input": "in.png",
        "selection": [40, 30, 200, 160],
        "args": {"selection-only": True, "output": "rgba-layer"},
    }
    run = gimp.run(job, {"in.png": png}, env_for(emu))
    assert run.report["status"] == "success", run.report
    cut = run.layers()[0]
    assert (cut["x"], cut["y"], cut["w"], cut["h"]) == (40, 30, 200, 160)
    import io as _io

    from PIL import Image

    sent = np.asarray(Image.open(_io.BytesIO(emu.seen[-1].file_bytes)))
    assert sent.shape == (160, 200, 3) and np.array_equal(sent, img[30:190, 40:240])


def test_two_selected_layers_are_both_cut(gimp, emu):
    img, truth, png = photo(seed=55)
    img2, truth2, png2 = photo(seed=56)
    job = {"input": "in.png", "second_input": "two.png", "args": {"output": "layer-mask"}}
    run = gimp.run(job, {"in.png": png, "two.png": png2}, env_for(emu))
    assert run.report["status"] == "success", run.report
    second, base = run.layers()
    assert second["name"] == "second" and base["mask"] is not None and second["mask"] is not None
    assert iou(run.mask(base) > 127, truth) > 0.95
    assert iou(run.mask(second) > 127, truth2) > 0.95


def test_grayscale_image(gimp, emu):
    img, truth, png = photo(seed=57)
    run = gimp.run(
        {"input": "in.png", "gray": True, "args": {"output": "rgba-layer"}}, {"in.png": png}, env_for(emu)
    )
    assert run.report["status"] == "success", run.report
    assert iou(run.pixels(run.layers()[0])[..., 3] > 127, truth) > 0.9


def test_larger_than_12_megapixels_gives_a_full_resolution_mask(gimp, emu):
    img, truth, png = photo(4400, 3000, seed=58)  # 13.2 MP
    run = gimp.run({"input": "in.png"}, {"in.png": png}, env_for(emu), timeout=600)
    assert run.report["status"] == "success", run.report
    layer = run.layers()[0]
    assert (layer["w"], layer["h"]) == (4400, 3000)
    assert iou(run.mask(layer) > 127, truth) > 0.97
    print(f"GIMP 12+ MP run: {run.report['seconds']:.2f} s inside the procedure")


def test_select_subject_makes_the_mask_the_selection_and_leaves_the_layer(gimp, emu):
    img, truth, png = photo(seed=65)
    run = gimp.run({"input": "in.png", "args": {"output": "selection"}}, {"in.png": png}, env_for(emu))
    assert run.report["status"] == "success", run.report
    _assert_unchanged(run)
    assert run.selection("before") is None
    assert iou(run.selection() > 127, truth) > 0.95


@pytest.mark.parametrize("mode", ["add", "subtract", "intersect"])
def test_select_subject_combines_with_the_current_selection(gimp, emu, mode):
    img, truth, png = photo(seed=66)
    job = {
        "input": "in.png",
        "selection": [0, 0, 160, 240],
        "args": {"output": "selection", "selection-mode": mode},
    }
    run = gimp.run(job, {"in.png": png}, env_for(emu))
    assert run.report["status"] == "success", run.report
    _assert_unchanged(run)
    rect = run.selection("before") > 127
    expected = {"add": rect | truth, "subtract": rect & ~truth, "intersect": rect & truth}[mode]
    assert iou(run.selection() > 127, expected) > 0.95


def test_return_format_choice_and_megapixels_from_the_dialog_arguments(gimp, emu):
    img, truth, png = photo(seed=67)
    args = {"return-format": "webp-quality", "webp-quality": 70, "max-megapixels": 0.03}
    run = gimp.run({"input": "in.png", "args": args}, {"in.png": png}, env_for(emu))
    assert run.report["status"] == "success", run.report
    fields = emu.seen[-1].fields
    assert fields["return_type"] == "WEBP_70" and fields["max_resolution"] == "30000"
    assert (run.layers()[0]["w"], run.layers()[0]["h"]) == (320, 240)  # full size back
    assert iou(run.mask(run.layers()[0]) > 127, truth) > 0.9


def test_script_return_type_text_and_pixels_still_work(gimp, emu):
    img, truth, png = photo(seed=68)
    args = {"return-type": "PNG", "return-format": "webp-quality", "max-resolution": 50000}
    run = gimp.run({"input": "in.png", "args": args}, {"in.png": png}, env_for(emu))
    assert run.report["status"] == "success", run.report
    fields = emu.seen[-1].fields
    assert fields["return_type"] == "PNG" and fields["max_resolution"] == "50000"


def _assert_unchanged(run):
    before, after = run.layers("before"), run.layers("after")
    assert [(b["name"], b["w"], b["h"], b["x"], b["y"], b["mask"]) for b in before] == [
        (a["name"], a["w"], a["h"], a["x"], a["y"], a["mask"]) for a in after
    ]
    for b, a in zip(before, after, strict=True):
        assert np.array_equal(run.pixels(b), run.pixels(a))


def test_402_leaves_the_image_unchanged_with_the_message(gimp):
    img, truth, png = photo(seed=59)
    with Emulator({KEY: 0}) as broke:
        run = gimp.run({"input": "in.png"}, {"in.png": png}, env_for(broke))
    assert run.report["status"] == "execution-error"
    assert "Buy more credits" in run.report["message"] and "Nothing was changed" in run.report["message"]
    _assert_unchanged(run)


def test_network_failure_leaves_the_image_unchanged(gimp):
    img, truth, png = photo(seed=60)
    env = {"BACKGROUNDCUT_API_KEY": KEY, "BACKGROUNDCUT_ENDPOINT": "http://127.0.0.1:9/v2/cut/"}
    run = gimp.run({"input": "in.png", "args": {"output": "rgba-layer"}}, {"in.png": png}, env)
    assert run.report["status"] == "execution-error"
    assert "Cannot connect" in run.report["message"]
    _assert_unchanged(run)


def test_missing_key_is_an_execution_error_that_says_how(gimp, emu):
    img, truth, png = photo(seed=61)
    run = gimp.run({"input": "in.png"}, {"in.png": png}, {"BACKGROUNDCUT_ENDPOINT": emu.endpoint})
    assert run.report["status"] == "execution-error"
    assert "bgcut config --set-key" in run.report["message"]
    _assert_unchanged(run)


def test_layer_group_gets_a_clear_message(gimp, emu):
    img, truth, png = photo(seed=62)
    run = gimp.run({"input": "in.png", "group": True}, {"in.png": png}, env_for(emu))
    assert run.report["status"] == "execution-error"
    assert "layer group" in run.report["message"]
    _assert_unchanged(run)


def test_a_bad_answer_leaves_the_image_unchanged(gimp, emu):
    img, truth, png = photo(seed=63)
    emu.inject("html200")
    run = gimp.run({"input": "in.png", "args": {"output": "layer-mask"}}, {"in.png": png}, env_for(emu))
    assert run.report["status"] == "execution-error"
    assert "no PNG/WebP image" in run.report["message"]
    _assert_unchanged(run)


def test_float_precision_image_keeps_its_values_where_opaque(gimp, emu):
    img, truth, png = photo(seed=64)
    job = {
        "input": "in.png",
        "precision": "FLOAT_NON_LINEAR",
        "args": {"output": "rgba-layer"},
        "dump_comp": "float",
    }
    run = gimp.run(job, {"in.png": png}, env_for(emu))
    assert run.report["status"] == "success", run.report
    cut_layer, src_layer = run.layers()
    cut = run.pixels(cut_layer, np.float32)
    src = run.pixels(src_layer, np.float32)
    full = cut[..., 3] == 1.0
    assert full.sum() > 1000 and np.array_equal(cut[..., :3][full], src[..., :3][full])
    assert iou(cut[..., 3] > 0.5, truth) > 0.95
