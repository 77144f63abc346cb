"""Where GIMP 3 and Blender 4.2+ keep their user folders, as a pure function of a home
directory, an environment and a platform name, so it can be tested on fake home trees."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

GIMP_PLUGIN = "bgcut-remove-background"
BLENDER_EXTENSION = "bgcut"
_VERSION = re.compile(r"^(\d+)\.(\d+)$")


@dataclass(frozen=True)
class Host:
    """One installed host's user folder and where bgcut goes inside it."""

    kind: str  # "gimp" | "blender"
    version: str
    flavour: str  # native | flatpak | snap | windows | macos | explicit
    config_dir: Path
    target: Path  # the folder bgcut's files are copied into

    @property
    def label(self) -> str:
        name = "GIMP" if self.kind == "gimp" else "Blender"
        return f"{name} {self.version} ({self.flavour})"


def _versions(parent: Path, minimum: tuple[int, int], maximum_major: int) -> list[tuple[str, Path]]:
    found = []
    if parent.is_dir():
        for child in parent.iterdir():
            m = _VERSION.match(child.name)
            if m and child.is_dir():
                v = (int(m.group(1)), int(m.group(2)))
                if v >= minimum and v[0] <= maximum_major:
                    found.append((v, child.name, child))
    return [(name, path) for _, name, path in sorted(found)]


@dataclass(frozen=True)
class AppFolders:
    """Where one application keeps its per-version user folders, per platform."""

    windows: str  # under %APPDATA%
    macos: str  # under ~/Library/Application Support
    linux: str  # under $XDG_CONFIG_HOME (also inside the Flatpak and Snap sandboxes)
    flatpak_id: str
    snap_name: str


GIMP = AppFolders("GIMP", "GIMP", "GIMP", "org.gimp.GIMP", "gimp")
BLENDER = AppFolders("Blender Foundation/Blender", "Blender", "blender", "org.blender.Blender", "blender")


def app_roots(app: AppFolders, home: Path, env: Mapping[str, str], platform: str) -> list[tuple[str, Path]]:
    """(flavour, folder holding <version>/ folders) for each place the app may live."""
    if platform == "win32":
        appdata = Path(env["APPDATA"]) if env.get("APPDATA") else home / "AppData" / "Roaming"
        return [("windows", appdata / app.windows)]
    if platform == "darwin":
        return [("macos", home / "Library" / "Application Support" / app.macos)]
    xdg = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else home / ".config"
    return [
        ("native", xdg / app.linux),
        ("flatpak", home / ".var" / "app" / app.flatpak_id / "config" / app.linux),
        ("snap", home / "snap" / app.snap_name / "current" / ".config" / app.linux),
    ]


def gimp_host(version: str, flavour: str, profile: Path) -> Host:
    return Host("gimp", version, flavour, profile, profile / "plug-ins" / GIMP_PLUGIN)


def blender_host(version: str, flavour: str, resources: Path) -> Host:
    target = resources / "extensions" / "user_default" / BLENDER_EXTENSION
    return Host("blender", version, flavour, resources, target)


def discover(home: Path, env: Mapping[str, str], platform: str) -> list[Host]:
    """Every GIMP 3.x profile and Blender 4.2+ user folder that exists, oldest first."""
    hosts: list[Host] = []
    if env.get("GIMP3_DIRECTORY"):
        profile = Path(env["GIMP3_DIRECTORY"])
        hosts.append(gimp_host("3.x", "explicit", profile))
    else:
        for flavour, root in app_roots(GIMP, home, env, platform):
            for version, path in _versions(root, (3, 0), 3):
                hosts.append(gimp_host(version, flavour, path))
    if env.get("BLENDER_USER_RESOURCES"):
        hosts.append(blender_host("4.2+", "explicit", Path(env["BLENDER_USER_RESOURCES"])))
    else:
        for flavour, root in app_roots(BLENDER, home, env, platform):
            for version, path in _versions(root, (4, 2), 99):
                hosts.append(blender_host(version, flavour, path))
    return hosts
