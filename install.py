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
BLENDER_SRC = HERE / "addon_blender"
#: Blender bundles numpy and requests but not Pillow; its wheels ship inside the extension.
BLENDER_PILLOW = "pillow==11.3.0"
BLENDER_PYTHONS = ("3.11", "3.13")  # Blender 4.2 .. 5.0, and 5.1+
BLENDER_PLATFORMS = {
    "linux-x64": ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64"],
    "windows-x64": ["win_amd64"],
    "macos-arm64": ["macosx_11_0_arm64"],
    "macos-x64": ["macosx_10_13_x86_64", "macosx_10_10_x86_64"],
}
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


def current_blender_platform() -> str:
    import platform

    machine = platform.machine().lower()
    arm = machine in ("arm64", "aarch64")
    if sys.platform == "win32":
        return "windows-x64"
    if sys.platform == "darwin":
        return "macos-arm64" if arm else "macos-x64"
    return "linux-x64"


def build_blender_extension(out_dir: Path, platforms: list[str] | None = None) -> Path:
    """The installable extension zip: the add-on, the bgcut core and Pillow wheels."""
    import re
    import zipfile

    platforms = platforms or list(BLENDER_PLATFORMS)
    unknown = [p for p in platforms if p not in BLENDER_PLATFORMS]
    if unknown:
        raise SystemExit(f"install.py: unknown Blender platform(s) {unknown}; use {list(BLENDER_PLATFORMS)}")
    manifest = (BLENDER_SRC / "blender_manifest.toml").read_text(encoding="utf-8")
    version = re.search(r'^version = "([^"]+)"', manifest, re.M).group(1)  # type: ignore[union-attr]
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wheels_dir = Path(tmp) / "wheels"
        for plat in platforms:
            for py in BLENDER_PYTHONS:
                cmd = [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "-q",
                    "--disable-pip-version-check",
                    "--only-binary=:all:",
                    "--no-deps",
                    "--python-version",
                    py,
                    "--implementation",
                    "cp",
                    "-d",
                    str(wheels_dir),
                ]
                for tag in BLENDER_PLATFORMS[plat]:
                    cmd += ["--platform", tag]
                subprocess.run(cmd + [BLENDER_PILLOW], check=True)
        wheels = sorted(p.name for p in wheels_dir.glob("*.whl"))
        listed = ", ".join(f'"./wheels/{w}"' for w in wheels)
        manifest = re.sub(r"^wheels = \[\]", f"wheels = [{listed}]", manifest, flags=re.M)
        manifest = re.sub(
            r"^platforms = \[.*\]",
            "platforms = [" + ", ".join(f'"{p}"' for p in platforms) + "]",
            manifest,
            flags=re.M,
        )
        suffix = "" if len(platforms) == len(BLENDER_PLATFORMS) else "-" + "-".join(platforms)
        target = out_dir / f"bgcut-{version}{suffix}.zip"
        partial = target.with_suffix(".zip.part")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("blender_manifest.toml", manifest)
            for path in sorted(BLENDER_SRC.rglob("*.py")):
                if "__pycache__" not in path.parts:
                    zf.write(path, path.relative_to(BLENDER_SRC).as_posix())
            for path in sorted(CORE_SRC.rglob("*.py")):
                rel = path.relative_to(CORE_SRC)
                if "__pycache__" not in rel.parts and rel.parts[0] != "emulator":
                    zf.write(path, ("bgcut" / rel).as_posix())
            for wheel in wheels:
                zf.write(wheels_dir / wheel, f"wheels/{wheel}")
        partial.replace(target)
    return target


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
    p.add_argument(
        "--build-blender", type=Path, metavar="OUT_DIR", help="build the Blender extension zip into OUT_DIR"
    )
    p.add_argument(
        "--blender-platforms",
        default="all",
        help="comma-separated: linux-x64,windows-x64,macos-arm64,macos-x64, 'current' or 'all'",
    )
    args = p.parse_args(argv)
    if args.build_blender:
        plats = (
            None
            if args.blender_platforms == "all"
            else (
                [current_blender_platform()]
                if args.blender_platforms == "current"
                else args.blender_platforms.split(",")
            )
        )
        print(f"Blender: built {build_blender_extension(args.build_blender, plats)}")
        return 0
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
