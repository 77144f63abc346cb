"""Build what goes into the hosts: the GIMP plug-in folder and the Blender extension zip.

The same builds are used by install.py, the host tests and the Blender build command.
"""

from __future__ import annotations

import platform as _platform
import re
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]
PLUGIN_SRC = REPO / "plugin" / "gimp" / "bgcut-remove-background"
CORE_SRC = REPO / "plugin" / "bgcut"
BLENDER_SRC = REPO / "addon_blender"
RUNTIME_DEPS = ("numpy", "pillow", "requests")
LOCAL_ENGINE_DEPS = ("onnxruntime",)
#: Blender bundles numpy and requests but not Pillow; its wheels ship inside the extension,
#: with ISA-L's deflate (bgcut.deflate): a 12 MP cut-out's PNG deflates 4.6x faster, and
#: Blender's whole write of it takes 0.22 s against 0.35 s with zlib (benchmarks/host_glue.py).
BLENDER_WHEELS = ["pillow==11.3.0", "isal==1.9.1"]
#: Every Python a Blender 4.2+ runs: official builds use 3.11 (4.2 .. 5.0) and 3.13 (5.1+),
#: Linux distributions' builds the system Python (3.12, 3.13, 3.14 today). Blender accepts
#: the extension on the Pythons its wheels cover, so no version is written in the manifest.
BLENDER_PYTHONS = ("3.11", "3.12", "3.13", "3.14")
BLENDER_PLATFORMS = {
    "linux-x64": ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64"],
    "windows-x64": ["win_amd64"],
    "macos-arm64": ["macosx_11_0_arm64"],
    # Blender 4.2+ needs macOS 11; isal's cp314 x64 wheel is tagged 10_15
    "macos-x64": ["macosx_11_0_x86_64", "macosx_10_13_x86_64", "macosx_10_10_x86_64"],
}
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "emulator")


def core_version() -> str:
    text = (CORE_SRC / "version.py").read_text(encoding="utf-8")
    found = re.search(r'__version__ = "([^"]+)"', text)
    if found is None:
        raise SystemExit(f"install.py: no __version__ in {CORE_SRC / 'version.py'}; is the checkout whole?")
    return found.group(1)


def assemble_gimp_plugin(
    dest: Path, vendor: tuple[str, str] | list[tuple[str, str]] | None, local_engine: bool = False
) -> None:
    """Fill an empty folder with the plug-in, the core in lib/ and, optionally, wheels for
    one or more (Python version, platform tag) (plus onnxruntime and the verified model for
    the offline engine)."""
    shutil.copytree(PLUGIN_SRC, dest, dirs_exist_ok=True, ignore=_IGNORE)
    (dest / "bgcut-remove-background.py").chmod(0o755)
    dest.chmod(0o755)
    shutil.copytree(CORE_SRC, dest / "lib" / "bgcut", ignore=_IGNORE)
    vendor_into(dest, [vendor] if isinstance(vendor, tuple) else vendor or [], local_engine)
    if local_engine:
        install_model_into(dest / "lib" / "models")


def vendor_tag(python_version: str) -> str:
    """lib/vendor/<this>: the folder the entry file picks for its own Python (cp313)."""
    return "cp" + python_version.replace(".", "")


def vendor_into(dest: Path, vendor: list[tuple[str, str]], local_engine: bool = False) -> None:
    """The wheels for each (Python version, platform tag) into dest/lib/vendor/cpXY."""
    deps = RUNTIME_DEPS + (LOCAL_ENGINE_DEPS if local_engine else ())
    for python_version, platform_tag in vendor:
        vendor_wheels(
            dest / "lib" / "vendor" / vendor_tag(python_version), python_version, platform_tag, deps
        )


def _core(module: str) -> ModuleType:
    """A stdlib-only module of the bgcut core (bgcut.model, bgcut.wheels)."""
    import importlib

    sys.path.insert(0, str(CORE_SRC.parent))
    try:
        return importlib.import_module(f"bgcut.{module}")
    finally:
        sys.path.pop(0)


def _fetch(
    requirements: list[str], dest: Path, python_version: str, platforms: list[str], *, deps: bool = False
) -> None:
    done = _core("wheels").download(
        requirements, dest, python_version=python_version, platforms=platforms, deps=deps
    )
    if done.returncode != 0:
        raise OSError(
            f"pip could not download {', '.join(requirements)} for Python {python_version} "
            f"({', '.join(platforms)}): {done.stderr.strip()[-300:]}"
        )


def install_model_into(folder: Path) -> Path:
    """The verified u2netp model, placed where bgcut.model.bundled_path() looks."""
    model = _core("model")
    try:
        return model.install_model(dest=folder / model.MODEL_FILE)
    except model.EngineError as exc:  # reported per host like any other failed step
        raise OSError(str(exc)) from None


def pip_platforms(tag: str) -> list[str]:
    """A manylinux tag also accepts the older manylinux tags wheels are published under."""
    m = re.match(r"manylinux_?\w*?_(x86_64|aarch64)$", tag)
    if m:
        arch = m.group(1)
        return [f"manylinux_2_28_{arch}", f"manylinux2014_{arch}", f"manylinux_2_17_{arch}"]
    return [tag]


def vendor_wheels(
    lib: Path, python_version: str, platform_tag: str, deps: tuple[str, ...] = RUNTIME_DEPS
) -> None:
    """Unpack binary wheels of numpy, Pillow and requests for GIMP's Python into lib/."""
    with tempfile.TemporaryDirectory() as wheels:
        _fetch(list(deps), Path(wheels), python_version, pip_platforms(platform_tag), deps=True)
        for wheel in sorted(Path(wheels).glob("*.whl")):
            with zipfile.ZipFile(wheel) as zf:
                zf.extractall(lib)


def current_blender_platform() -> str:
    arm = _platform.machine().lower() in ("arm64", "aarch64")
    if sys.platform == "win32":
        return "windows-x64"
    if sys.platform == "darwin":
        return "macos-arm64" if arm else "macos-x64"
    return "linux-x64"


def build_blender_extension(
    out_dir: Path, platforms: list[str] | None = None, local_engine: bool = False
) -> Path:
    """The installable extension zip: the add-on, the bgcut core and Pillow and isal wheels (with
    local_engine, also onnxruntime and its dependencies, and the verified model)."""
    platforms = platforms or list(BLENDER_PLATFORMS)
    unknown = [p for p in platforms if p not in BLENDER_PLATFORMS]
    if unknown:
        raise SystemExit(f"install.py: unknown Blender platform(s) {unknown}; use {list(BLENDER_PLATFORMS)}")
    version = core_version()
    manifest = (BLENDER_SRC / "blender_manifest.toml").read_text(encoding="utf-8")
    manifest = re.sub(r'^version = "[^"]*"', f'version = "{version}"', manifest, flags=re.M)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wheels_dir = Path(tmp) / "wheels"
        for plat in platforms:
            for py in BLENDER_PYTHONS:
                _fetch(BLENDER_WHEELS, wheels_dir, py, BLENDER_PLATFORMS[plat])
                if local_engine:
                    _fetch(list(LOCAL_ENGINE_DEPS), wheels_dir, py, BLENDER_PLATFORMS[plat], deps=True)
        for bundled in wheels_dir.glob("numpy-*.whl"):  # Blender's own numpy stays in charge
            bundled.unlink()
        wheels = sorted(p.name for p in wheels_dir.glob("*.whl"))
        listed = ", ".join(f'"./wheels/{w}"' for w in wheels)
        manifest = re.sub(r"^wheels = \[\]", f"wheels = [{listed}]", manifest, flags=re.M)
        plats = ", ".join(f'"{p}"' for p in platforms)
        manifest = re.sub(r"^platforms = \[.*\]", f"platforms = [{plats}]", manifest, flags=re.M)
        suffix = "" if len(platforms) == len(BLENDER_PLATFORMS) else "-" + "-".join(platforms)
        suffix += "-local" if local_engine else ""
        model_file = install_model_into(Path(tmp) / "models") if local_engine else None
        target = out_dir / f"bgcut-{version}{suffix}.zip"
        partial = target.with_name(target.name + ".part")
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
            if model_file is not None:
                zf.write(model_file, f"models/{model_file.name}")
        partial.replace(target)
    return target
