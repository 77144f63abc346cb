"""Drive real Blender (PyPI's bpy wheel in its own venv) from pytest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HOSTS = Path(__file__).resolve().parent
REPO = HOSTS.parent.parent
BPY_VERSION = os.environ.get("BGCUT_BPY_VERSION", "5.0.1")


def bpy_python() -> Path:
    """A venv with bpy, cached outside the repo; created on first use."""
    cache = Path(os.environ.get("BGCUT_HOST_CACHE", "/var/cache/bgcut"))
    venv = cache / f"bpy-{BPY_VERSION}-venv"
    py = venv / "bin" / "python"
    stamp = venv / ".bgcut-stamp"
    if not stamp.exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, timeout=300)
        subprocess.run(
            [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", f"bpy=={BPY_VERSION}"],
            check=True,
            timeout=1200,
        )
        stamp.write_text(BPY_VERSION)
    return py


def build_extension(out_dir: Path, *extra: str) -> Path:
    out = subprocess.run(
        [
            sys.executable,
            str(REPO / "install.py"),
            "--build-blender",
            str(out_dir),
            "--blender-platforms",
            "current",
            *extra,
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return Path(out.stdout.strip().split("built ", 1)[1])


def run_job(
    py: Path, work: Path, job: dict, env: dict[str, str], timeout: float = 300, resources: Path | None = None
) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    (work / "job.json").write_text(json.dumps(job))
    home = work / "home"
    full_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "BLENDER_USER_RESOURCES": str(resources or home / "blender"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "TMPDIR": str(home / "tmp"),
        "BGCUT_CONFIG_DIR": str(home / "bgcut-config"),
        "BGCUT_CACHE_DIR": str(home / "bgcut-cache"),
        **env,
    }
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    out = subprocess.run(
        [str(py), str(HOSTS / "blender_job.py"), str(work)],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    report_file = work / "report.json"
    if not report_file.exists():
        raise AssertionError(
            f"Blender wrote no report (exit {out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
        )
    report = json.loads(report_file.read_text())
    report["log"] = out.stdout[-4000:] + out.stderr[-4000:]
    if "crash" in report:
        raise AssertionError(f"Blender job crashed:\n{report['crash']}\n{report['log']}")
    return report
