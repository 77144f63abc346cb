"""`python install.py`: find GIMP 3 and Blender 4.2+, install, list or uninstall bgcut."""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import zipfile
from pathlib import Path

from . import build, dev, discovery, gimp_python, placement
from .discovery import Host
from .gimp_python import GimpPython

NEXT_STEPS = {
    "gimp": "restart GIMP; the command is Layer ▸ Transparency ▸ Remove Background…",
    "blender": "restart Blender, then enable it once: Edit ▸ Preferences ▸ Add-ons ▸ "
    "'bgcut: Remove Background' (tick the box); the commands are Image ▸ Remove Background "
    "and, in the compositor, Node ▸ Remove Background",
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.build_blender:
        plats = _platforms(args.blender_platforms)
        print(f"Blender: built {build.build_blender_extension(args.build_blender, plats, args.local_engine)}")
        return 0
    if args.gimp_app is not None and not args.gimp_app.expanduser().exists():
        print(f"install.py: --gimp-app {args.gimp_app} does not exist; name the folder GIMP is installed in.")
        return 2
    hosts = chosen_hosts(args)
    if args.list:
        return list_hosts(hosts)
    if not hosts:
        print(
            "install.py: found no GIMP 3 profile and no Blender 4.2+ user folder. Start the host "
            "once so it creates its folder, or point at it with --gimp-dir / --blender-dir."
        )
        return 1
    ok = True
    once = _Once()
    for host in hosts:
        try:
            if args.uninstall:
                _uninstall(host, args.dry_run)
            else:
                _install(host, args, once)
        except placement.Refused as exc:
            ok = False
            print(f"{host.label}: {'nothing removed' if args.uninstall else 'not installed'}: {exc}")
        except (OSError, zipfile.BadZipFile) as exc:
            ok = False
            print(f"{host.label}: FAILED ({exc}); the previous install, if any, is untouched.")
    return 0 if ok else 1


class _Once:
    """What one run looks up at most once for all its hosts: the GIMP Pythons in the usual
    places (the same for every GIMP profile) and the extension zip it built."""

    def __init__(self) -> None:
        self.zip: Path | None = None
        self._pythons: list[GimpPython] | None = None

    def gimp_pythons(self) -> list[GimpPython]:
        if self._pythons is None:
            self._pythons = gimp_python.find(Path.home(), os.environ, sys.platform, platform.machine())
        return self._pythons


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="install.py", description="Install bgcut into GIMP 3 and Blender 4.2+.")
    p.add_argument("--gimp", action="store_true", help="only GIMP")
    p.add_argument("--blender", action="store_true", help="only Blender")
    p.add_argument("--gimp-dir", type=Path, help="a GIMP plug-ins folder to install into")
    p.add_argument("--blender-dir", type=Path, help="a Blender user folder (e.g. ~/.config/blender/4.2)")
    p.add_argument("--dry-run", action="store_true", help="print what would be done")
    p.add_argument("--uninstall", action="store_true", help="remove what install.py installed")
    p.add_argument("--list", action="store_true", help="list the hosts found and what is installed")
    p.add_argument(
        "--no-vendor", action="store_true", help="do not bundle numpy/Pillow/requests for GIMP's Python"
    )
    p.add_argument(
        "--gimp-python",
        help="GIMP's Python version for the bundled packages, e.g. 3.13 (default: the one found "
        "in the GIMP install; when none is found, every Python GIMP 3 ships)",
    )
    p.add_argument(
        "--gimp-platform",
        help="wheel platform tag for GIMP's Python (default: the GIMP install's, else this machine's)",
    )
    p.add_argument(
        "--gimp-app",
        type=Path,
        help="where GIMP itself is installed, to find its Python (a Windows GIMP folder, a "
        "GIMP.app, a Flatpak or Snap folder, or a system root)",
    )
    p.add_argument(
        "--dev",
        action="store_true",
        help="development install: link this checkout's code into the hosts instead of copying it",
    )
    p.add_argument(
        "--local-engine",
        action="store_true",
        help="also install the offline engine (onnxruntime + the u2netp model) into the hosts",
    )
    p.add_argument("--blender-zip", type=Path, help="install this built extension zip")
    p.add_argument("--build-blender", type=Path, metavar="OUT_DIR", help="only build the extension zip")
    p.add_argument(
        "--blender-platforms",
        default="all",
        help="for --build-blender: all, current, or e.g. linux-x64,windows-x64",
    )
    return p


def _platforms(text: str) -> list[str] | None:
    if text == "all":
        return None
    if text == "current":
        return [build.current_blender_platform()]
    return [t.strip() for t in text.split(",") if t.strip()]


def chosen_hosts(args: argparse.Namespace) -> list[Host]:
    want_gimp = args.gimp or args.gimp_dir or not (args.blender or args.blender_dir)
    want_blender = args.blender or args.blender_dir or not (args.gimp or args.gimp_dir)
    hosts: list[Host] = []
    found = discovery.discover(Path.home(), os.environ, sys.platform)
    if want_gimp:
        if args.gimp_dir:
            folder = args.gimp_dir.expanduser()
            hosts.append(Host("gimp", "3.x", "explicit", folder, folder / discovery.GIMP_PLUGIN))
        else:
            hosts += [h for h in found if h.kind == "gimp"]
    if want_blender:
        if args.blender_dir:
            hosts.append(discovery.blender_host("4.2+", "explicit", args.blender_dir.expanduser()))
        else:
            hosts += [h for h in found if h.kind == "blender"]
    return hosts


def list_hosts(hosts: list[Host]) -> int:
    if not hosts:
        print("No GIMP 3 profile and no Blender 4.2+ user folder found.")
    for host in hosts:
        print(f"{host.label}: {host.config_dir} — {_state(host.target)}")
    return 0


def _state(target: Path) -> str:
    """One phrase for --list: what bgcut finds at its target."""
    record = placement.installed(target)
    if record is not None and record.get("uninstalled"):
        return "bgcut not installed (uninstalled; your own files are kept there)"
    if record is not None:
        linked = f" (development links to {record['dev']})" if record.get("dev") else ""
        return f"bgcut {record.get('version')} installed{linked}"
    what = placement.foreign(target)
    return "bgcut not installed" if what is None else f"bgcut not installed; left alone: {what}"


def _gimp_vendor(host: Host, args: argparse.Namespace, once: _Once) -> tuple[list[tuple[str, str]], str]:
    """The (Python version, wheel platform) pairs to vendor for this GIMP, and why."""
    if args.no_vendor:
        return [], "--no-vendor"
    if args.gimp_app:
        one = gimp_python.probe(args.gimp_app.expanduser(), sys.platform, platform.machine())
        found = [] if one is None else [one]
    else:
        found = once.gimp_pythons()
        if host.flavour != "explicit":  # a Flatpak profile is run by the Flatpak's Python, ...
            found = [f for f in found if f.flavour == host.flavour]
    machine = gimp_python.machine_platform(sys.platform, platform.machine())
    if args.gimp_python:
        plat = args.gimp_platform or (found[0].platform if found else machine)
        return [(args.gimp_python, plat)], "as asked with --gimp-python"
    if found:
        return _unique([(f.version, args.gimp_platform or f.platform) for f in found]), _found(found)
    plat = args.gimp_platform or machine
    where = f"in {args.gimp_app}" if args.gimp_app else "in the usual places"
    return [(v, plat) for v in gimp_python.ALL_PYTHONS], (
        f"GIMP's own Python was not found {where}, so for every Python GIMP 3 ships; "
        "name it with --gimp-python (or --gimp-app) to bundle only that one"
    )


def _unique(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """One platform per Python version: lib/vendor/cpXY holds one set of packages."""
    seen: dict[str, str] = {}
    for version, plat in pairs:
        seen.setdefault(version, plat)
    return list(seen.items())


def _found(found: list[GimpPython]) -> str:
    def one(f: GimpPython) -> str:
        guessed = f.flavour == "native" and f.source.suffix != ".interp"
        why = " (no GIMP .interp file names another; Linux GIMP runs its plug-ins with it)" if guessed else ""
        return f"GIMP's Python {f.version} found at {f.source}{why}"

    return "; ".join(map(one, found))


def _vendor_phrase(vendor: list[tuple[str, str]]) -> str:
    if not vendor:
        return ""
    plats = {p for _, p in vendor}
    if len(plats) == 1:
        pythons = f"{', '.join(v for v, _ in vendor)} ({plats.pop()})"
    else:
        pythons = ", ".join(f"{v} ({p})" for v, p in vendor)
    return f" + numpy/Pillow/requests for Python {pythons}"


def _install(host: Host, args: argparse.Namespace, once: _Once) -> None:
    record: dict = {"version": build.core_version(), "host": host.kind}
    if args.dev:
        record["dev"] = str(build.REPO)
    placement.check_replaceable(host.target)  # before any download or build, which take minutes
    if host.kind == "gimp":
        _install_gimp(host, args, record, once)
    else:
        _install_blender(host, args, record, once)


def _linked(args: argparse.Namespace) -> str:
    return " as links to this checkout" if args.dev else ""


def _install_gimp(host: Host, args: argparse.Namespace, record: dict, once: _Once) -> None:
    vendor, why = _gimp_vendor(host, args, once)
    what = f"the plug-in{_linked(args)}{_vendor_phrase(vendor)}"
    if args.dry_run:
        print(f"{host.label}: would install {what} into {host.target}{_keeping(host.target)}")
        print(f"  Python: {why}")
        return
    if args.dev:
        fill = dev.link_gimp_plugin(vendor, args.local_engine)
    else:
        fill = lambda d: build.assemble_gimp_plugin(d, vendor, args.local_engine)  # noqa: E731
    record["vendor"] = [{"python": v, "platform": p} for v, p in vendor] or None
    record["local_engine"] = args.local_engine
    kept = placement.install_folder(host.target, fill, record)
    print(f"{host.label}: installed bgcut {record['version']}{_linked(args)} into {host.target}{_kept(kept)}")
    print(f"  bundled: {_vendor_phrase(vendor)[3:] or 'no packages'} ({why})")
    print(f"  next: {NEXT_STEPS[host.kind]}")


def _install_blender(host: Host, args: argparse.Namespace, record: dict, once: _Once) -> None:
    if args.dry_run:
        print(
            f"{host.label}: would install the extension{_linked(args)} into {host.target}{_keeping(host.target)}"
        )
        return
    zip_path = args.blender_zip or once.zip
    if zip_path is None:
        tmp = Path(tempfile.mkdtemp(prefix="bgcut-build-"))
        zip_path = build.build_blender_extension(tmp, [build.current_blender_platform()], args.local_engine)
        once.zip = zip_path
    fill = dev.link_blender_extension(zip_path) if args.dev else placement.extract_into(zip_path)
    kept = placement.install_folder(host.target, fill, record)
    print(f"{host.label}: installed bgcut {record['version']}{_linked(args)} into {host.target}{_kept(kept)}")
    print(f"  next: {NEXT_STEPS[host.kind]}")


def _keeping(target: Path) -> str:
    """For --dry-run: the user's own files in bgcut's folder, which the real run keeps."""
    return _kept(placement.user_files(target), "would keep")


def _kept(paths: list[str] | None, verb: str = "kept") -> str:
    if not paths:
        return ""
    shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
    return f" ({verb} what bgcut did not write: {shown})"


def _uninstall(host: Host, dry_run: bool) -> None:
    placement.check_removable(host.target)
    if not placement.holds_install(host.target):
        print(f"{host.label}: bgcut is not installed there; nothing to remove.")
        return
    if dry_run:
        print(f"{host.label}: would remove {host.target}{_keeping(host.target)}")
        return
    kept = placement.uninstall(host.target)
    if not kept:
        print(f"{host.label}: removed {host.target}")
        return
    print(f"{host.label}: removed bgcut's files from {host.target}{_kept(kept)}")
    print("  the folder stays with your files in it; delete it yourself if you no longer want them")
