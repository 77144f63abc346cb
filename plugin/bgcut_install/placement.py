"""Put a built folder into place atomically, remember it, and take it out again.

Each installed folder carries a stamp file; uninstall removes only folders with our stamp,
and an install is built beside its target and renamed in, so a failure half-way leaves the
previous install working.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

STAMP = ".bgcut-install.json"


def install_folder(target: Path, fill: Callable[[Path], None], record: dict) -> None:
    """Build into a temporary sibling with `fill`, then swap it in for `target`."""
    created = [str(p) for p in _missing_ancestors(target.parent)]
    previous = installed(target)
    if previous is not None:
        created = previous.get("created_dirs", created)
    record = {**record, "created_dirs": created}
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-new-", dir=target.parent))
    try:
        fill(staging)
        (staging / STAMP).write_text(json.dumps({**record, "installed": time.time()}, indent=1))
        _swap(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _missing_ancestors(folder: Path) -> list[Path]:
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    return missing


def extract_into(zip_path: Path) -> Callable[[Path], None]:
    def fill(dest: Path) -> None:
        with zipfile.ZipFile(zip_path) as zf:
            zf.extractall(dest)

    return fill


def _swap(staging: Path, target: Path) -> None:
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}-old")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    try:
        staging.rename(target)
    except BaseException:
        if old is not None:
            old.rename(target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def installed(target: Path) -> dict | None:
    try:
        return json.loads((target / STAMP).read_text())
    except (OSError, ValueError):
        return None


def uninstall(target: Path) -> bool:
    """Remove the folder only when bgcut put it there; True when something was removed."""
    record = installed(target)
    if record is None:
        return False
    shutil.rmtree(target)
    for folder in map(Path, record.get("created_dirs", [])):
        try:
            folder.rmdir()  # only the folders the install created, and only when empty
        except OSError:
            break
    return True
