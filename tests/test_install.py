"""install.py: discovery on fake homes, idempotent install/uninstall, and real hosts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from imagery import encode, iou, subject_photo

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugin"))
sys.path.insert(0, str(Path(__file__).parent / "hosts"))

from bgcut.version import __version__  # noqa: E402
from bgcut_install.discovery import discover  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def mk(home: Path, *parts: str) -> Path:
    path = home.joinpath(*parts)
    path.mkdir(parents=True)
    return path


def summary(hosts):
    return sorted((h.kind, h.version, h.flavour, str(h.target)) for h in hosts)


def test_linux_native_flatpak_snap_side_by_side(tmp_path):
    home = tmp_path
    mk(home, ".config/GIMP/3.0")
    mk(home, ".config/GIMP/3.2")
    mk(home, ".config/GIMP/2.10")
    mk(home, ".var/app/org.gimp.GIMP/config/GIMP/3.0")
    mk(home, "snap/gimp/current/.config/GIMP/3.0")
    mk(home, ".config/blender/4.1")
    mk(home, ".config/blender/4.2")
    mk(home, ".config/blender/5.0")
    mk(home, ".var/app/org.blender.Blender/config/blender/4.5")
    mk(home, "snap/blender/current/.config/blender/5.1")
    hosts = discover(home, {}, "linux")
    assert summary(hosts) == sorted(
        [
            ("gimp", "3.0", "native", str(home / ".config/GIMP/3.0/plug-ins/bgcut-remove-background")),
            ("gimp", "3.2", "native", str(home / ".config/GIMP/3.2/plug-ins/bgcut-remove-background")),
            (
                "gimp",
                "3.0",
                "flatpak",
                str(home / ".var/app/org.gimp.GIMP/config/GIMP/3.0/plug-ins/bgcut-remove-background"),
            ),
            (
                "gimp",
                "3.0",
                "snap",
                str(home / "snap/gimp/current/.config/GIMP/3.0/plug-ins/bgcut-remove-background"),
            ),
            ("blender", "4.2", "native", str(home / ".config/blender/4.2/extensions/user_default/bgcut")),
            ("blender", "5.0", "native", str(home / ".config/blender/5.0/extensions/user_default/bgcut")),
            (
                "blender",
                "4.5",
                "flatpak",
                str(home / ".var/app/org.blender.Blender/config/blender/4.5/extensions/user_default/bgcut"),
            ),
            (
                "blender",
                "5.1",
                "snap",
                str(home / "snap/blender/current/.config/blender/5.1/extensions/user_default/bgcut"),
            ),
        ]
    )


def test_xdg_config_home_is_honoured(tmp_path):
    mk(tmp_path, "cfg/GIMP/3.0")
    hosts = discover(tmp_path / "home", {"XDG_CONFIG_HOME": str(tmp_path / "cfg")}, "linux")
    assert [(h.kind, h.version) for h in hosts] == [("gimp", "3.0")]


def test_windows_appdata(tmp_path):
    appdata = tmp_path / "AppData" / "Roaming"
    mk(appdata, "GIMP/3.0")
    mk(appdata, "Blender Foundation/Blender/4.2")
    mk(appdata, "Blender Foundation/Blender/3.6")
    hosts = discover(tmp_path, {"APPDATA": str(appdata)}, "win32")
    assert summary(hosts) == sorted(
        [
            ("gimp", "3.0", "windows", str(appdata / "GIMP/3.0/plug-ins/bgcut-remove-background")),
            (
                "blender",
                "4.2",
                "windows",
                str(appdata / "Blender Foundation/Blender/4.2/extensions/user_default/bgcut"),
            ),
        ]
    )


def test_macos_application_support(tmp_path):
    support = tmp_path / "Library" / "Application Support"
    mk(support, "GIMP/3.0")
    mk(support, "GIMP/3.2")
    mk(support, "Blender/5.0")
    hosts = discover(tmp_path, {}, "darwin")
    assert [(h.kind, h.version, h.flavour) for h in hosts] == [
        ("gimp", "3.0", "macos"),
        ("gimp", "3.2", "macos"),
        ("blender", "5.0", "macos"),
    ]


def test_explicit_environment_overrides(tmp_path):
    env = {"GIMP3_DIRECTORY": str(tmp_path / "g"), "BLENDER_USER_RESOURCES": str(tmp_path / "b")}
    hosts = discover(tmp_path, env, "linux")
    assert [(h.kind, str(h.target)) for h in hosts] == [
        ("gimp", str(tmp_path / "g/plug-ins/bgcut-remove-background")),
        ("blender", str(tmp_path / "b/extensions/user_default/bgcut")),
    ]


def test_nothing_found_is_exit_1_with_advice(tmp_path):
    res = _install(tmp_path, [])
    assert res.returncode == 1 and "found no GIMP 3" in res.stdout


# -- install / uninstall on a fake home ---------------------------------------------------


def _install(home: Path, args: list[str]) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("XDG_CONFIG_HOME", "GIMP3_DIRECTORY", "BLENDER_USER_RESOURCES")
    }
    env["HOME"] = str(home)
    return subprocess.run(
        [sys.executable, str(REPO / "install.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )


def tree(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_mode, p.stat().st_size if p.is_file() else 0)
        for p in root.rglob("*")
    }


@pytest.fixture(scope="module")
def extension_zip(tmp_path_factory) -> Path:
    from blender_host import build_extension

    return build_extension(tmp_path_factory.mktemp("dist"))


def test_install_twice_list_dry_run_and_uninstall_restore_the_home(tmp_path, extension_zip):
    home = tmp_path / "home"
    mk(home, ".config/GIMP/3.0")
    mk(home, ".config/blender/5.0/config")
    (home / ".config/blender/5.0/config/userpref.blend").write_bytes(b"prefs")
    before = tree(home)
    dry = _install(home, ["--dry-run", "--no-vendor", "--blender-zip", str(extension_zip)])
    assert dry.returncode == 0 and "would install" in dry.stdout and tree(home) == before
    for _ in range(2):
        res = _install(home, ["--no-vendor", "--blender-zip", str(extension_zip)])
        assert res.returncode == 0, res.stdout + res.stderr
    assert (
        "GIMP 3.0 (native): installed bgcut" in res.stdout and "Blender 5.0 (native): installed" in res.stdout
    )
    assert "Remove Background" in res.stdout
    plugin = home / ".config/GIMP/3.0/plug-ins/bgcut-remove-background"
    assert os.access(plugin / "bgcut-remove-background.py", os.X_OK)
    assert (plugin / "lib/bgcut/client.py").is_file()
    assert sorted(p.name for p in plugin.parent.iterdir()) == ["bgcut-remove-background"]
    ext = home / ".config/blender/5.0/extensions/user_default"
    assert sorted(p.name for p in ext.iterdir()) == ["bgcut"]
    assert (ext / "bgcut/blender_manifest.toml").is_file() and (
        ext / "bgcut/bgcut/engines/cloud.py"
    ).is_file()
    listed = _install(home, ["--list"])
    assert "GIMP 3.0 (native)" in listed.stdout and "bgcut 0.1.0 installed" in listed.stdout
    gone = _install(home, ["--uninstall"])
    assert gone.returncode == 0 and "removed" in gone.stdout
    assert tree(home) == before


def test_a_failed_upgrade_leaves_the_previous_install_working(tmp_path, extension_zip):
    home = tmp_path / "home"
    mk(home, ".config/blender/4.2")
    assert _install(home, ["--blender", "--blender-zip", str(extension_zip)]).returncode == 0
    target = home / ".config/blender/4.2/extensions/user_default/bgcut"
    good = tree(target)
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 not a zip")
    res = _install(home, ["--blender", "--blender-zip", str(broken)])
    assert res.returncode == 1 and "FAILED" in res.stdout and "untouched" in res.stdout
    assert tree(target) == good
    assert sorted(p.name for p in target.parent.iterdir()) == ["bgcut"]


def _host(kind: str, home: Path, extension_zip: Path) -> tuple[Path, list[str]]:
    """A fresh host folder in a fake home: where bgcut goes, and the flags installing it."""
    if kind == "gimp":
        plugins = mk(home, ".config/GIMP/3.0/plug-ins")
        return plugins / "bgcut-remove-background", ["--gimp", "--no-vendor"]
    extensions = mk(home, ".config/blender/4.2/extensions/user_default")
    return extensions / "bgcut", ["--blender", "--blender-zip", str(extension_zip)]


def _line(res: subprocess.CompletedProcess, marker: str) -> str:
    return next(line for line in res.stdout.splitlines() if marker in line)


@pytest.mark.parametrize("kind", ["gimp", "blender"])
def test_a_users_own_folder_is_refused_even_in_a_dry_run_until_it_carries_bgcuts_record(
    kind, tmp_path, extension_zip
):
    home = tmp_path / "home"
    target, args = _host(kind, home, extension_zip)
    target.mkdir()
    (target / "my-notes.txt").write_text("mine, not bgcut's\n")
    before = tree(home)
    dry = _install(home, [*args, "--dry-run"])
    real = _install(home, args)
    assert dry.returncode == real.returncode == 1, real.stdout + real.stderr
    refusal = _line(real, "not installed:")
    assert _line(dry, "not installed:") == refusal
    assert str(target) in refusal and "did not install it" in refusal and "Move it out of" in refusal
    for extra in (["--uninstall"], ["--uninstall", "--dry-run"]):
        gone = _install(home, [*args, *extra])
        assert gone.returncode == 1 and str(target) in _line(gone, "nothing removed:")
    assert "left alone" in _install(home, [*args, "--list"]).stdout
    assert tree(home) == before and (target / "my-notes.txt").read_text() == "mine, not bgcut's\n"
    # an install by an older bgcut (its record, no file list) is bgcut's and is upgraded
    old = {"version": "0.0.9", "host": kind, "created_dirs": [], "installed": 0}
    (target / ".bgcut-install.json").write_text(json.dumps(old))
    assert _install(home, args).returncode == 0
    manifest = json.loads((target / ".bgcut-install.json").read_text())
    assert manifest["version"] == __version__ and "my-notes.txt" not in manifest["files"]
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]


@pytest.mark.parametrize("kind", ["gimp", "blender"])
def test_a_symlinked_target_is_neither_written_through_nor_replaced(kind, tmp_path, extension_zip):
    home = tmp_path / "home"
    target, args = _host(kind, home, extension_zip)
    checkout = mk(tmp_path, "src/bgcut-checkout")
    (checkout / "dev.py").write_text("print('my working copy')\n")
    target.symlink_to(checkout, target_is_directory=True)
    before = tree(checkout)
    for extra in ([], ["--dry-run"], ["--uninstall"], ["--uninstall", "--dry-run"]):
        res = _install(home, [*args, *extra])
        assert res.returncode == 1, res.stdout + res.stderr
        assert f"{target} is a symbolic link to {checkout}" in res.stdout
    assert "delete the link" in _line(_install(home, args), "not installed:")
    assert target.is_symlink() and os.readlink(target) == str(checkout)
    assert tree(checkout) == before
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]  # no stray .…-old link


def test_a_failed_first_install_removes_the_folders_it_made(tmp_path):
    home = tmp_path / "home"
    mk(home, ".config/blender/4.2/config")
    before = tree(home)
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 not a zip")
    res = _install(home, ["--blender", "--blender-zip", str(broken)])
    assert res.returncode == 1 and "FAILED" in res.stdout
    assert tree(home) == before  # no extensions/user_default, no staging folder


def test_the_manifest_lists_what_bgcut_wrote_and_the_users_own_files_survive(tmp_path):
    home = tmp_path / "home"
    mk(home, ".config/GIMP/3.0")
    args = ["--gimp", "--no-vendor"]
    assert _install(home, args).returncode == 0
    plugin = home / ".config/GIMP/3.0/plug-ins/bgcut-remove-background"
    manifest = json.loads((plugin / ".bgcut-install.json").read_text())
    written = {p.relative_to(plugin).as_posix() for p in plugin.rglob("*") if p.is_file()}
    assert manifest["version"] == __version__
    assert set(manifest["files"]) == written - {".bgcut-install.json"}
    assert {"bgcut-remove-background.py", "lib/bgcut/client.py"} <= set(manifest["files"])
    (plugin / "my-notes.txt").write_text("notes\n")
    (mk(plugin, "my-presets") / "soft.json").write_text("{}")
    cache = mk(plugin, "lib/bgcut/__pycache__") / "client.cpython-313.pyc"
    cache.write_bytes(b"written by GIMP's Python")
    beside = mk(plugin.parent, ".bgcut-remove-background-old")  # a name bgcut once used
    (beside / "keep.txt").write_text("mine")
    mine = ["my-notes.txt", "my-presets", "my-presets/soft.json"]
    assert ", ".join(mine) in _install(home, [*args, "--dry-run"]).stdout
    up = _install(home, args)
    assert up.returncode == 0 and ", ".join(mine) in up.stdout
    assert (plugin / "my-notes.txt").read_text() == "notes\n"
    assert (plugin / "my-presets/soft.json").read_text() == "{}" and not cache.exists()
    assert "my-notes.txt" not in json.loads((plugin / ".bgcut-install.json").read_text())["files"]
    assert (beside / "keep.txt").read_text() == "mine"
    cache.parent.mkdir()
    cache.write_bytes(b"written again")
    gone = _install(home, ["--uninstall", *args])
    assert gone.returncode == 0 and "my-notes.txt" in gone.stdout and "delete it yourself" in gone.stdout
    left = sorted(p.relative_to(plugin).as_posix() for p in plugin.rglob("*"))
    assert left == sorted([*mine, ".bgcut-install.json"])  # the folder stays marked as bgcut's
    assert sorted(p.name for p in plugin.parent.iterdir()) == [beside.name, plugin.name]
    assert "uninstalled; your own files are kept" in _install(home, ["--list"]).stdout
    again = _install(home, args)  # so installing again is not refused as "not bgcut's"
    assert again.returncode == 0, again.stdout + again.stderr
    assert (plugin / "my-notes.txt").read_text() == "notes\n"
    assert json.loads((plugin / ".bgcut-install.json").read_text())["files"]


# -- end to end in real hosts --------------------------------------------------------------

KEY = "install-test-key-8e2f4a6b1c"


@pytest.mark.gimp
def test_vendored_plugin_runs_in_a_gimp_whose_python_has_no_numpy_pillow_requests(tmp_path):
    from bgcut.emulator import Emulator
    from gimp_host import Gimp, gimp_root

    root = gimp_root("bare")
    probe = subprocess.run(["chroot", str(root), "python3", "-c", "import numpy"], capture_output=True)
    assert probe.returncode != 0, "the bare root must lack numpy"
    home = tmp_path / "home"
    profile = mk(home, ".config/GIMP/3.0")
    res = _install(home, ["--gimp", "--gimp-python", "3.13"])
    assert res.returncode == 0, res.stdout + res.stderr
    assert (profile / "plug-ins/bgcut-remove-background/lib/vendor/cp313/numpy").is_dir()
    img, truth = subject_photo(240, 180, seed=80)
    empty = mk(tmp_path, "no-extra-plugins")
    gimp = Gimp(root, empty, profile, tmp_path / "io")
    with Emulator({KEY: 10}) as emu:
        run = gimp.run(
            {"input": "in.png", "args": {"output": "rgba-layer"}},
            {"in.png": encode(img)},
            {"BACKGROUNDCUT_API_KEY": KEY, "BACKGROUNDCUT_ENDPOINT": emu.endpoint},
        )
    assert run.report["found"], run.stdout
    assert run.report["status"] == "success", run.report
    assert iou(run.pixels(run.layers()[0])[..., 3] > 127, truth) > 0.95


@pytest.mark.gimp
@pytest.mark.parametrize("version,python", [("3.0", "3.13"), ("3.2", "3.14")])
def test_without_its_packages_the_plugin_registers_and_names_the_fix(tmp_path, version, python):
    """No vendored folder in a GIMP whose Python lacks numpy: the item is still there and a
    run says, in one sentence, the install.py command for the Python it found."""
    from gimp_host import Gimp, gimp_root

    root = gimp_root("bare", version)
    home = tmp_path / "home"
    profile = mk(home, f".config/GIMP/{version}")
    res = _install(home, ["--gimp", "--no-vendor"])
    assert res.returncode == 0, res.stdout + res.stderr
    assert not (profile / "plug-ins/bgcut-remove-background/lib/vendor").exists()
    gimp = Gimp(root, mk(tmp_path, "no-extra-plugins"), profile, tmp_path / "io")
    img, _ = subject_photo(60, 40, seed=82)
    run = gimp.run({"input": "in.png"}, {"in.png": encode(img)}, {"BACKGROUNDCUT_API_KEY": KEY})
    run.assert_names_the_fix(python)


@pytest.mark.blender
def test_blender_user_folder_from_install_enables_and_runs(tmp_path, extension_zip):
    from bgcut.emulator import Emulator
    from blender_host import bpy_python, run_job

    home = tmp_path / "home"
    resources = mk(home, ".config/blender/5.0")
    assert _install(home, ["--blender", "--blender-zip", str(extension_zip)]).returncode == 0
    img, truth = subject_photo(200, 150, seed=81)
    work = mk(tmp_path, "work")
    (work / "in.png").write_bytes(encode(img))
    with Emulator({KEY: 10}) as emu:
        report = run_job(
            bpy_python(),
            work,
            {"input": "in.png", "action": "image_op_by_name", "args": {"output": "MASK"}},
            {"BACKGROUNDCUT_API_KEY": KEY, "BACKGROUNDCUT_ENDPOINT": emu.endpoint},
            resources=resources,
        )
    assert report["enabled"] and report["ok"], report
    mask = np.load(work / report["images"]["Photo mask"]["file"])
    assert iou(mask[..., 0] > 0.5, truth) > 0.95


@pytest.mark.gimp
def test_offline_engine_in_a_bare_gimp_with_no_key_and_no_network(tmp_path):
    from gimp_host import Gimp, gimp_root
    from realphotos import quokka

    root = gimp_root("bare")
    home = tmp_path / "home"
    profile = mk(home, ".config/GIMP/3.0")
    res = _install(home, ["--gimp", "--gimp-python", "3.13", "--local-engine"])
    assert res.returncode == 0, res.stdout + res.stderr
    plugin = profile / "plug-ins/bgcut-remove-background"
    assert (plugin / "lib/models/u2netp.onnx").stat().st_size == 4_574_861
    photo = quokka()
    gimp = Gimp(root, mk(tmp_path, "no-extra-plugins"), profile, tmp_path / "io")
    run = gimp.run(
        {"input": "in.png", "args": {"output": "mask-layer", "engine": "auto"}},
        {"in.png": encode(photo.rgb)},
        {"BACKGROUNDCUT_ENDPOINT": "http://127.0.0.1:9/v2/cut/"},
    )
    assert run.report["status"] == "success", run.report
    mask = run.pixels(run.layers()[0])[..., 0]
    assert iou(mask > 127, photo.truth) > 0.9


def test_the_extension_carries_pillow_and_isal_for_every_blender_python_and_platform(tmp_path):
    """Built for all platforms (as released): one Pillow and one isal wheel per Python a
    Blender 4.2+ runs and per platform, each listed in the manifest and inside the zip."""
    import re
    import zipfile

    from bgcut_install.build import BLENDER_PLATFORMS, BLENDER_PYTHONS

    res = subprocess.run(
        [sys.executable, str(REPO / "install.py"), "--build-blender", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    built = Path(res.stdout.strip().split("built ", 1)[1])
    with zipfile.ZipFile(built) as zf:
        names = set(zf.namelist())
        manifest = zf.read("blender_manifest.toml").decode()
    listed = re.findall(r'"\./wheels/([^"]+\.whl)"', manifest)
    assert listed and all(f"wheels/{w}" in names for w in listed)
    marks = {
        "linux-x64": r"manylinux\S*_x86_64",
        "windows-x64": r"win_amd64",
        "macos-arm64": r"macosx_\d+_\d+_arm64",
        "macos-x64": r"macosx_\d+_\d+_x86_64",
    }
    assert set(marks) == set(BLENDER_PLATFORMS)
    for package in ("pillow", "isal"):
        for py in BLENDER_PYTHONS:
            tag = "cp" + py.replace(".", "")
            for platform, mark in marks.items():
                found = [
                    w
                    for w in listed
                    if w.startswith(f"{package}-") and f"-{tag}-" in w and re.search(mark, w)
                ]
                assert len(found) == 1, (package, py, platform, found)
