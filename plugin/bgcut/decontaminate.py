"""Foreground colours for the soft edge of a cut-out ("decontaminate colours").

Where 0 < α < 1 a photo's pixel is I = α·F + (1−α)·B, part subject F and part old
background B; kept as the cut-out's colour, B shows over a new background (a teal or grey
rim). F is estimated with the blur-fusion estimator of Forte & Pitié ("Approximate Fast
Foreground Colour Estimation", ICIP 2021):

    F̂ = blur(F·α) / blur(α),  B̂ = blur(B·(1−α)) / blur(1−α),  F = F̂ + α·(I − α·F̂ − (1−α)·B̂)

starting from F = B = I, each pass on the previous one's F and B̂. Their two passes (90,
then 6 pixel windows at 1 MP) are run here as a cascade from coarse to fine, the window
shrinking 3× a pass down to their 6 pixels, scaled with the picture's size: the wide
passes find the subject's colour far into a broad soft edge, the narrow ones bring back
its local detail (on benchmarks/edge_colour.py's solid-colour composites: 0.30 of the
source's colour error, against 0.50 with the two passes).

Each blur is a 3×3 box of cells a third of its window wide, so it costs little whatever
its size: the wide passes sum cells of a sparse sample of the picture, the last one exact
per-cell sums over the tiles that hold band pixels. That last estimate is interpolated
back and applied per pixel, in float32, and written only where 0 < α < 1: opaque and
clear pixels, and the alpha, keep their values. The rectangles are independent, so they
run in threads, one per core.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .parallel import for_each

#: The passes' window widths at 1 MP, coarse to fine (scaled with the linear size).
WIDTHS = (180, 60, 20, 6)
#: No window is narrower than 3 pixels, and the widest at least this, even on a thumbnail.
MIN_WIDEST = 45
#: The wide passes read about this many samples along a cell's side.
SAMPLES = 8
#: Band pixels are found in tiles of about this many pixels a side ...
TILE = 64
#: ... and at most this many side by side are worked on at once (bounds temporary memory).
MAX_RUN = 8
#: Samples summed at once in a wide pass (bounds temporary memory).
STRIP_SAMPLES = 1 << 16
#: Weight, in pixels of full alpha, of the previous pass's estimate in the next: where a
#: window holds only a few faint pixels it leans on the wider view, not on their noise.
PRIOR = 0.5


@dataclass(frozen=True)
class Cells:
    """A pass's cells: `size` pixels a side, read every `step` pixels (1: every pixel)."""

    size: int
    step: int

    @property
    def samples(self) -> int:
        return self.size // self.step


def passes_for(height: int, width: int) -> list[Cells]:
    """The cascade's cells, coarse to fine, for a picture of this size."""
    scale = math.sqrt(height * width / 1e6)
    side = min(height, width)
    widest = max(MIN_WIDEST, WIDTHS[0] * scale)
    out = []
    for w in WIDTHS:
        cell = max(1, min(round(max(3.0, w * widest / WIDTHS[0]) / 3), side))
        step = max(1, round(cell / SAMPLES))
        out.append(Cells(step * max(1, cell // step), step))
    return out


def decontaminate(colour: np.ndarray, mask: np.ndarray, out: np.ndarray) -> None:
    """Write the estimated foreground colour into `out` where 0 < mask < 255.

    colour: H×W×C (C = 1 or 3) source colour, uint8/uint16/float32; mask: H×W uint8;
    out: H×W×3 of colour's dtype (a grey source's estimate goes into all three).
    """
    *wide, last = passes_for(*mask.shape)
    tile = last.size * max(1, round(TILE / last.size))
    runs = band_runs(mask, tile, cell=last.size)
    if not runs:
        return
    grid: Grid | None = None
    for cells in wide:
        grid = Grid.of(colour, mask, cells, grid)
    assert grid is not None  # WIDTHS holds more than one pass
    limits = _value_range(colour)
    final = grid
    for_each(lambda run: _apply(colour, mask, out, final, run, last.size, limits), runs)


def band_runs(
    mask: np.ndarray, tile: int, max_run: int = MAX_RUN, cell: int = 1
) -> list[tuple[int, int, int, int]]:
    """(y0, y1, x0, x1) rectangles of side-by-side tiles that hold band pixels (found one
    row of tiles at a time, so no picture-sized temporary is made), each trimmed to its
    band pixels' bounds in whole cells of `cell` pixels (tile is a multiple of it): every
    rectangle keeps to one grid of cells, so its pixels get the estimate they would get
    untrimmed, and an edge crossing a row of tiles costs its own rows, not the tiles'
    (the quokka's rectangles 3.5x its band pixels before, 2.0x after)."""
    h, w = mask.shape
    runs = []
    for y0 in range(0, h, tile):
        y1 = min(h, y0 + tile)
        band = (mask[y0:y1] - np.uint8(1)) < np.uint8(254)  # 0 < mask < 255, by wrap-around
        flags = _blocks_any(band.any(axis=0), tile)
        edges = np.flatnonzero(np.diff(np.concatenate(([0], flags.view(np.int8), [0]))))
        for start, stop in zip(edges[::2], edges[1::2], strict=True):
            for a in range(start, stop, max_run):
                x0, x1 = a * tile, min(w, min(stop, a + max_run) * tile)
                runs.append(_trimmed(band[:, x0:x1], y0, x0, cell))
    return runs


def _trimmed(band: np.ndarray, y0: int, x0: int, cell: int) -> tuple[int, int, int, int]:
    """The bounds of a rectangle's band pixels (it holds some), widened to whole cells
    counted from its corner (y0, x0), within it."""
    rows, cols = np.flatnonzero(band.any(axis=1)), np.flatnonzero(band.any(axis=0))
    h, w = band.shape
    top, left = rows[0] // cell * cell, cols[0] // cell * cell
    bottom, right = min(h, (rows[-1] // cell + 1) * cell), min(w, (cols[-1] // cell + 1) * cell)
    return y0 + top, y0 + bottom, x0 + left, x0 + right


def _blocks_any(a: np.ndarray, n: int) -> np.ndarray:
    """Whether each block of n entries (the last one may be shorter) holds a True."""
    full = len(a) // n * n
    out = np.asarray(a[:full].reshape(-1, n).any(axis=1))
    return np.append(out, a[full:].any()) if full < len(a) else out


@dataclass(frozen=True)
class Grid:
    """A wide pass's F̂ and B̂ (2C planes, raw units) at the centres of its cells."""

    values: np.ndarray
    cell: int

    @classmethod
    def of(cls, colour: np.ndarray, mask: np.ndarray, cells: Cells, wider: Grid | None) -> Grid:
        """One pass over the picture's whole cells (a last partial row or column of cells
        is left out), from one pixel in step²; `wider` is the previous pass."""
        gh, gw = mask.shape[0] // cells.size, mask.shape[1] // cells.size
        c = colour.shape[2]
        if wider is None:
            sums = _sampled_sums(colour, mask, cells, gh, gw, _first_planes)
            fg1, bg1 = _overall(sums, c, cells.samples**2)
            planes = np.concatenate([sums[1 : 1 + c], sums[1 + c :] - sums[1 : 1 + c], sums[:1]])
        else:
            sums = _sampled_sums(colour, mask, cells, gh, gw, _later_planes)
            fg1, bg1 = np.split(wider.at_cells(0, 0, gh, gw, cells.size), 2)
            planes = _blend_sums(sums, fg1, bg1, cells.samples**2)
        window = _box_sums(np.pad(planes, ((0, 0), (1, 1), (1, 1)), mode="edge"), 1)
        prior = PRIOR / cells.step**2
        return cls(_estimates(window, fg1, bg1, 9 * cells.samples**2, prior), cells.size)

    def at_cells(self, y0: int, x0: int, gy: int, gx: int, cell: int) -> np.ndarray:
        """Values at the centres of gy×gx cells of `cell` pixels from pixel (y0, x0)."""
        grid = _lerp(self.values, 1, _centres(y0, gy, cell, self.cell))
        return _lerp(grid, 2, _centres(x0, gx, cell, self.cell))


def _first_planes(img: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """α, I·α and I: what the first pass (F = B = I) sums."""
    c = len(img)
    out = np.empty((1 + 2 * c, *alpha.shape), np.float32)
    out[0] = alpha
    np.multiply(img, alpha, out=out[1 : 1 + c])
    out[1 + c :] = img
    return out


def _later_planes(img: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """α, α², α³ and α²·I: what a later pass sums (see _blend_sums)."""
    c = len(img)
    out = np.empty((3 + c, *alpha.shape), np.float32)
    out[0] = alpha
    np.multiply(alpha, alpha, out=out[1])
    np.multiply(out[1], alpha, out=out[2])
    np.multiply(img, out[1], out=out[3:])
    return out


def _blend_sums(sums: np.ndarray, fg1: np.ndarray, bg1: np.ndarray, count: float) -> np.ndarray:
    """Per-cell Σ F₁·α, Σ B̂₁·(1−α) and Σ α for the previous pass's F₁ and B̂₁.

    F₁ = F̂₁ + α·(I − α·F̂₁ − (1−α)·B̂₁), so with F̂₁ and B̂₁ constant within a cell (they
    vary over the wider cells) Σ F₁·α = F̂₁·Σ(α − α³) + Σ α²·I − B̂₁·Σ(α² − α³)."""
    c = len(fg1)
    sa, sa2, sa3, sa2i = sums[0], sums[1], sums[2], sums[3:]
    out = np.empty((2 * c + 1, *sa.shape), np.float32)
    out[:c] = fg1 * (sa - sa3) + sa2i - bg1 * (sa2 - sa3)
    out[c : 2 * c] = bg1 * (np.float32(count) - sa)
    out[-1] = sa
    return out


def _estimates(
    window: np.ndarray, fg1: np.ndarray, bg1: np.ndarray, count: float, prior: float
) -> np.ndarray:
    """F̂ = Σ F·α / Σ α and B̂ = Σ B·(1−α) / Σ (1−α) over the window, each leaning on the
    previous pass by `prior` (window sums: C planes, C planes, then Σ α)."""
    c = len(fg1)
    fg_w = window[-1] + np.float32(prior)
    bg_w = np.float32(count + prior) - window[-1]
    fg = (window[:c] + np.float32(prior) * fg1) / fg_w
    bg = (window[c : 2 * c] + np.float32(prior) * bg1) / bg_w
    return np.concatenate([fg, bg])


def _overall(sums: np.ndarray, c: int, count: float) -> tuple[np.ndarray, np.ndarray]:
    """The whole picture's mean foreground and background colour (the first pass's
    fallback), as constant planes the shape of the grid."""
    total = sums.reshape(len(sums), -1).sum(axis=1, dtype=np.float64)
    cells = sums[0].size
    fg = total[1 : 1 + c] / (total[0] + 1e-3)
    bg = (total[1 + c :] - total[1 : 1 + c]) / (cells * count - total[0] + 1e-3)
    shape = (c, *sums.shape[1:])
    fg, bg = fg.astype(np.float32)[:, None, None], bg.astype(np.float32)[:, None, None]
    return np.broadcast_to(fg, shape), np.broadcast_to(bg, shape)


def _sampled_sums(
    colour: np.ndarray,
    mask: np.ndarray,
    cells: Cells,
    gh: int,
    gw: int,
    planes: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> np.ndarray:
    """Per-cell sums of `planes(I, α)` over the samples, a strip of cell rows at a time."""
    step, n = cells.step, cells.samples
    rows = max(1, STRIP_SAMPLES // (n * n * gw))
    first = step // 2
    out = None
    for r0 in range(0, gh, rows):
        r1 = min(gh, r0 + rows)
        at = (slice(r0 * cells.size + first, r1 * cells.size, step), slice(first, gw * cells.size, step))
        alpha = mask[at].astype(np.float32)
        alpha *= np.float32(1 / 255)
        strip = _cell_sums(planes(_planar(colour[at]), alpha), n)
        if out is None:
            out = np.empty((len(strip), gh, gw), np.float32)
        out[:, r0:r1] = strip
    assert out is not None  # a pass has at least one row of cells (a cell fits the picture)
    return out


def _centres(start: int, count: int, cell: int, grid_cell: int) -> np.ndarray:
    """Positions, in grid cells, of the centres of `count` cells of `cell` pixels."""
    return ((start + (np.arange(count) + 0.5) * cell) / grid_cell - 0.5).astype(np.float32)


def _lerp(grid: np.ndarray, axis: int, pos: np.ndarray) -> np.ndarray:
    """Linear interpolation along `axis` at fractional indices (clamped at the ends)."""
    n = grid.shape[axis]
    pos = np.clip(pos, 0, n - 1)
    low = np.minimum(pos.astype(np.intp), max(n - 2, 0))
    shape = [1] * grid.ndim
    shape[axis] = len(pos)
    frac = (pos - low).reshape(shape)
    out = np.take(grid, low, axis=axis)
    if not frac.any():  # whole positions (the last pass at one-pixel cells): a shift
        return out
    out *= 1 - frac
    out += np.take(grid, np.minimum(low + 1, n - 1), axis=axis) * frac
    return out


def _box_sums(a: np.ndarray, g: int) -> np.ndarray:
    """Sums over every full (2g+1)² window of the last two axes ("valid": 2g smaller), as
    adds of shifted slices: the windows here are 3×3, where numpy's running sums (cumsum
    scans element by element) took a third of a small picture's edge colours."""
    k = 2 * g + 1
    rows = a[..., : a.shape[-2] - k + 1, :].copy()
    for i in range(1, k):
        rows += a[..., i : a.shape[-2] - k + 1 + i, :]
    out = rows[..., : rows.shape[-1] - k + 1].copy()
    for i in range(1, k):
        out += rows[..., i : rows.shape[-1] - k + 1 + i]
    return out


def _cell_sums(a: np.ndarray, d: int) -> np.ndarray:
    """Sums over d×d cells of the last two axes (their lengths are multiples of d)."""
    k, h, w = a.shape
    rows = a.reshape(k, h // d, d, w).sum(axis=2)
    out = rows[..., 0::d].copy()
    for p in range(1, d):
        out += rows[..., p::d]
    return out


def _apply(
    colour: np.ndarray,
    mask: np.ndarray,
    out: np.ndarray,
    wider: Grid,
    run: tuple[int, int, int, int],
    d: int,
    limits: tuple[float, float],
) -> None:
    """The last pass on one rectangle and the per-pixel estimate, written into `out`.

    Its cells are summed exactly, two beyond the rectangle: one ring for the 3×3 window,
    one more so that every pixel inside has grid neighbours to interpolate between."""
    y0, y1, x0, x1 = run
    gy, gx = -(-(y1 - y0) // d) + 4, -(-(x1 - x0) // d) + 4
    ry, rx = y0 - 2 * d, x0 - 2 * d
    img = _planar(_crop(colour, ry, ry + gy * d, rx, rx + gx * d))
    alpha = _crop(mask, ry, ry + gy * d, rx, rx + gx * d).astype(np.float32)
    alpha *= np.float32(1 / 255)
    fg1, bg1 = np.split(wider.at_cells(ry, rx, gy, gx, d), 2)
    planes = _blend_sums(_cell_sums(_later_planes(img, alpha), d), fg1, bg1, d * d)
    inner = (slice(None), slice(1, -1), slice(1, -1))
    small = _estimates(_box_sums(planes, 1), fg1[inner], bg1[inner], 9 * d * d, PRIOR)
    cols = ((np.arange(x1 - x0) + 0.5) / d + 0.5).astype(np.float32)
    fg2, bg2 = np.split(_upsample_rows(_lerp(small, 2, cols), d, y1 - y0), 2)
    core = (slice(2 * d, 2 * d + y1 - y0), slice(2 * d, 2 * d + x1 - x0))
    estimate = _fuse(img[:, core[0], core[1]], alpha[core], fg2, bg2, limits)
    band = (mask[y0:y1, x0:x1] - np.uint8(1)) < np.uint8(254)
    source = _planar_view(colour[y0:y1, x0:x1])
    np.copyto(_planar_view(out[y0:y1, x0:x1]), np.where(band, _to_dtype(estimate, colour.dtype), source))


def _upsample_rows(grid: np.ndarray, d: int, count: int) -> np.ndarray:
    """Interpolate the last pass's rows to `count` pixel rows. Pixel row r sits at
    (r + 0.5)/d + 0.5 on that grid (it starts one cell into the two-cell margin), so rows
    p, p+d, p+2d, ... share their weights and are filled together, phase by phase."""
    out = np.empty((grid.shape[0], count, grid.shape[2]), np.float32)
    spare = np.empty((grid.shape[0], -(-count // d), grid.shape[2]), np.float32)
    for p in range(min(d, count)):
        pos = (p + 0.5) / d + 0.5
        low = int(pos)
        frac = np.float32(pos - low)
        rows = out[:, p::d]
        n = rows.shape[1]
        np.multiply(grid[:, low : low + n], 1 - frac, out=rows)
        rows += np.multiply(grid[:, low + 1 : low + 1 + n], frac, out=spare[:, :n])
    return out


def _fuse(
    img: np.ndarray, alpha: np.ndarray, fg: np.ndarray, bg: np.ndarray, limits: tuple[float, float]
) -> np.ndarray:
    """F = F̂ + α·(I − α·F̂ − (1−α)·B̂): the blurred guesses, corrected so that
    F·α + B̂·(1−α) gives back the pixel. Computed as α·I + (1−α)·(F̂ + α·(F̂ − B̂)), in
    place (`img` and `bg` are used up)."""
    np.subtract(fg, bg, out=bg)
    bg *= alpha
    bg += fg
    bg *= 1 - alpha
    img *= alpha
    bg += img
    return np.clip(bg, limits[0], limits[1], out=bg)


def _value_range(colour: np.ndarray) -> tuple[float, float]:
    """Estimates stay in the range a pixel can hold (HDR floats: the source's own)."""
    if colour.dtype != np.float32:
        return 0.0, _full_scale(colour.dtype)
    return min(0.0, float(colour.min())), max(1.0, float(colour.max()))


def _full_scale(dtype: np.dtype) -> float:
    return {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(np.dtype(dtype), 1.0)


def _planar(a: np.ndarray) -> np.ndarray:
    """C×H×W float32 copy of an H×W×C array, in its raw units."""
    return _planar_view(a).astype(np.float32)


def _planar_view(a: np.ndarray) -> np.ndarray:
    return a.transpose(2, 0, 1)


def _to_dtype(raw: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if np.dtype(dtype) == np.float32:
        return raw
    raw += np.float32(0.5)
    return raw.astype(dtype)


def _crop(a: np.ndarray, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    """a[y0:y1, x0:x1], the edge pixels repeated where the rectangle leaves the picture
    (it always overlaps it)."""
    h, w = a.shape[:2]
    cy0, cy1, cx0, cx1 = max(y0, 0), min(y1, h), max(x0, 0), min(x1, w)
    part = a[cy0:cy1, cx0:cx1]
    pads = ((cy0 - y0, y1 - cy1), (cx0 - x0, x1 - cx1)) + ((0, 0),) * (a.ndim - 2)
    if any(p for pair in pads for p in pair):
        part = np.pad(part, pads, mode="edge")
    return part
