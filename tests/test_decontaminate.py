"""Colour decontamination at the soft edge of the cut-outs bgcut composes itself.

Known foregrounds F and backgrounds B are composited with a known soft alpha, so the
recovered colour can be compared with the truth, not just checked to have run."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from bgcut import decontaminate as dc
from bgcut.cli import main
from bgcut.cutout import build_cutout
from bgcut.decontaminate import decontaminate
from bgcut.errors import OptionError
from bgcut.options import CutOptions
from bgcut.source import Source
from imagery import encode
from PIL import Image

SCALE = {np.uint8: 255.0, np.uint16: 65535.0, np.float32: 1.0}


def scene(h: int = 240, w: int = 320, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(F, B, mask): a warm textured subject, a teal textured background, and a soft
    disc whose edge fades over about 16 pixels, with thin strands reaching out."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    fg = np.stack(
        [0.62 + 0.2 * np.sin(xx / 23), 0.38 + 0.12 * np.cos(yy / 17), 0.25 + 0.08 * np.sin((xx + yy) / 29)],
        -1,
    )
    bg = np.stack(
        [0.05 + 0.04 * np.cos(yy / 41), 0.5 + 0.15 * np.sin(xx / 37), 0.5 + 0.1 * np.cos(xx / 19)], -1
    )
    fg += rng.normal(0, 0.02, fg.shape)
    radius = np.hypot(yy - h / 2, xx - w / 2)
    alpha = np.clip((min(h, w) * 0.33 - radius) / 16 + 0.5, 0, 1)
    strands = (np.abs(np.sin(np.arctan2(yy - h / 2, xx - w / 2) * 40)) > 0.97) & (radius < min(h, w) * 0.45)
    alpha = np.maximum(alpha, strands * 0.6)
    mask = (alpha * 255 + 0.5).astype(np.uint8)
    return np.clip(fg, 0, 1).astype(np.float32), bg.astype(np.float32), mask


def composite(fg: np.ndarray, bg: np.ndarray, mask: np.ndarray, dtype: type) -> np.ndarray:
    a = mask[..., None].astype(np.float32) / 255
    unit = a * fg + (1 - a) * bg
    if dtype is np.float32:
        return unit.astype(np.float32)
    return (unit * SCALE[dtype] + 0.5).astype(dtype)


def edge_error(colour: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    """α-weighted mean absolute colour error over the band, in unit values."""
    band = (mask > 0) & (mask < 255)
    weight = mask[band] / 255.0
    unit = colour.astype(np.float64) / SCALE[colour.dtype.type]
    return float((weight * np.abs(unit[band] - truth[band]).mean(axis=1)).sum() / weight.sum())


def cut(image: np.ndarray, answer: np.ndarray, **options: object):  # type: ignore[no-untyped-def]
    return build_cutout(Source(image), answer, CutOptions(**options), None)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_recovered_colour_is_far_closer_to_the_foreground_than_the_source(dtype):
    fg, bg, mask = scene()
    image = composite(fg, bg, mask, dtype)
    result = cut(image, mask[..., None], channels="alpha")
    assert result.rgba.dtype == dtype
    before, after = edge_error(image, fg, mask), edge_error(result.rgba[..., :3], fg, mask)
    assert after <= before / 2, (before, after)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_opaque_and_clear_pixels_keep_the_source_exactly_and_alpha_is_unchanged(dtype):
    fg, bg, mask = scene(seed=1)
    image = composite(fg, bg, mask, dtype)
    result = cut(image, mask[..., None], channels="alpha")
    opaque = mask == 255
    assert opaque.sum() > 10_000
    assert np.array_equal(result.rgba[..., :3][opaque], image[opaque])
    clear = mask == 0
    assert np.array_equal(result.rgba[..., :3][clear], image[clear])
    today = cut(image, mask[..., None], channels="alpha", decontaminate=False)
    assert np.array_equal(result.rgba[..., 3], today.rgba[..., 3])
    assert np.array_equal(result.mask, mask)


def test_turned_off_it_gives_the_source_colours_as_before():
    fg, bg, mask = scene(seed=2)
    image = composite(fg, bg, mask, np.uint8)
    off = cut(image, mask[..., None], channels="alpha", decontaminate=False)
    assert np.array_equal(off.rgba[..., :3], image) and np.array_equal(off.rgba[..., 3], mask)
    on = cut(image, mask[..., None], channels="alpha")
    band = (mask > 0) & (mask < 255)
    assert (on.rgba[..., :3][band] != image[band]).any(axis=1).mean() > 0.5
    assert np.array_equal(on.rgba[..., 3], off.rgba[..., 3])


def test_the_services_full_size_rgba_answer_keeps_its_own_edge_colours():
    fg, bg, mask = scene(seed=3)
    image = composite(fg, bg, mask, np.uint8)
    answer = np.dstack([np.full(image.shape, (200, 30, 90), np.uint8), mask])  # the service's colours
    result = cut(image, answer)
    soft = mask < 255
    assert (result.rgba[..., :3][soft] == (200, 30, 90)).all()
    assert np.array_equal(result.rgba[..., :3][~soft], image[~soft])


def test_a_smaller_answer_brought_to_full_size_is_decontaminated_too():
    fg, bg, mask = scene(480, 640, seed=4)
    image = composite(fg, bg, mask, np.uint8)
    small = np.asarray(Image.fromarray(mask).resize((320, 240), Image.Resampling.BILINEAR))
    answer = np.dstack([np.asarray(Image.fromarray(image).resize((320, 240))), small])
    result = cut(image, answer)
    assert result.mask_refined and result.rgba.shape == (480, 640, 4)
    assert edge_error(result.rgba[..., :3], fg, result.mask) <= edge_error(image, fg, result.mask) / 2


def test_a_grey_source_gets_one_estimate_in_all_three_channels():
    fg, bg, mask = scene(seed=5)
    grey = composite(fg, bg, mask, np.uint8)[..., 1:2]
    result = cut(grey, mask[..., None], channels="alpha")
    rgb = result.rgba[..., :3]
    assert np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2])
    truth = np.repeat(fg[..., 1:2], 3, axis=2)
    assert edge_error(rgb, truth, mask) <= edge_error(np.repeat(grey, 3, axis=2), truth, mask) / 2


def test_scene_linear_values_above_one_are_kept_in_range_not_clipped():
    fg, bg, mask = scene(seed=6)
    fg, bg = fg * 4.0, bg * 0.5  # an HDR subject
    image = composite(fg, bg, mask, np.float32)
    rgb = build_cutout(Source(image, linear=True), mask[..., None], CutOptions(channels="alpha"), None).rgba[
        ..., :3
    ]
    band = (mask > 0) & (mask < 255)
    assert rgb[band].max() > 1.5 and rgb.max() <= image.max() + 1e-6
    assert edge_error(rgb, fg, mask) <= edge_error(image, fg, mask) / 2


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (1, 40), (37, 2), (5, 5)])
def test_tiny_pictures_are_handled(shape):
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    mask = rng.choice(np.array([0, 90, 200, 255], np.uint8), shape)
    out = image.copy()
    decontaminate(image, mask, out)
    opaque = (mask == 0) | (mask == 255)
    assert np.array_equal(out[opaque], image[opaque])


def test_a_hard_mask_changes_nothing():
    fg, bg, mask = scene(seed=8)
    hard = np.where(mask > 127, 255, 0).astype(np.uint8)
    image = composite(fg, bg, hard, np.uint8)
    assert np.array_equal(cut(image, hard[..., None], channels="alpha").rgba[..., :3], image)


def test_the_option_is_never_sent_nor_part_of_the_cache_key():
    on, off = CutOptions(), CutOptions(decontaminate=False)
    assert on.decontaminate and not off.decontaminate
    assert on.form_fields() == off.form_fields() and "decontaminate" not in on.form_fields()
    assert on.cache_token() == off.cache_token()
    with pytest.raises(OptionError) as info:
        CutOptions(decontaminate="no")
    assert "decontaminate" in str(info.value) and "True or False" in str(info.value)


def test_cli_no_decontaminate_keeps_the_source_colours(tmp_path, local_model, capsys):
    fg, bg, mask = scene(480, 640, seed=9)
    source = composite(fg, bg, mask, np.uint8)
    Image.fromarray(source).save(tmp_path / "in.png")
    for name, extra in (("on.png", []), ("off.png", ["--no-decontaminate"])):
        code = main(
            ["cut", str(tmp_path / "in.png"), "-o", str(tmp_path / name), "--engine", "local", *extra]
        )
        assert code == 0, capsys.readouterr().err
    on = np.asarray(Image.open(tmp_path / "on.png").convert("RGBA"))
    off = np.asarray(Image.open(tmp_path / "off.png").convert("RGBA"))
    assert np.array_equal(on[..., 3], off[..., 3])
    assert np.array_equal(off[..., :3], source)
    soft = (on[..., 3] > 0) & (on[..., 3] < 255)
    assert soft.sum() > 1000 and (on[..., :3][soft] != source[soft]).any(axis=1).mean() > 0.5
    assert np.array_equal(on[..., :3][on[..., 3] == 255], source[on[..., 3] == 255])


@pytest.fixture(scope="module")
def gimp(tmp_path_factory):  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(Path(__file__).parent / "hosts"))
    from gimp_host import Gimp, gimp_root, install_plugin

    plugins = tmp_path_factory.mktemp("plugins")
    install_plugin(plugins, "--no-vendor")
    return Gimp(
        gimp_root("full"), plugins, tmp_path_factory.mktemp("profile"), tmp_path_factory.mktemp("gimp-io")
    )


@pytest.mark.gimp
def test_gimp_decontaminates_a_sixteen_bit_cut_unless_turned_off(gimp, key):
    from bgcut.emulator import Emulator

    fg, bg, mask = scene(seed=10)
    png = encode(composite(fg, bg, mask, np.uint8))
    cuts = {}
    with Emulator({key: 10}) as emu:
        env = {"BACKGROUNDCUT_API_KEY": key, "BACKGROUNDCUT_ENDPOINT": emu.endpoint}
        for on in (True, False):
            args = {"output": "rgba-layer", "decontaminate": on}
            run = gimp.run(
                {"input": "in.png", "precision": "U16_NON_LINEAR", "dump_comp": "u16", "args": args},
                {"in.png": png},
                env,
            )
            assert run.report["status"] == "success", run.report
            cut_layer, source_layer = run.layers()
            cuts[on] = run.pixels(cut_layer, np.uint16)
            source = run.pixels(source_layer, np.uint16)
    assert np.array_equal(cuts[False][..., :3], source[..., :3])
    assert np.array_equal(cuts[True][..., 3], cuts[False][..., 3])
    alpha = cuts[True][..., 3]
    soft = (alpha > 0) & (alpha < 65535)
    assert soft.sum() > 1000
    assert (cuts[True][..., :3][soft] != source[..., :3][soft]).any(axis=1).mean() > 0.5
    opaque = alpha == 65535
    assert np.array_equal(cuts[True][..., :3][opaque], source[..., :3][opaque])


@pytest.mark.parametrize("shape", [(240, 320), (1203, 1601)])
def test_trimmed_rectangles_hold_every_band_pixel_and_give_the_untrimmed_estimate(shape, monkeypatch):
    fg, bg, _ = scene(*shape, seed=3)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    disc = np.clip((min(h, w) * 0.33 - np.hypot(yy - h / 2, xx - w / 2)) / 4 + 0.5, 0, 1)
    mask = (disc * 255 + 0.5).astype(np.uint8)
    image = composite(fg, bg, mask, np.uint8)
    band = (mask > 0) & (mask < 255)
    *_, last = dc.passes_for(h, w)
    tile = last.size * max(1, round(dc.TILE / last.size))
    trimmed = dc.band_runs(mask, tile, cell=last.size)
    # the same rectangles as whole tiles: what band_runs gave before it trimmed them
    whole = [
        (a // tile * tile, min(h, a // tile * tile + tile), c // tile * tile, min(w, -(-d // tile) * tile))
        for a, b, c, d in trimmed
    ]
    covered = np.zeros(mask.shape, bool)
    for y0, y1, x0, x1 in trimmed:
        assert y0 % last.size == 0 and x0 % last.size == 0
        covered[y0:y1, x0:x1] = True
    assert np.array_equal(covered & band, band)
    area = sum((b - a) * (d - c) for a, b, c, d in trimmed)
    assert area < 0.7 * sum((b - a) * (d - c) for a, b, c, d in whole)
    out = image.copy()
    decontaminate(image, mask, out)
    monkeypatch.setattr(dc, "band_runs", lambda m, t, cell=1: whole)
    untrimmed = image.copy()
    decontaminate(image, mask, untrimmed)
    assert np.array_equal(out, untrimmed) and not np.array_equal(out, image)
