"""Where the local engine lived before bgcut.engines: kept only until api.py and the
emulator import from bgcut.engines.local (then this file goes)."""

from __future__ import annotations

from .engines.local import LocalEngine

__all__ = ["LocalEngine"]
