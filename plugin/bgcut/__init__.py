"""bgcut: background removal through the BackgroundCut API, as layers at the source's size.

Names are imported on first use, so `import bgcut.model` or `bgcut.config` (used by the
installer, which may run without numpy) stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

from .version import __version__

_EXPORTS = {
    "remove_background": "api",
    "cut_many": "api",
    "make_engine": "api",
    "BatchItem": "batch",
    "Cancel": "cancel",
    "AnswerCache": "cache",
    "BackgroundCutClient": "client",
    "Cutout": "cutout",
    "CutOptions": "options",
    "load_source": "source",
    "UploadInfo": "upload",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'bgcut' has no attribute {name!r}")
