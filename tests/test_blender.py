"""The Blender extension inside real Blender (PyPI's bpy), installed from its built zip."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
from imagery import encode, iou, subject_photo
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent / "hosts"))
from bgcut.emulator import Emulator  # noqa: E402
from blender_host import bpy_python, build_extension, run_job  # noqa: E402

pytestmark = pytest.mark.blender
KEY = "blender-test-key-3c9d0e1f2a"


@pytest.fixture(scope="module")
def blender(tmp_path_factory):
    return bpy_python(), build_extension(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def emu():
    with Emulator({KEY: 1000}) as e:
        yield e


def job_run(blender, tmp_path, emu_or_endpoint, action, args=None, *, key=KEY, img_seed=70, **extra):
    py, zip_path = blender
    img, truth = subject_photo(320, 240, seed=img_seed)
    (tmp_path / "in.png").write_bytes(encode(img))
    endpoint = emu_or_endpoint if isinstance(emu_or_endpoint, str) else emu_or_endpoint.endpoint
    env = {"BACKGROUNDCUT_ENDPOINT": endpoint}
    if key:
        env["BACKGROUNDCUT_API_KEY"] = key
    job = {
        "zip": str(zip_path) if zip_path else "",
        "input": "in.png",
        "action": action,
        "args": args or {},
        **extra,
    }
    report = run_job(py, tmp_path, job, env)
    return report, img, truth


def load(tmp_path, report, name):
    return np.load(tmp_path / report["images"][name]["file"])


def test_image_editor_rgba_creates_a_packed_cut_identical_where_opaque(blender, tmp_path, emu):
    report, img, truth = job_run(blender, tmp_path, emu, "image_op", {"output": "RGBA"})
    assert report["enabled"] and report["ok"], report
    meta = report["images"]["Photo cut"]
    assert meta["size"] == [320, 240] and meta["packed"]
    assert report["deflate"] == "isal"  # the bundled wheel loaded: the fast packing path
    assert "pillow.libs" in (report["webp_lib"] or "")  # answers take the threaded decode
    cut = load(tmp_path, report, "Photo cut")
    source = np.load(tmp_path / "source.npy")
    assert iou(cut[..., 3] > 0.5, truth) > 0.95
    full = cut[..., 3] == 1.0
    assert full.sum() > 1000 and np.array_equal(cut[..., :3][full], source[..., :3][full])
    assert report["source_unchanged"]


def test_a_byte_image_is_read_as_its_own_bytes_and_a_float_image_as_its_floats(blender, tmp_path, emu):
    report, _, _ = job_run(blender, tmp_path, emu, "read_kinds")
    assert report["ok"], report
    assert report["kinds"] == {"byte": ["uint8", False, True], "float": ["float32", True, True]}


def test_console_call_by_name_makes_a_mask(blender, tmp_path, emu):
    report, img, truth = job_run(
        blender, tmp_path, emu, "image_op_by_name", {"output": "MASK", "quality": "Low"}
    )
    assert report["ok"], report
    meta = report["images"]["Photo mask"]
    assert meta["colorspace"] == "Non-Color" and meta["packed"]
    mask = load(tmp_path, report, "Photo mask")
    assert iou(mask[..., 0] > 0.5, truth) > 0.95 and (mask[..., 3] == 1).all()
    assert emu.seen[-1].fields["quality"] == "Low"


def test_plain_function_for_scripts(blender, tmp_path, emu):
    report, img, truth = job_run(blender, tmp_path, emu, "function", {"output": "RGBA"}, img_seed=71)
    assert report["ok"], report
    assert iou(load(tmp_path, report, "Photo cut")[..., 3] > 0.5, truth) > 0.95


def test_compositor_rgba_adds_an_image_node(blender, tmp_path, emu):
    report, img, truth = job_run(
        blender, tmp_path, emu, "node_op", {"output": "RGBA"}, tree=True, img_seed=72
    )
    assert report["ok"], report
    added = set(report["after"]["nodes"]) - set(report["before"]["nodes"])
    assert added == {"CompositorNodeImage:Image.001"}
    assert iou(load(tmp_path, report, "Photo cut")[..., 3] > 0.5, truth) > 0.95


def test_compositor_mask_is_wired_through_set_alpha_and_renders(blender, tmp_path, emu):
    report, img, truth = job_run(
        blender, tmp_path, emu, "node_op", {"output": "MASK"}, tree=True, render=True, img_seed=73
    )
    assert report["ok"], report
    assert "Image.Image->Set Alpha.Image" in report["after"]["links"]
    assert "Image.001.Image->Set Alpha.Alpha" in report["after"]["links"]
    mask = load(tmp_path, report, "Photo mask")[..., 0]
    render = np.asarray(Image.open(tmp_path / report["render"]))
    assert render.shape == (240, 320, 4)
    assert np.abs(render[..., 3].astype(int) - np.round(mask * 255).astype(int)).max() <= 1
    full = render[..., 3] == 255
    assert np.abs(render[..., :3][full].astype(int) - img[full].astype(int)).max() <= 1


def _unchanged(report):
    assert report["after"] == report["before"]
    assert report["images"] == {} and report["source_unchanged"]


def test_402_reports_the_error_and_changes_nothing(blender, tmp_path):
    with Emulator({KEY: 0}) as broke:
        report, _, _ = job_run(blender, tmp_path, broke, "node_op", {"output": "MASK"}, tree=True)
    assert not report["ok"] and "Buy more credits" in report["error"]
    _unchanged(report)


def test_network_failure_reports_the_error_and_changes_nothing(blender, tmp_path):
    report, _, _ = job_run(blender, tmp_path, "http://127.0.0.1:9/v2/cut/", "image_op", {"output": "RGBA"})
    assert not report["ok"] and "Cannot connect" in report["error"]
    _unchanged(report)


def test_offline_blender_does_nothing_and_says_so(blender, tmp_path, emu):
    report, _, _ = job_run(blender, tmp_path, emu, "image_op", {"output": "RGBA"}, online=False)
    assert not report["ok"] and "offline" in report["error"]
    _unchanged(report)
    assert len(emu.seen) == 0 or all(s.fields.get("quality") for s in emu.seen)


def test_extension_built_with_the_offline_engine_cuts_without_a_key(tmp_path_factory, tmp_path):
    zip_path = build_extension(tmp_path_factory.mktemp("dist-local"), "--local-engine")
    report, img, truth = job_run(
        (bpy_python(), zip_path),
        tmp_path,
        "http://127.0.0.1:9/v2/cut/",
        "image_op_by_name",
        {"output": "MASK"},
        key=None,
        online=False,
    )
    assert report["ok"], report
    mask = load(tmp_path, report, "Photo mask")
    assert iou(mask[..., 0] > 0.5, truth) > 0.9


def test_a_wrong_size_answer_changes_nothing(blender, tmp_path, emu):
    emu.inject("wrong_size")
    report, _, _ = job_run(blender, tmp_path, emu, "node_op", {"output": "MASK"}, tree=True, img_seed=74)
    assert not report["ok"] and "does not match" in report["error"]
    _unchanged(report)


def test_image_editor_shows_the_new_image(blender, tmp_path, emu):
    report, _, _ = job_run(blender, tmp_path, emu, "image_op", {"output": "MASK"}, img_seed=75)
    assert report["ok"], report
    assert report["editor_shows"] == "Photo mask"


def _overlap(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[3] < b[1] and b[3] < a[1]


def test_compositor_twice_places_new_nodes_apart_and_selects_them(blender, tmp_path, emu):
    steps = [{"output": "RGBA"}, {"output": "MASK"}]
    report, _, truth = job_run(blender, tmp_path, emu, "node_op", tree=True, steps=steps, img_seed=76)
    assert report["ok"], report
    boxes = report["node_boxes"]
    before = {n.split(":", 1)[1] for n in report["before"]["nodes"]}
    assert set(boxes) == before | {"Image.001", "Image.002", "Set Alpha"}
    names = sorted(boxes)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not _overlap(boxes[a], boxes[b]), (a, b, boxes)
    source = boxes["Image"]
    for new in ("Image.001", "Image.002", "Set Alpha"):
        assert boxes[new][0] > source[2], (new, boxes)  # right of the source
    assert report["selected"] == ["Image.002", "Set Alpha"] and report["active"] == "Image.002"
    assert "Image.002.Image->Set Alpha.Alpha" in report["after"]["links"]
    assert iou(load(tmp_path, report, "Photo mask")[..., 0] > 0.5, truth) > 0.95


def test_stopping_the_ui_worker_abandons_the_upload_publishes_nothing_and_a_redo_is_free(blender, tmp_path):
    with Emulator({KEY: 5}, service_time=4.0) as slow:
        report, _, truth = job_run(
            blender, tmp_path, slow, "cut_job", img_seed=77, stop_after=1.5, linger=4.0, redo=True
        )
        charged = slow.charged(KEY)
    assert report["ok"], report
    job = report["job"]
    assert job["running_listed"] and job["running_after"] == 0
    assert job["stop_seconds"] < 1.0 and job["cancelled"] and not job["result"]
    assert job["images_after_stop"] == ["Photo"]  # nothing published
    assert "cancelled" in job["cancelled_text"]
    assert any("waiting for the service" in s for s in job["stages"]), job["stages"]
    assert any("Uploading" in s and "%" in s for s in job["stages"])
    # the answer that landed after the stop was kept: the redo cost no credit
    assert charged == 1
    assert iou(load(tmp_path, report, "Photo cut")[..., 3] > 0.5, truth) > 0.95


def test_packed_cut_survives_save_reload_and_undo(blender, tmp_path, emu):
    report, _, _ = job_run(blender, tmp_path, emu, "image_op", {"output": "RGBA"}, img_seed=78, reload=True)
    assert report["ok"], report
    before = load(tmp_path, report, "Photo cut")
    again = np.load(tmp_path / report["reloaded"]["Photo cut"]["file"])
    assert report["reloaded"]["Photo cut"]["packed"] and np.array_equal(before, again)
    (tmp_path / "undo").mkdir()
    report, _, _ = job_run(blender, tmp_path / "undo", emu, "undo", img_seed=78)
    assert report["ok"], report
    undo = report["undo"]
    assert undo["after_undo"] is False
    assert undo["after_redo"] == undo["after_cut"] and undo["packed_after_redo"]
    assert undo["after_cut"] == pytest.approx(float(before.sum()))


def test_a_python_the_wheels_do_not_cover_gets_a_sentence(blender, tmp_path, emu):
    """The extension placed without its Pillow wheel (what an uncovered Python amounts to):
    it loads, and Remove Background says why it cannot run, no traceback."""
    import zipfile

    ext = tmp_path / "home" / "blender" / "extensions" / "user_default" / "bgcut"
    with zipfile.ZipFile(blender[1]) as zf:
        zf.extractall(ext)
    manifest = (ext / "blender_manifest.toml").read_text()
    (ext / "blender_manifest.toml").write_text(
        re.sub(r"^wheels = \[.*\]$", "wheels = []", manifest, flags=re.M)
    )
    for wheel in (ext / "wheels").glob("*.whl"):
        wheel.unlink()
    report, _, _ = job_run((blender[0], None), tmp_path, emu, "image_op_by_name", {"output": "RGBA"})
    assert report["enabled"] and not report["ok"]
    assert "Python 3.11" in report["error"] and "Pillow" in report["error"]
    assert "Traceback" not in report["error"]
    _unchanged(report)
