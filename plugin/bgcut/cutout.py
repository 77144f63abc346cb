"""The result of a cut as layers at the source's own size: an RGBA cut-out and a mask."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .marker import kind_for
from .options import CutOptions
from .refine import guided_upsample, luminance
from .source import Source, from_unit, to_unit
from .upload import UploadInfo
from .writing import check_size, output_format, pillow_writer, png16_writer, write_atomic


@dataclass(eq=False)
class Cutout:
    """rgba: H×W×4 in the source's dtype; mask: H×W uint8 (255 = keep)."""

    rgba: np.ndarray
    mask: np.ndarray
    upload: UploadInfo | None
    engine: str = "backgroundcut"
    from_cache: bool = False
    mask_refined: bool = False

    @property
    def width(self) -> int:
        return int(self.mask.shape[1])

    @property
    def height(self) -> int:
        return int(self.mask.shape[0])

    def mask_unit(self) -> np.ndarray:
        return self.mask.astype(np.float32) * (1.0 / 255.0)

    def image(self, channels: str = "rgba") -> Image.Image:
        """An 8-bit Pillow image of the cut-out (rgba) or the mask (alpha)."""
        if channels == "alpha":
            return Image.fromarray(self.mask, mode="L")
        return Image.fromarray(from_unit(to_unit(self.rgba), np.uint8), mode="RGBA")

    def save(
        self,
        path: str | os.PathLike,
        channels: str = "rgba",
        *,
        force: bool = False,
        webp_quality: int | None = None,
    ) -> None:
        """Write the cut-out (or the mask, channels="alpha") in the format its name asks
        for: .png (16-bit when the source has more than 8 bits: no levels lost) or .webp
        (lossless unless `webp_quality` 1..100). Atomic: the file appears whole or not at
        all. An existing file or link at `path` is an OutputError unless `force`, which
        replaces it (a link itself, never its target)."""
        fmt = output_format(path)
        check_size(path, fmt, self.width, self.height)
        kind = kind_for(channels)
        if fmt == "PNG" and kind == "cut-out" and self.rgba.dtype != np.uint8:
            deep = self.rgba if self.rgba.dtype == np.uint16 else from_unit(to_unit(self.rgba), np.uint16)
            writer = png16_writer(deep, kind)
        else:
            writer = pillow_writer(self.image(channels), fmt, kind, webp_quality)
        write_atomic(path, writer, replace=force)

    def __repr__(self) -> str:
        return (
            f"Cutout({self.width}x{self.height}, engine={self.engine!r}, "
            f"from_cache={self.from_cache}, upload={self.upload})"
        )


def answer_mask(answer: np.ndarray) -> np.ndarray:
    """The mask carried by an answer: its alpha, or its grey level in alpha mode."""
    if answer.shape[2] == 1:
        return answer[..., 0]
    alpha = answer[..., 3]
    if alpha.min() < 255:
        return alpha
    return np.asarray(Image.fromarray(answer[..., :3]).convert("L"))


def build_cutout(
    source: Source,
    answer: np.ndarray,
    options: CutOptions,
    upload: UploadInfo | None,
    *,
    engine: str = "backgroundcut",
    from_cache: bool = False,
) -> Cutout:
    """Both layers at the source's size, whatever size and channels the answer has."""
    same_size = answer.shape[:2] == (source.height, source.width)
    coarse = answer_mask(answer)
    if same_size:
        mask = np.ascontiguousarray(coarse)
    else:
        refined = guided_upsample(coarse.astype(np.float32) / 255.0, luminance(source.rgb8()))
        mask = (refined * 255.0 + 0.5).astype(np.uint8)
    use_service_colour = (
        same_size
        and answer.shape[2] == 4
        and options.channels == "rgba"
        and source.pixels.dtype == np.uint8
        and not source.linear
        and source.pixels.shape[2] >= 3
    )
    rgba = _compose(source, mask, answer if use_service_colour else None)
    return Cutout(rgba, mask, upload, engine=engine, from_cache=from_cache, mask_refined=not same_size)


def _compose(source: Source, mask: np.ndarray, service_rgba: np.ndarray | None) -> np.ndarray:
    px = source.pixels
    dtype = px.dtype
    out = np.empty((source.height, source.width, 4), dtype=dtype)
    if service_rgba is not None:
        # the service's edge colours where the subject fades, the source's own elsewhere
        # (a lossy WebP answer must not degrade the opaque interior)
        np.copyto(out[..., :3], px[..., :3])
        np.copyto(out[..., :3], service_rgba[..., :3], where=(mask < 255)[..., None])
    elif px.shape[2] >= 3:
        out[..., :3] = px[..., :3]
    else:
        out[..., :3] = px[..., :1]
    src_alpha = source.alpha_unit()
    if src_alpha is None and dtype == np.uint8:
        out[..., 3] = mask
    else:
        alpha = mask.astype(np.float32) * (1.0 / 255.0)
        if src_alpha is not None:
            alpha *= src_alpha
        out[..., 3] = from_unit(alpha, dtype)
    return out
