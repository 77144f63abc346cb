"""bgcut: background removal through the BackgroundCut API, as layers at the source's size."""

from .api import cut_many, make_engine, remove_background
from .batch import BatchItem
from .cache import AnswerCache
from .client import BackgroundCutClient
from .cutout import Cutout
from .options import CutOptions
from .source import load_source
from .upload import UploadInfo
from .version import __version__

__all__ = [
    "AnswerCache",
    "BackgroundCutClient",
    "BatchItem",
    "CutOptions",
    "Cutout",
    "UploadInfo",
    "__version__",
    "cut_many",
    "load_source",
    "make_engine",
    "remove_background",
]
