"""bgcut: background removal through the BackgroundCut API, as layers at the source's size.

Names are imported on first use, so `import bgcut.model` or `bgcut.config` (used by the
installer, which may run without numpy) stays light. The imports under TYPE_CHECKING (`X as X`:
re-exported) give editors and type checkers the real types of the same names;
tests/test_structure.py keeps them and _EXPORTS in step.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .version import __version__

if TYPE_CHECKING:
    from .api import cut_many as cut_many
    from .api import make_engine as make_engine
    from .api import remove_background as remove_background
    from .batch import BatchItem as BatchItem
    from .cache import AnswerCache as AnswerCache
    from .cancel import Cancel as Cancel
    from .client import BackgroundCutClient as BackgroundCutClient
    from .cutout import Cutout as Cutout
    from .engines.protocol import Engine as Engine
    from .options import CutOptions as CutOptions
    from .source import load_source as load_source
    from .upload import UploadInfo as UploadInfo

_EXPORTS = {
    "remove_background": "api",
    "cut_many": "api",
    "make_engine": "api",
    "BatchItem": "batch",
    "Cancel": "cancel",
    "AnswerCache": "cache",
    "BackgroundCutClient": "client",
    "Cutout": "cutout",
    "Engine": "engines.protocol",
    "CutOptions": "options",
    "load_source": "source",
    "UploadInfo": "upload",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'bgcut' has no attribute {name!r}")
