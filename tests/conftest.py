from __future__ import annotations

import io
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from bgcut.emulator import Emulator  # noqa: E402

KEY = "test-key-7f3a9c2e51b84d06"

# pip's wheel downloads (the hosts' vendored packages, the extension's Pillow) are cached
# beside the host roots, so tests that give pip a fresh HOME do not fetch them again
_HOST_CACHE = Path(os.environ.get("BGCUT_HOST_CACHE", "/var/cache/bgcut"))
os.environ.setdefault("PIP_CACHE_DIR", str(_HOST_CACHE / "pip"))


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test reads or writes the developer's own key, config or cache."""
    monkeypatch.setenv("BGCUT_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("BGCUT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("BGCUT_DATA_DIR", str(tmp_path / "data"))
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


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """A data folder holding the verified u2netp model, fetched once per machine."""
    import os

    from bgcut import model

    data = Path(os.environ.get("BGCUT_HOST_CACHE", "/var/cache/bgcut")) / "data"
    target = data / "models" / model.MODEL_FILE
    if not target.exists():
        model.install_model(dest=target)
    return data


@pytest.fixture
def local_model(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BGCUT_DATA_DIR", str(model_dir))
    return model_dir


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    """Everything logged at DEBUG while the test runs (to check what never is logged)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    old = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old)
