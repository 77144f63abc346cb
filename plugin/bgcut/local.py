"""The offline engine: u2netp on onnxruntime, behind the same interface as the API.

The model sees the image at 320×320; its coarse mask is brought back to the source's size
by the same guided upsampling the API path uses for downscaled uploads, and the result is
the same Cutout. onnxruntime is an optional extra: `pip install 'bgcut[local]'`.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from PIL import Image

from .cutout import Cutout, build_cutout
from .engine import Progress
from .errors import CancelledError, EngineError
from .model import load_verified
from .options import CutOptions
from .refine import resize_float
from .source import Source

SIZE = 320
WORK_SIDE = 640
VIEW_SHARE = 0.75
_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


class LocalEngine:
    name = "local"
    notice: str | None = None

    def __init__(self, model: Path | None = None) -> None:
        self._model = model
        self._session = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "LocalEngine(u2netp)"

    def _get_session(self):  # type: ignore[no-untyped-def]
        with self._lock:
            if self._session is None:
                try:
                    import onnxruntime as ort
                except ImportError:
                    raise EngineError(
                        "The local engine needs onnxruntime: pip install 'bgcut[local]' "
                        "(or `python install.py --local-engine` for GIMP)."
                    ) from None
                data = load_verified(self._model)
                opts = ort.SessionOptions()
                opts.log_severity_level = 3
                self._session = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
            return self._session

    def probabilities(self, rgb8: np.ndarray) -> np.ndarray:
        """The model's raw 320×320 foreground probabilities for one picture, float32 0..1."""
        session = self._get_session()
        small = np.asarray(
            Image.fromarray(rgb8).resize((SIZE, SIZE), Image.Resampling.LANCZOS), dtype=np.float32
        )
        small /= max(float(small.max()), 1.0)
        x = ((small - _MEAN) / _STD).transpose(2, 0, 1)[None].astype(np.float32)
        return session.run(None, {session.get_inputs()[0].name: x})[0][0, 0].astype(np.float32)

    def coarse_mask(self, rgb8: np.ndarray) -> np.ndarray:
        """Foreground probabilities at a working size (long side ≤ 640).

        Seen whole at 320×320, a crowded scene loses its smaller subjects; two overlapping
        views of 3/4 of the long side each are merged in by maximum, which lifted the
        mean IoU on the quality benchmark from 0.74 to 0.80 for two more model runs.
        """
        h, w = rgb8.shape[:2]
        scale = min(1.0, WORK_SIDE / max(h, w))
        ww, wh = max(1, round(w * scale)), max(1, round(h * scale))
        out = resize_float(self.probabilities(rgb8), ww, wh).copy()
        horizontal = w >= h
        length = w if horizontal else h
        span = max(1, int(length * VIEW_SHARE))
        for start in (0, length - span):
            view = rgb8[:, start : start + span] if horizontal else rgb8[start : start + span]
            prob = self.probabilities(np.ascontiguousarray(view))
            a, b = round(start * scale), round((start + span) * scale)
            if horizontal:
                region = out[:, a:b]
                np.maximum(region, resize_float(prob, b - a, wh), out=region)
            else:
                region = out[a:b]
                np.maximum(region, resize_float(prob, ww, b - a), out=region)
        return out

    def cut(
        self,
        source: Source,
        options: CutOptions,
        *,
        progress: Progress | None = None,
        pacer: object = None,
        cancel: threading.Event | None = None,
        notify: object = None,
    ) -> Cutout:
        if progress:
            progress(0.1, "Running the local model")
        coarse = self.coarse_mask(source.rgb8())
        if cancel is not None and cancel.is_set():
            raise CancelledError("Cancelled; nothing was changed.")
        answer = (coarse * 255.0 + 0.5).astype(np.uint8)[..., None]
        local_options = CutOptions(
            channels="alpha", quality=options.quality, max_resolution=options.max_resolution
        )
        cutout = build_cutout(source, answer, local_options, None, engine=self.name)
        if progress:
            progress(1.0, "Done")
        return cutout
