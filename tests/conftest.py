from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from bgcut.emulator import Emulator  # noqa: E402

KEY = "test-key-7f3a9c2e51b84d06"


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test reads or writes the developer's own key, config or cache."""
    monkeypatch.setenv("BGCUT_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("BGCUT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("BACKGROUNDCUT_API_KEY", raising=False)
    monkeypatch.delenv("BACKGROUNDCUT_ENDPOINT", raising=False)
    return tmp_path


@pytest.fixture
def emulator():
    with Emulator({KEY: 100}) as emu:
        yield emu


@pytest.fixture
def key() -> str:
    return KEY
