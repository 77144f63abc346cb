"""The offline engine: u2netp on onnxruntime, behind the same interface as the API.

The model sees the image with its long side at 320; its coarse mask is brought back to the source's size
by the same guided upsampling the API path uses for downscaled uploads, and the result is
the same Cutout. onnxruntime is an optional extra: `pip install 'bgcut[local]'`.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..cutout import Cutout, build_cutout
from ..errors import CancelledError, EngineError, Remedy
from ..fastgraph import SIDE_STEP, faster_graph
from ..freesize import with_free_size
from ..model import load_verified
from ..options import CutOptions
from ..pacing import Notify, Pacer
from ..refine import resize_float
from ..shrink import lanczos
from ..source import Source
from ..units import unit_to_u8
from .protocol import Progress

SIZE = 320
#: The whole picture's short side follows its own, rounded up to a multiple of SIDE_STEP
#: (each of u2netp's five halvings then divides evenly), but never below this: a 4:3 photo is
#: read at 320×256, squashed 1.07× instead of rembg's 1.33×, in 0.8× of the 320×320 model
#: time, with IoU at or above 320×320's on every ground-truth photo (quokka 0.9532,
#: VOC 0.5456, ARC 0.9424 against 0.9524, 0.5429, 0.9416). 224 loses on the quokka (0.949).
MIN_SHORT = 256
WORK_SIDE = 640
VIEW_SHARE = 0.75
#: The two views run as one batch (free-size graph: freesize.py), each read at VIEW_ALONG
#: along the picture's long side and VIEW_ACROSS across it. On the crowded VOC photo that
#: gives IoU 0.566 (0.570 at 12 MP) against 0.546 at 192×192 and 0.514 at the whole
#: picture's 320, in 0.83× of 192×192's model time. The gain is fragile on that photo:
#: over view shares of 0.72-0.78, 160×192 averages 0.490 and 192×192 0.472, while 160×160,
#: 224×192 and 128×192 lose most of it (0.36, 0.41, 0.39).
VIEW_ALONG = 160
VIEW_ACROSS = 192
#: The whole-picture mask asks for the extra views when the subject touches an end of the
#: long side over this share of it (cut off by the frame) ...
CUT_OFF_SHARE = 0.1
#: ... or splits into two or more parts of at least this share of the picture (crowded).
PART_SHARE = 0.01
#: Probabilities within this of 0 or 1 are taken as clear or opaque: the model's faint
#: haze over the background and inside the subject is noise, and the full-size work (the
#: guided fit, the edge colours) then runs only on the real edge (the 12 MP quokka: 15% of
#: its pixels soft before, 8% after; IoU the same on every ground-truth photo, MAE lower).
SNAP = 0.05
_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def needs_views(prob: np.ndarray, horizontal: bool) -> bool:
    """Whether the whole-picture probabilities (whole_shape, sides multiples of 4) show a
    subject the two closer views can help with: cut off at an end of the long side, or
    crowded (several parts). A single subject inside the frame is seen as well whole, and
    views would only add their own false positives."""
    fg = prob > 0.5
    ends = (fg[:, :4], fg[:, -4:]) if horizontal else (fg[:4], fg[-4:])
    if max(float(e.mean()) for e in ends) >= CUT_OFF_SHARE:
        return True
    h, w = fg.shape
    coarse = fg.reshape(h // 4, 4, w // 4, 4).mean(axis=(1, 3)) > 0.5
    parts = part_sizes(coarse)
    return int((parts >= PART_SHARE * coarse.size).sum()) >= 2


def part_sizes(fg: np.ndarray) -> np.ndarray:
    """Pixel counts of the 4-connected parts of a boolean picture (numpy only: each part
    takes the largest index found in it, spread one step per round)."""
    label = np.where(fg, np.arange(1, fg.size + 1).reshape(fg.shape), 0)
    while True:
        grown = label.copy()
        np.maximum(grown[1:], label[:-1], out=grown[1:])
        np.maximum(grown[:-1], label[1:], out=grown[:-1])
        np.maximum(grown[:, 1:], label[:, :-1], out=grown[:, 1:])
        np.maximum(grown[:, :-1], label[:, 1:], out=grown[:, :-1])
        grown *= fg
        if np.array_equal(grown, label):
            break
        label = grown
    counts = np.bincount(label.ravel())[1:]
    return counts[counts > 0]


def whole_shape(height: int, width: int) -> tuple[int, int]:
    """(width, height) at which the model reads the whole picture (MIN_SHORT)."""
    scaled = -(-SIZE * min(height, width) // max(height, width))  # rounded up
    short = min(SIZE, max(MIN_SHORT, -(-scaled // SIDE_STEP) * SIDE_STEP))
    return (SIZE, short) if width >= height else (short, SIZE)


def working_size(height: int, width: int) -> tuple[int, int]:
    """(width, height) of the working size: the long side at most WORK_SIDE."""
    scale = min(1.0, WORK_SIDE / max(height, width))
    return max(1, round(width * scale)), max(1, round(height * scale))


def working_image(rgb8: np.ndarray) -> np.ndarray:
    """The picture at the working size, the one downsample both extra views are cut from
    (Lanczos, after a box reduction for large pictures: shrink.py)."""
    size = working_size(*rgb8.shape[:2])
    if size == (rgb8.shape[1], rgb8.shape[0]):
        return rgb8
    return lanczos(rgb8, size)


def model_input(rgb8: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """One picture as the model reads it: at `size` (width, height), scaled to its own
    brightest value, normalised with ImageNet's mean and deviation, channels first
    (3×height×width float32)."""
    small = lanczos(rgb8, size).astype(np.float32)
    small /= max(float(small.max()), 1.0)
    return np.ascontiguousarray(((small - _MEAN) / _STD).transpose(2, 0, 1), dtype=np.float32)


class LocalEngine:
    name = "local"
    notice: str | None = None

    def __init__(self, model: Path | None = None) -> None:
        self._model = model
        self._session: Any = None  # an onnxruntime.InferenceSession (onnxruntime is untyped)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "LocalEngine(u2netp)"

    def _get_session(self) -> Any:
        with self._lock:
            if self._session is None:
                # onnxruntime's builds send usage events to Microsoft (seen here: CONNECTs to
                # mobile.events.data.microsoft.com through the user's proxy every ~15 s); an
                # offline engine for private pictures sends nothing anywhere
                os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
                try:
                    import onnxruntime as ort
                except ImportError:
                    raise EngineError(
                        "The local engine needs onnxruntime.", remedy=Remedy.INSTALL_RUNTIME
                    ) from None
                if hasattr(ort, "disable_telemetry_events"):
                    ort.disable_telemetry_events()
                data = faster_graph(with_free_size(load_verified(self._model)))
                opts = ort.SessionOptions()
                opts.log_severity_level = 3
                # its threads stop spinning when a run ends, instead of holding both cores
                # through the guided fit and edge colours that follow (a local cut 4% faster)
                opts.add_session_config_entry("session.force_spinning_stop", "1")
                self._session = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
            return self._session

    def probabilities(self, rgb8: np.ndarray) -> np.ndarray:
        """The model's raw foreground probabilities for the whole picture, at whole_shape,
        float32 0..1."""
        return self.batch_probabilities([rgb8], whole_shape(*rgb8.shape[:2]))[0]

    def batch_probabilities(self, pictures: list[np.ndarray], size: tuple[int, int]) -> np.ndarray:
        """The model's probabilities for each picture at `size` (width, height), in one run
        (N×height×width)."""
        if size[0] % SIDE_STEP or size[1] % SIDE_STEP:
            raise ValueError(f"the model reads pictures only at sides that are multiples of {SIDE_STEP}")
        session = self._get_session()
        x = np.stack([model_input(rgb8, size) for rgb8 in pictures])
        out = session.run(None, {session.get_inputs()[0].name: x})[0]
        return np.asarray(out[:, 0], dtype=np.float32)

    def wants_views(self, rgb8: np.ndarray) -> bool:
        """Whether coarse_mask runs the two extra views for this picture."""
        return needs_views(self.probabilities(rgb8), rgb8.shape[1] >= rgb8.shape[0])

    def coarse_mask(self, rgb8: np.ndarray) -> np.ndarray:
        """Foreground probabilities at a working size (long side ≤ 640).

        Seen whole at 320 on its long side, a crowded scene loses its smaller subjects; when the whole
        picture's mask shows a crowded or cut-off subject (needs_views), two overlapping
        views of 3/4 of the long side each, seen together at VIEW_ALONG × VIEW_ACROSS, are merged in by
        maximum (the crowded VOC photo: IoU 0.34 → 0.57). The whole picture goes to the
        model straight from the source, as rembg's does; the views come from one working
        downsample, made only when they run.
        """
        ww, wh = working_size(*rgb8.shape[:2])
        whole = self.probabilities(rgb8)
        out = resize_float(whole, ww, wh).copy()
        horizontal = rgb8.shape[1] >= rgb8.shape[0]
        if not needs_views(whole, horizontal):
            return out
        work = working_image(rgb8)
        length = ww if horizontal else wh
        span = max(1, round(length * VIEW_SHARE))
        starts = (0, length - span)
        views = [work[:, s : s + span] if horizontal else work[s : s + span] for s in starts]
        size = (VIEW_ALONG, VIEW_ACROSS) if horizontal else (VIEW_ACROSS, VIEW_ALONG)
        probs = self.batch_probabilities([np.ascontiguousarray(v) for v in views], size)
        for start, prob in zip(starts, probs, strict=True):
            if horizontal:
                region = out[:, start : start + span]
                np.maximum(region, resize_float(prob, span, wh), out=region)
            else:
                region = out[start : start + span]
                np.maximum(region, resize_float(prob, ww, span), out=region)
        return out

    def cut(
        self,
        source: Source,
        options: CutOptions,
        *,
        progress: Progress | None = None,
        pacer: Pacer | None = None,
        cancel: threading.Event | None = None,
        notify: Notify | None = None,
    ) -> Cutout:
        """Sends nothing, so `pacer` and `notify` have nothing to pace or tell."""
        if progress:
            progress(0.1, "Running the local model")
        coarse = self.coarse_mask(source.rgb8())
        if cancel is not None and cancel.is_set():
            raise CancelledError("Cancelled; nothing was changed.")
        coarse[coarse < SNAP] = 0.0
        coarse[coarse > 1.0 - SNAP] = 1.0
        answer = unit_to_u8(coarse)[..., None]
        local_options = CutOptions(
            channels="alpha",
            quality=options.quality,
            max_resolution=options.max_resolution,
            decontaminate=options.decontaminate,
        )
        cutout = build_cutout(source, answer, local_options, None, engine=self.name, wanted=options.channels)
        if progress:
            progress(1.0, "Done")
        return cutout
