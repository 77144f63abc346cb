#!/usr/bin/env python3
"""Put bgcut into GIMP 3 (and, later, Blender): `python install.py --gimp --gimp-dir DIR`.

The GIMP plug-in folder is assembled to be self-sufficient, because GIMP's Python is not
the user's: the plug-in files, the bgcut core in `lib/`, and (with --vendor) the
third-party packages GIMP's Python lacks, as wheels built for its Python and platform.
It is built in a temporary folder beside the target and renamed into place, so a failure
half-way leaves the previous install working.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PLUGIN_NAME = "bgcut-remove-background"
PLUGIN_SRC = HERE / "plugin" / "gimp" / PLUGIN_NAME
CORE_SRC = HERE / "plugin" / "bgcut"
RUNTIME_DEPS = ("numpy", "pillow", "requests")
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "emulator")


def build_gimp_plugin(target_parent: Path, vendor: tuple[str, str] | None = None) -> Path:
    """Assemble <target_parent>/bgcut-remove-background; vendor = (python version, platform)."""
    target_parent.mkdir(parents=True, exist_ok=True)
    final = target_parent / PLUGIN_NAME
    staging = Path(tempfile.mkdtemp(prefix=f".{PLUGIN_NAME}-", dir=target_parent))
    try:
        shutil.copytree(PLUGIN_SRC, staging, dirs_exist_ok=True, ignore=_IGNORE)
        os.chmod(staging / f"{PLUGIN_NAME}.py", 0o755)
        os.chmod(staging, 0o755)
        shutil.copytree(CORE_SRC, staging / "lib" / "bgcut", ignore=_IGNORE)
        if vendor is not None:
            vendor_wheels(staging / "lib", *vendor)
        _swap_into_place(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def vendor_wheels(lib: Path, python_version: str, platform: str) -> None:
    """Unpack binary wheels of the runtime dependencies for GIMP's Python into lib/."""
    with tempfile.TemporaryDirectory() as wheels:
        platforms = [platform]
        if platform.startswith("manylinux"):
            arch = platform.rsplit("_", 1)[-1] if platform.endswith("64") else "x86_64"
            arch = "x86_64" if "x86_64" in platform else arch
            platforms = [f"manylinux_2_28_{arch}", f"manylinux2014_{arch}", f"manylinux_2_17_{arch}"]
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--disable-pip-version-check",
            "--only-binary=:all:",
            "--python-version",
            python_version,
            "--implementation",
            "cp",
            "-d",
            wheels,
        ]
        for plat in platforms:
            cmd += ["--platform", plat]
        subprocess.run(cmd + list(RUNTIME_DEPS), check=True)
        import zipfile

        for wheel in sorted(Path(wheels).glob("*.whl")):
            with zipfile.ZipFile(wheel) as zf:
                zf.extractall(lib)


def _swap_into_place(staging: Path, final: Path) -> None:
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}-old")
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
    staging.rename(final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Install bgcut into GIMP 3.")
    p.add_argument("--gimp", action="store_true", help="install into GIMP")
    p.add_argument("--gimp-dir", type=Path, help="GIMP plug-ins folder to install into")
    p.add_argument(
        "--vendor",
        metavar="PYVER:PLATFORM",
        help="bundle numpy/Pillow/requests built for GIMP's Python, e.g. 3.13:manylinux_x86_64",
    )
    args = p.parse_args(argv)
    if not (args.gimp and args.gimp_dir):
        print(
            "install.py: host discovery is not built yet (issue 5); give --gimp --gimp-dir DIR.",
            file=sys.stderr,
        )
        return 2
    vendor = tuple(args.vendor.split(":", 1)) if args.vendor else None
    final = build_gimp_plugin(args.gimp_dir, vendor)  # type: ignore[arg-type]
    print(f"GIMP: installed {final}")
    print("Restart GIMP; the command is Layer ▸ Transparency ▸ Remove Background…")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
