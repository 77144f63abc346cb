"""Development installs (`install.py --dev`): the host folders link this checkout's live code.

The folder at the target is still a real one, bgcut's, carrying its manifest; only the files
inside it are symbolic links into the checkout (the GIMP plug-in's files and lib/bgcut, the
add-on's modules and its bgcut subpackage). So placement's rules hold unchanged: nothing is
written through a link, and uninstall deletes the links, never what they point to. What the
checkout cannot hold (the wheels for the host's Python, Blender's generated manifest) is
copied as in a normal install.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from . import build, placement

_SKIP = {"__pycache__", "emulator"}


def _link(source: Path, link: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.symlink(source, link, target_is_directory=source.is_dir())
    except OSError as exc:  # on Windows, links need Developer Mode or an administrator
        raise OSError(
            f"cannot link {link.name} to the checkout ({exc.strerror}); on Windows turn on "
            "Settings ▸ System ▸ For developers ▸ Developer Mode, or install without --dev"
        ) from None


def _entries(folder: Path, *skip: str) -> list[Path]:
    return [p for p in sorted(folder.iterdir()) if p.name not in _SKIP and p.name not in skip]


def link_gimp_plugin(vendor: list[tuple[str, str]], local_engine: bool = False) -> Callable[[Path], None]:
    """The plug-in folder with its files and lib/bgcut linked to the checkout."""

    def fill(dest: Path) -> None:
        dest.chmod(0o755)
        for entry in _entries(build.PLUGIN_SRC):
            _link(entry, dest / entry.name)
        _link(build.CORE_SRC, dest / "lib" / "bgcut")
        build.vendor_into(dest, vendor, local_engine)
        if local_engine:
            build.install_model_into(dest / "lib" / "models")

    return fill


def link_blender_extension(zip_path: Path) -> Callable[[Path], None]:
    """The built extension (its manifest listing the wheels, and the wheels), with the add-on's
    modules and its bgcut subpackage replaced by links to the checkout."""

    extract = placement.extract_into(zip_path)

    def fill(dest: Path) -> None:
        extract(dest)
        shutil.rmtree(dest / "bgcut", ignore_errors=True)
        for module in dest.glob("*.py"):
            module.unlink()
        for entry in _entries(build.BLENDER_SRC, "blender_manifest.toml"):
            _link(entry, dest / entry.name)
        _link(build.CORE_SRC, dest / "bgcut")

    return fill
