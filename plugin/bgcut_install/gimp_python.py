"""Which Python GIMP 3 runs its plug-ins with, read from the GIMP install itself.

GIMP on Windows and macOS bundles its own Python, Flatpak and Snap GIMP run the one in their
sandbox, and a distribution's GIMP names its interpreter in an .interp file. The packages
bgcut vendors must be built for that Python, not for the one running install.py. Everything
here is a pure function of folders, an environment and a platform name (plus, for a Linux
interpreter that carries no version in its name, one run of it on the real system), so it can
be tested on fake trees.
"""

from __future__ import annotations

import re
import struct
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

#: Every CPython a GIMP 3.x has shipped or runs with on a current system; when GIMP's own is
#: not found, bgcut vendors for all of them and the entry file picks lib/vendor/cp<its own>.
ALL_PYTHONS = ("3.10", "3.11", "3.12", "3.13", "3.14")
_LIB = re.compile(r"^python3\.(\d+)$")
_FRAMEWORK = re.compile(r"^3\.(\d+)$")
_EXE = re.compile(r"^python3\.?(\d+)\.(exe|dll)$", re.I)
_PE_MACHINES = {0x8664: "win_amd64", 0xAA64: "win_arm64", 0x14C: "win32"}
_MACHO_CPUS = {0x01000007: "macosx_10_13_x86_64", 0x0100000C: "macosx_11_0_arm64"}
FLATPAK_ID = "org.gimp.GIMP"


@dataclass(frozen=True)
class GimpPython:
    """One GIMP install's Python: its version, the wheel platform tag and how it was found."""

    version: str  # "3.12"
    platform: str  # a wheel platform tag, e.g. win_amd64
    flavour: str  # windows | macos | flatpak | snap | native
    source: Path  # the file or folder that told us


def machine_platform(platform: str, machine: str) -> str:
    """The wheel platform tag of this computer, for an install that does not tell."""
    arm = machine.lower() in ("arm64", "aarch64")
    if platform == "win32":
        return "win_arm64" if arm else "win_amd64"
    if platform == "darwin":
        return "macosx_11_0_arm64" if arm else "macosx_10_13_x86_64"
    return "manylinux_2_28_aarch64" if arm else "manylinux_2_28_x86_64"


def find(
    home: Path, env: Mapping[str, str], platform: str, machine: str, root: Path = Path("/")
) -> list[GimpPython]:
    """The Python of every GIMP 3 installed in the usual places (root prefixes the system
    folders, for tests), one per install, in the order found."""
    if platform == "win32":
        return _found(windows(app, machine) for app in windows_apps(env, root))
    if platform == "darwin":
        apps = [d / "Applications" for d in (root, home)]
        return _found(macos(app, machine) for folder in apps for app in sorted(folder.glob("GIMP*.app")))
    linux = manylinux(machine)
    found = [native(root, linux, fallback=bool(gimp_libdirs(root)))]  # no GIMP, no guess
    installations = [root / "var/lib/flatpak", home / ".local/share/flatpak"]
    found += [flatpak(inst, installations, linux) for inst in installations]
    found.append(snap(root / "snap/gimp/current", linux))
    return _found(found)


def probe(folder: Path, platform: str, machine: str) -> GimpPython | None:
    """The Python of the GIMP install in one folder a user named: a Windows GIMP folder, a
    GIMP.app, a Flatpak app folder, a Snap folder or a system root holding a native GIMP."""
    linux = manylinux(machine)
    tries = (  # a system root before a Snap: both hold usr/lib/python3.X, only GIMP's root .interp
        lambda: windows(folder, machine),
        lambda: macos(folder, machine),
        lambda: _flatpak_app(folder, [folder.parents[3]] if len(folder.parents) > 3 else [], linux),
        lambda: native(folder, linux, fallback=bool(gimp_libdirs(folder))),
        lambda: snap(folder, linux),
    )
    for attempt in tries:
        found = attempt()
        if found is not None:
            return found
    return None


def _found(candidates) -> list[GimpPython]:  # type: ignore[no-untyped-def]
    return [c for c in candidates if c is not None]


def manylinux(machine: str) -> str:
    return machine_platform("linux", machine)


# -- Windows -----------------------------------------------------------------------------


def windows_apps(env: Mapping[str, str], root: Path = Path("/")) -> list[Path]:
    """GIMP folders under Program Files (the GIMP 3 installer's default is
    C:\\Program Files\\GIMP 3) and %LOCALAPPDATA%\\Programs (a per-user install)."""
    parents = [Path(env[v]) for v in ("ProgramW6432", "ProgramFiles", "ProgramFiles(x86)") if env.get(v)]
    parents = parents or [root / "Program Files"]
    if env.get("LOCALAPPDATA"):
        parents.append(Path(env["LOCALAPPDATA"]) / "Programs")
    seen: list[Path] = []
    for parent in parents:
        for app in sorted(parent.glob("GIMP*")) if parent.is_dir() else []:
            if app.is_dir() and app not in seen:
                seen.append(app)
    return seen


def windows(app: Path, machine: str) -> GimpPython | None:
    """<GIMP>/bin/python3.X.exe or python3X.dll, else <GIMP>/lib/python3.X beside Windows
    binaries in <GIMP>/bin (a Linux root's lib/python3.X is no Windows GIMP's)."""
    hits = sorted(
        ((int(m.group(1)), p) for p in _children(app / "bin") if (m := _EXE.match(p.name))),
        key=lambda hit: hit[0],
    )
    if hits:
        minor, source = hits[-1]
    else:
        lib = _lib_python(app / "lib")
        if lib is None or not any(p.suffix.lower() in (".exe", ".dll") for p in _children(app / "bin")):
            return None
        minor, source = lib
    binaries = [source] if source.suffix.lower() in (".exe", ".dll") else []
    binaries += sorted((app / "bin").glob("gimp*.exe")) + sorted((app / "bin").glob("python*.exe"))
    tag = next((t for t in map(_pe_platform, binaries) if t), None)
    return GimpPython(f"3.{minor}", tag or machine_platform("win32", machine), "windows", source)


def _pe_platform(path: Path) -> str | None:
    """The wheel tag of a Windows executable or DLL, from its PE header's machine field."""
    try:
        with path.open("rb") as f:
            head = f.read(4096)
    except OSError:
        return None
    if len(head) < 64 or head[:2] != b"MZ":
        return None
    offset = struct.unpack_from("<I", head, 0x3C)[0]
    if offset + 6 > len(head) or head[offset : offset + 4] != b"PE\0\0":
        return None
    return _PE_MACHINES.get(struct.unpack_from("<H", head, offset + 4)[0])


# -- macOS -------------------------------------------------------------------------------


def macos(app: Path, machine: str) -> GimpPython | None:
    """Inside GIMP.app: Contents/Frameworks/Python.framework/Versions/3.X or
    Contents/Resources/lib/python3.X."""
    contents = app / "Contents"
    versions = contents / "Frameworks" / "Python.framework" / "Versions"
    minors = sorted((int(m.group(1)), p) for p in _children(versions) if (m := _FRAMEWORK.match(p.name)))
    hit = minors[-1] if minors else _lib_python(contents / "Resources" / "lib")
    if hit is None:
        return None
    minor, source = hit
    tags = {_macho_platform(p) for p in _children(contents / "MacOS")} - {None}
    tag = tags.pop() if len(tags) == 1 else machine_platform("darwin", machine)
    return GimpPython(f"3.{minor}", tag, "macos", source)  # type: ignore[arg-type]


def _macho_platform(path: Path) -> str | None:
    """arm64 or x86_64 from a thin Mach-O executable; None for a universal one (both run)."""
    try:
        with path.open("rb") as f:
            head = f.read(8)
    except OSError:
        return None
    if len(head) < 8 or head[:4] != b"\xcf\xfa\xed\xfe":  # 64-bit little-endian Mach-O
        return None
    return _MACHO_CPUS.get(struct.unpack_from("<I", head, 4)[0])


# -- Linux: Flatpak, Snap, the distribution's GIMP ---------------------------------------


def flatpak(installation: Path, installations: list[Path], linux: str) -> GimpPython | None:
    """GIMP in one Flatpak installation (/var/lib/flatpak or ~/.local/share/flatpak); its
    runtime may sit in any of the installations."""
    app = installation / "app" / FLATPAK_ID / "current" / "active"
    return _flatpak_app(app, [installation, *installations], linux)


def _flatpak_app(app: Path, installations: list[Path], linux: str) -> GimpPython | None:
    """GIMP's own files/lib/python3.X, else the runtime its metadata names."""
    hit = _lib_python(app / "files" / "lib")
    arch = linux
    if hit is None:
        runtime = _metadata_runtime(app / "metadata")
        if runtime is None:
            return None
        for inst in installations:
            hit = _lib_python(inst / "runtime" / runtime / "active" / "files" / "lib")
            if hit is not None:
                break
        if hit is None:
            return None
        if "/aarch64/" in f"/{runtime}/":
            arch = "manylinux_2_28_aarch64"
    minor, source = hit
    return GimpPython(f"3.{minor}", arch, "flatpak", source)


def _metadata_runtime(metadata: Path) -> str | None:
    """'org.gnome.Platform/x86_64/48' from a Flatpak app's metadata file."""
    try:
        text = metadata.read_text(encoding="utf-8")
    except OSError:
        return None
    m = re.search(r"^runtime=(\S+)$", text, re.M)
    return m.group(1) if m else None


def snap(folder: Path, linux: str) -> GimpPython | None:
    """/snap/gimp/current/usr/lib/python3.X."""
    hit = _lib_python(folder / "usr" / "lib")
    if hit is None:
        return None
    return GimpPython(f"3.{hit[0]}", linux, "snap", hit[1])


def native(root: Path, linux: str, fallback: bool = True) -> GimpPython | None:
    """The python3 GIMP's .interp file names (python3=/usr/bin/python3), else, with fallback,
    /usr/bin/python3: with no .interp entry (Debian ships none) GIMP runs a plug-in by its
    `#!/usr/bin/env python3` line."""
    for interp in interp_files(root):
        named = _interp_python(interp)
        version = named and interpreter_version(root, named)
        if version:
            return GimpPython(version, linux, "native", interp)
    if fallback:
        version = interpreter_version(root, "/usr/bin/python3")
        if version:
            return GimpPython(version, linux, "native", root / "usr/bin/python3")
    return None


def gimp_libdirs(root: Path) -> list[Path]:
    """A native GIMP 3's library folders in a system root (Debian's is multiarch)."""
    found: list[Path] = []
    for pattern in ("usr/lib/gimp/3.0", "usr/lib/*/gimp/3.0", "usr/local/lib/gimp/3.0", "usr/lib64/gimp/3.0"):
        found += [d for d in sorted(root.glob(pattern)) if d.is_dir()]
    return found


def interp_files(root: Path) -> list[Path]:
    return [f for folder in gimp_libdirs(root) for f in sorted((folder / "interpreters").glob("*.interp"))]


def _interp_python(interp: Path) -> str | None:
    """The interpreter GIMP runs .py plug-ins with, from lines like python3=/usr/bin/python3."""
    try:
        lines = interp.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    pairs = dict(line.split("=", 1) for line in lines if "=" in line and line[:1] not in (":", "#"))
    for key in ("python3", "python", "/usr/bin/python3", "/usr/bin/python"):
        if pairs.get(key, "").strip().startswith("/"):
            return pairs[key].strip()
    return None


def interpreter_version(root: Path, interpreter: str) -> str | None:
    """'3.13' for an interpreter path inside root: from the name its links lead to
    (python3 -> python3.13), else its prefix's lib/python3.X, else (on the real root only)
    by running it."""
    path = _rooted(root, interpreter)
    for _ in range(16):
        m = re.match(r"^python3\.(\d+)$", path.name)
        if m:
            return f"3.{m.group(1)}"
        if not path.is_symlink():
            break
        link = Path(path.readlink())
        path = _rooted(root, str(link)) if link.is_absolute() else path.parent / link
    if not path.exists():
        return None
    lib = _lib_python(path.parent.parent / "lib")
    if lib is not None:
        return f"3.{lib[0]}"
    return _run_version(path) if root == Path("/") else None


def _run_version(python: Path) -> str | None:
    try:
        out = subprocess.run(
            [str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    version = out.stdout.strip()
    return version if out.returncode == 0 and re.match(r"^3\.\d+$", version) else None


def _rooted(root: Path, absolute: str) -> Path:
    return root / absolute.lstrip("/")


def _children(folder: Path) -> list[Path]:
    return sorted(folder.iterdir()) if folder.is_dir() else []


def _lib_python(lib: Path) -> tuple[int, Path] | None:
    """The newest lib/python3.X; one holding the standard library (os.py) wins over a
    leftover folder of an uninstalled Python."""
    hits = [(int(m.group(1)), p) for p in _children(lib) if (m := _LIB.match(p.name)) and p.is_dir()]
    real = [h for h in hits if (h[1] / "os.py").exists()]
    pick = sorted(real or hits, key=lambda hit: hit[0])
    return pick[-1] if pick else None
