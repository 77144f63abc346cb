"""Where the engines lived before bgcut.engines: kept only until api.py and the emulator
import from bgcut.engines (then this file goes)."""

from __future__ import annotations

from .engines.cloud import BackgroundCutEngine
from .engines.protocol import Engine, Progress

__all__ = ["BackgroundCutEngine", "Engine", "Progress"]
