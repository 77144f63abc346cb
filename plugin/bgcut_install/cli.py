"""`python install.py`: find GIMP 3 and Blender 4.2+, install, list or uninstall bgcut."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from . import build, discovery, placement
from .discovery import Host

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
    zip_cache: dict[str, Path] = {}
    for host in hosts:
        try:
            if args.uninstall:
                _uninstall(host, args.dry_run)
            else:
                _install(host, args, zip_cache)
        except placement.Refused as exc:
            ok = False
            print(f"{host.label}: {'nothing removed' if args.uninstall else 'not installed'}: {exc}")
        except (OSError, zipfile.BadZipFile) as exc:
            ok = False
            print(f"{host.label}: FAILED ({exc}); the previous install, if any, is untouched.")
    return 0 if ok else 1


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
    p.add_argument("--gimp-python", help="GIMP's Python version for the bundled packages, e.g. 3.13")
    p.add_argument(
        "--gimp-platform",
        default=build.default_platform_tag(),
        help="wheel platform tag for GIMP's Python (default: this machine's)",
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
        return f"bgcut {record.get('version')} installed"
    what = placement.foreign(target)
    return "bgcut not installed" if what is None else f"bgcut not installed; left alone: {what}"


def _gimp_python(args: argparse.Namespace) -> str:
    if args.gimp_python:
        return args.gimp_python
    interp = Path("/usr/bin/python3")
    if sys.platform.startswith("linux") and interp.exists():
        out = subprocess.run(
            [str(interp), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
        )
        if out.returncode == 0:
            return out.stdout.strip()
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def _install(host: Host, args: argparse.Namespace, zip_cache: dict[str, Path]) -> None:
    version = build.core_version()
    if host.kind == "gimp":
        vendor = None if args.no_vendor else (_gimp_python(args), args.gimp_platform)
        what = f"the plug-in{'' if vendor is None else f' + numpy/Pillow/requests for Python {vendor[0]}'}"
        placement.check_replaceable(host.target)
        if args.dry_run:
            print(f"{host.label}: would install {what} into {host.target}{_keeping(host.target)}")
            return
        kept = placement.install_folder(
            host.target,
            lambda d: build.assemble_gimp_plugin(d, vendor, args.local_engine),
            {
                "version": version,
                "host": "gimp",
                "vendor": list(vendor) if vendor else None,
                "local_engine": args.local_engine,
            },
        )
    else:
        placement.check_replaceable(host.target)  # before the build, which may take minutes
        if args.dry_run:
            print(f"{host.label}: would install the extension into {host.target}{_keeping(host.target)}")
            return
        zip_path = args.blender_zip or zip_cache.get("zip")
        if zip_path is None:
            tmp = Path(tempfile.mkdtemp(prefix="bgcut-build-"))
            zip_path = build.build_blender_extension(
                tmp, [build.current_blender_platform()], args.local_engine
            )
            zip_cache["zip"] = zip_path
        kept = placement.install_folder(
            host.target, placement.extract_into(zip_path), {"version": version, "host": "blender"}
        )
    print(f"{host.label}: installed bgcut {version} into {host.target}{_kept(kept)}")
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
