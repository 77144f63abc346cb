"""Put a built folder into place atomically, remember what went in, and take it out again.

bgcut owns a folder only when it carries bgcut's manifest (STAMP: the version and every file
and folder it wrote; installs by older bgcut versions carry it without the lists). Anything
else at a target, a folder of the user's own or a symbolic link, is refused, never replaced
or deleted, and files a user adds to an installed folder survive upgrades and uninstall. An
install is built beside its target and renamed in, so a failure half-way leaves the previous
install working, and a failed first install removes the folders it created.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

STAMP = ".bgcut-install.json"
CACHE = "__pycache__"  # written by Python next to bgcut's modules; bgcut's to remove


class Refused(Exception):
    """What is at the target is not bgcut's; the message names it and says what to do."""


def installed(target: Path) -> dict | None:
    """bgcut's manifest in target, or None when target is missing, a link or not bgcut's."""
    if _is_link(target):
        return None
    try:
        record = json.loads((target / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "version" in record else None


def holds_install(target: Path) -> bool:
    """bgcut's files are there (not only a folder it emptied, holding the user's own)."""
    record = installed(target)
    return record is not None and not record.get("uninstalled")


def _is_link(path: Path) -> bool:
    """A symbolic link, or on Windows a junction, which is a link all the same."""
    return path.is_symlink() or bool(getattr(path, "is_junction", lambda: False)())


def foreign(target: Path) -> str | None:
    """What is at target when bgcut did not put it there, as a phrase; None otherwise."""
    if _is_link(target):
        return f"{target} is a symbolic link to {os.readlink(target)}, which bgcut did not make"
    if os.path.lexists(target) and installed(target) is None:
        return f"{target} exists but bgcut did not install it (it holds no {STAMP})"
    return None


def check_replaceable(target: Path) -> None:
    """Raise Refused unless target is missing or bgcut's own install, so it may be replaced."""
    what = foreign(target)
    if what is None:
        return
    if _is_link(target):
        todo = (
            "bgcut does not write through a link or replace one. To install a copy here, delete "
            "the link (that removes only the link, not what it points to) and run install.py "
            "again; to keep using what it points to, leave it as it is"
        )
    else:
        todo = (
            "bgcut never replaces or deletes what it did not install. Move it out of "
            f"{target.parent} (for example into your home folder) and run install.py again"
        )
    raise Refused(f"{what}; {todo}.")


def check_removable(target: Path) -> None:
    """Raise Refused when something bgcut did not install sits at target, so it stays."""
    what = foreign(target)
    if what is not None:
        raise Refused(f"{what}, so it is left alone; delete it yourself if you no longer want it.")


def install_folder(target: Path, fill: Callable[[Path], None], record: dict) -> list[str]:
    """Build into a staging sibling with `fill`, then swap it in for `target`.

    Returns the user's own files carried over from the previous install."""
    check_replaceable(target)
    previous = installed(target)
    created = _missing_ancestors(target.parent)
    made = [str(p) for p in created] if previous is None else previous.get("created_dirs", [])
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-new-", dir=target.parent))
    except BaseException:
        _remove_empty(created)
        raise
    try:
        fill(staging)
        files, folders = _contents(staging)
        kept = _carry_over(target, previous, staging, record.get("version", "?"))
        manifest = {**record, "created_dirs": made, "files": files, "folders": folders}
        manifest["installed"] = time.time()
        (staging / STAMP).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        _swap(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        _remove_empty(created)
        raise
    return kept


def _missing_ancestors(folder: Path) -> list[Path]:
    """The folders an install would create, deepest first."""
    missing = []
    while not os.path.lexists(folder):
        missing.append(folder)
        folder = folder.parent
    return missing


def _remove_empty(folders: list[Path]) -> None:
    """Take away folders bgcut created, deepest first, stopping at one that is not empty."""
    for folder in folders:
        if not os.path.lexists(folder):
            continue  # never made, as when creating a folder above it failed
        try:
            folder.rmdir()
        except OSError:
            break


def _walk(root: Path) -> list[tuple[str, bool]]:
    """(relative POSIX path, is a real folder) for everything under root; links not followed."""
    found = []
    for here, dirs, names in os.walk(root):
        rel = Path(here).relative_to(root)
        for name in dirs:
            found.append(((rel / name).as_posix(), not _is_link(Path(here, name))))
        found += [((rel / name).as_posix(), False) for name in names]
    return sorted(found)


def _contents(root: Path) -> tuple[list[str], list[str]]:
    """The files (and links) and the folders under root, for the manifest."""
    entries = _walk(root)
    return [p for p, is_dir in entries if not is_dir], [p for p, is_dir in entries if is_dir]


def _is_cache(rel: str) -> bool:
    return CACHE in rel.split("/")


def user_files(target: Path) -> list[str]:
    """What is in bgcut's install at target that bgcut did not write (Python caches aside)."""
    record = installed(target)
    if record is None or "files" not in record:
        return []  # an older bgcut listed nothing: the whole folder was its own
    ours = {STAMP, *record["files"], *record.get("folders", [])}
    ours |= {"/".join(p.split("/")[:i]) for p in record["files"] for i in range(1, p.count("/") + 1)}
    return [p for p, _ in _walk(target) if p not in ours and not _is_cache(p)]


def _carry_over(target: Path, previous: dict | None, staging: Path, version: str) -> list[str]:
    """Copy the user's files from the old install into the new one, so the swap keeps them."""
    kept = user_files(target) if previous is not None else []
    for rel in kept:
        src, dest = target / rel, staging / rel
        if src.is_dir() and not _is_link(src):
            if os.path.lexists(dest) and not dest.is_dir():
                raise _clash(target, rel, version)
            dest.mkdir(parents=True, exist_ok=True)
            continue
        if os.path.lexists(dest):
            raise _clash(target, rel, version)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest, follow_symlinks=False)
    return kept


def _clash(target: Path, rel: str, version: str) -> Refused:
    return Refused(
        f"bgcut {version} now installs {rel}, but {target} holds your own {rel}, which bgcut "
        "did not write; move it out of that folder and run install.py again."
    )


def extract_into(zip_path: Path) -> Callable[[Path], None]:
    """A `fill` for install_folder: the zip's files (the built extension) into the folder."""

    def fill(dest: Path) -> None:
        with zipfile.ZipFile(zip_path) as zf:
            zf.extractall(dest)

    return fill


def _swap(staging: Path, target: Path) -> None:
    """Rename staging to target; an old install goes into a fresh folder of its own first,
    so nothing already beside the target is ever overwritten or deleted."""
    if not os.path.lexists(target):
        staging.rename(target)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{target.name}-old-", dir=target.parent))
    old = aside / target.name
    target.rename(old)
    try:
        staging.rename(target)
    except BaseException:
        old.rename(target)
        aside.rmdir()
        raise
    shutil.rmtree(aside, ignore_errors=True)


def uninstall(target: Path) -> list[str] | None:
    """Remove what bgcut installed at target; None when nothing of bgcut's is there, else
    the user's own files, which stay (and so does the folder holding them)."""
    check_removable(target)
    record = installed(target)
    if record is None:
        return None
    if "files" not in record:  # an older bgcut's install: the whole folder was its own
        shutil.rmtree(target)
        kept: list[str] = []
    else:
        kept = user_files(target)
        _remove_ours(target, record)
        if kept:  # the folder stays for the user's files: still bgcut's to install into again
            emptied = {"version": record["version"], "files": [], "folders": [], "uninstalled": True}
            (target / STAMP).write_text(json.dumps(emptied, indent=1), encoding="utf-8")
    if not os.path.lexists(target):
        _remove_empty([Path(p) for p in record.get("created_dirs", [])])
    return kept


def _remove_ours(target: Path, record: dict) -> None:
    """Delete the listed files and Python's caches, then the manifest, then empty folders."""
    for rel in record["files"]:
        (target / rel).unlink(missing_ok=True)
    for rel, is_dir in _walk(target):
        if is_dir and rel.split("/")[-1] == CACHE and os.path.lexists(target / rel):
            shutil.rmtree(target / rel)
    (target / STAMP).unlink(missing_ok=True)
    folders = sorted({*record.get("folders", []), ""}, key=lambda p: p.count("/") + bool(p), reverse=True)
    for rel in folders:
        try:
            (target / rel).rmdir()
        except OSError:
            pass  # holds the user's files
