"""install.py and GIMP's own Python: found in fake Windows/macOS/Flatpak/Snap/native GIMP
installs, the wheels really downloaded for it; and development installs that link the checkout."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from imagery import encode, iou, subject_photo

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugin"))
sys.path.insert(0, str(Path(__file__).parent / "hosts"))

from bgcut_install import gimp_python  # noqa: E402
from bgcut_install.gimp_python import GimpPython  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PLUGIN = "bgcut-remove-background"
KEY = "install-python-test-key-5d1c9e"


def mk(base: Path, *parts: str) -> Path:
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def pe(path: Path, machine: int) -> Path:
    """A file with just the PE header fields that name a Windows binary's machine."""
    head = bytearray(512)
    head[:2] = b"MZ"
    struct.pack_into("<I", head, 0x3C, 0x80)
    head[0x80:0x84] = b"PE\0\0"
    struct.pack_into("<H", head, 0x84, machine)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(head))
    return path


def macho(path: Path, cpu: int | None) -> Path:
    """A thin 64-bit Mach-O header for cpu, or a universal (fat) one for None."""
    head = b"\xca\xfe\xba\xbe" + bytes(60) if cpu is None else b"\xcf\xfa\xed\xfe" + struct.pack("<I", cpu)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(head + bytes(64))
    return path


def stdlib(folder: Path) -> Path:
    mk(folder)
    (folder / "os.py").write_text("# the standard library lives here\n")
    return folder


AMD64, ARM64 = 0x8664, 0xAA64
X86_64_CPU, ARM64_CPU = 0x01000007, 0x0100000C


# -- finding GIMP's Python in fake installs ----------------------------------------------


def test_windows_program_files_and_a_per_user_install(tmp_path):
    pf, local = mk(tmp_path, "Program Files"), mk(tmp_path, "AppData/Local")
    gimp = mk(pf, "GIMP 3")
    pe(gimp / "bin/python3.12.exe", AMD64)
    pe(gimp / "bin/gimp-3.exe", AMD64)
    stdlib(gimp / "lib/python3.12")
    mine = mk(local, "Programs/GIMP 3.2")  # only the library folder, an ARM64 build
    stdlib(mine / "lib/python3.13")
    pe(mine / "bin/gimp-3.2.exe", ARM64)
    mk(pf, "GIMP 2")  # GIMP 2's Python 2 is no GIMP 3 Python
    mk(pf, "GIMP 2/lib/python2.7")
    env = {"ProgramFiles": str(pf), "LOCALAPPDATA": str(local)}
    found = gimp_python.find(tmp_path / "home", env, "win32", "AMD64", root=tmp_path)
    assert found == [
        GimpPython("3.12", "win_amd64", "windows", gimp / "bin/python3.12.exe"),
        GimpPython("3.13", "win_arm64", "windows", mine / "lib/python3.13"),
    ]


def test_windows_dll_named_python_and_the_machines_platform_when_the_binaries_do_not_tell(tmp_path):
    gimp = mk(tmp_path, "Program Files/GIMP 3")
    (gimp / "bin").mkdir()
    (gimp / "bin/python311.dll").write_bytes(b"not a PE file")
    found = gimp_python.find(tmp_path, {}, "win32", "ARM64", root=tmp_path)
    assert found == [GimpPython("3.11", "win_arm64", "windows", gimp / "bin/python311.dll")]


def test_macos_app_in_applications_and_in_the_users_applications(tmp_path):
    home = tmp_path / "home"
    app = mk(tmp_path, "Applications/GIMP.app")
    mk(app, "Contents/Frameworks/Python.framework/Versions/3.10")
    macho(app / "Contents/MacOS/gimp", X86_64_CPU)  # an Intel build on an Apple-silicon Mac
    mine = mk(home, "Applications/GIMP-3.2.app")
    stdlib(mine / "Contents/Resources/lib/python3.11")
    macho(mine / "Contents/MacOS/gimp", None)  # universal: this Mac's own architecture
    found = gimp_python.find(home, {}, "darwin", "arm64", root=tmp_path)
    assert found == [
        GimpPython(
            "3.10",
            "macosx_10_13_x86_64",
            "macos",
            app / "Contents/Frameworks/Python.framework/Versions/3.10",
        ),
        GimpPython("3.11", "macosx_11_0_arm64", "macos", mine / "Contents/Resources/lib/python3.11"),
    ]


def test_flatpak_python_in_the_runtime_its_metadata_names_and_in_the_app(tmp_path):
    home = tmp_path / "home"
    system = tmp_path / "var/lib/flatpak"
    app = mk(system, "app/org.gimp.GIMP/current/active/files/lib")  # no Python of its own
    (app.parent.parent / "metadata").write_text(
        "[Application]\nname=org.gimp.GIMP\nruntime=org.gnome.Platform/aarch64/48\nsdk=org.gnome.Sdk\n"
    )
    runtime_lib = stdlib(system / "runtime/org.gnome.Platform/aarch64/48/active/files/lib/python3.12")
    mk(system, "runtime/org.gnome.Platform/aarch64/48/active/files/lib/python3.11")  # a leftover
    user = home / ".local/share/flatpak"
    own = stdlib(user / "app/org.gimp.GIMP/current/active/files/lib/python3.13")
    found = gimp_python.find(home, {}, "linux", "x86_64", root=tmp_path)
    assert found == [
        GimpPython("3.12", "manylinux_2_28_aarch64", "flatpak", runtime_lib),
        GimpPython("3.13", "manylinux_2_28_x86_64", "flatpak", own),
    ]


def test_a_user_flatpak_gimp_on_the_system_runtime(tmp_path):
    home = tmp_path / "home"
    app = mk(home, ".local/share/flatpak/app/org.gimp.GIMP/current/active")
    (app / "metadata").write_text("[Application]\nruntime=org.gnome.Platform/x86_64/47\n")
    lib = stdlib(
        tmp_path / "var/lib/flatpak/runtime/org.gnome.Platform/x86_64/47/active/files/lib/python3.12"
    )
    found = gimp_python.find(home, {}, "linux", "x86_64", root=tmp_path)
    assert found == [GimpPython("3.12", "manylinux_2_28_x86_64", "flatpak", lib)]


def test_snap(tmp_path):
    lib = stdlib(tmp_path / "snap/gimp/current/usr/lib/python3.10")
    found = gimp_python.find(tmp_path / "home", {}, "linux", "aarch64", root=tmp_path)
    assert found == [GimpPython("3.10", "manylinux_2_28_aarch64", "snap", lib)]


def test_native_gimp_names_its_python_in_the_interp_file(tmp_path):
    interp = mk(tmp_path, "usr/lib/gimp/3.0/interpreters") / "pygimp.interp"
    interp.write_text(
        "python=/usr/bin/python3\npython3=/usr/bin/python3\n/usr/bin/python=/usr/bin/python3\n"
        ":Python:E::py::python3:\n"
    )
    mk(tmp_path, "usr/bin")
    (tmp_path / "usr/bin/python3.13").write_bytes(b"\x7fELF")
    (tmp_path / "usr/bin/python3").symlink_to("python3.13")
    (tmp_path / "usr/bin/python3.11").write_bytes(b"\x7fELF")  # another Python GIMP does not use
    found = gimp_python.find(tmp_path / "home", {}, "linux", "x86_64", root=tmp_path)
    assert found == [GimpPython("3.13", "manylinux_2_28_x86_64", "native", interp)]


def test_native_without_interp_file_falls_back_to_usr_bin_python3(tmp_path):
    mk(tmp_path, "usr/bin")
    stdlib(tmp_path / "usr/lib/python3.14")
    (tmp_path / "usr/bin/python3").write_bytes(b"\x7fELF")  # a real binary, no version in its name
    # a system Python alone is no GIMP: nothing is guessed (every GIMP Python is vendored)
    assert gimp_python.find(tmp_path / "home", {}, "linux", "x86_64", root=tmp_path) == []
    mk(tmp_path, "usr/lib/gimp/3.0/plug-ins")
    found = gimp_python.find(tmp_path / "home", {}, "linux", "x86_64", root=tmp_path)
    assert found == [GimpPython("3.14", "manylinux_2_28_x86_64", "native", tmp_path / "usr/bin/python3")]


def test_a_gimp_app_that_does_not_exist_is_refused(tmp_path):
    home = tmp_path / "home"
    mk(home, ".config/GIMP/3.0")
    res = _install(home, ["--gimp", "--dry-run", "--gimp-app", str(tmp_path / "no-such-gimp")])
    assert res.returncode == 2 and "does not exist" in res.stdout
    assert not (home / ".config/GIMP/3.0/plug-ins").exists()


def debian_root(root: Path) -> Path:
    """Debian's GIMP 3 as packaged: merged /usr (lib -> usr/lib), a multiarch GIMP folder whose
    only .interp is the commented example, and python3 -> python3.13."""
    mk(root, "usr/bin")
    stdlib(root / "usr/lib/python3.13")
    (root / "lib").symlink_to("usr/lib")
    interp = mk(root, "usr/lib/x86_64-linux-gnu/gimp/3.0/interpreters") / "default.interp"
    interp.write_text(
        "# Example entries in files like these\n#scm=/path/to/scm\n#:Scheme-ext:E::scm::/path/to/scm:\n"
    )
    (root / "usr/bin/python3.13").write_bytes(b"\x7fELF")
    (root / "usr/bin/python3").symlink_to("python3.13")
    return root


def test_debians_gimp_runs_usr_bin_python3_and_its_lib_is_no_windows_gimp(tmp_path):
    root = debian_root(mk(tmp_path, "root"))
    want = GimpPython("3.13", "manylinux_2_28_x86_64", "native", root / "usr/bin/python3")
    assert gimp_python.probe(root, "linux", "x86_64") == want
    assert gimp_python.find(tmp_path / "home", {}, "linux", "x86_64", root=root) == [want]


@pytest.mark.parametrize("platform", ["win32", "darwin", "linux"])
def test_nothing_found_in_an_empty_system(tmp_path, platform):
    assert gimp_python.find(tmp_path / "home", {}, platform, "x86_64", root=tmp_path) == []


def test_probe_knows_every_layout_in_a_folder_the_user_names(tmp_path):
    win = mk(tmp_path, "win")
    pe(win / "bin/python3.12.exe", AMD64)
    mac = mk(tmp_path, "GIMP.app")
    mk(mac, "Contents/Frameworks/Python.framework/Versions/3.11")
    macho(mac / "Contents/MacOS/gimp", ARM64_CPU)
    snap = stdlib(tmp_path / "snap/usr/lib/python3.10").parents[2]
    root = mk(tmp_path, "root")
    (mk(root, "usr/lib/x86_64-linux-gnu/gimp/3.0/interpreters") / "pygimp.interp").write_text(
        "python3=/usr/bin/python3\n"
    )
    (mk(root, "usr/bin") / "python3").symlink_to("/usr/bin/python3.14")  # absolute: inside root
    (root / "usr/bin/python3.14").write_bytes(b"\x7fELF")
    got = {
        name: (p.version, p.platform, p.flavour) if (p := gimp_python.probe(f, "linux", "x86_64")) else None
        for name, f in {
            "win": win,
            "mac": mac,
            "snap": snap,
            "root": root,
            "empty": mk(tmp_path, "e"),
        }.items()
    }
    assert got == {
        "win": ("3.12", "win_amd64", "windows"),
        "mac": ("3.11", "macosx_11_0_arm64", "macos"),
        "snap": ("3.10", "manylinux_2_28_x86_64", "snap"),
        "root": ("3.14", "manylinux_2_28_x86_64", "native"),
        "empty": None,
    }


# -- installs that really download the wheels for that Python -------------------------------


def _install(home: Path, args: list[str], timeout: float = 1500) -> subprocess.CompletedProcess:
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
        timeout=timeout,
    )


def wheel_tags(vendor: Path, project: str) -> list[str]:
    """The Tag: lines of a vendored project's WHEEL file."""
    [info] = vendor.glob(f"{project}-*.dist-info")
    lines = (info / "WHEEL").read_text().splitlines()
    return [line.split(":", 1)[1].strip() for line in lines if line.startswith("Tag:")]


def assert_vendored(vendor: Path, cp: str, platform_word: str) -> None:
    for package in ("numpy", "PIL", "requests"):
        assert (vendor / package / "__init__.py").is_file(), package
    for project in ("numpy", "pillow"):
        tags = wheel_tags(vendor, project)
        assert tags and all(t.startswith(f"{cp}-{cp}-") and platform_word in t for t in tags), (project, tags)
    assert wheel_tags(vendor, "requests") == ["py3-none-any"]


def test_install_for_a_windows_gimp_downloads_its_windows_wheels(tmp_path):
    gimp = mk(tmp_path, "Program Files/GIMP 3")
    pe(gimp / "bin/python3.12.exe", AMD64)
    pe(gimp / "bin/gimp-3.exe", AMD64)
    stdlib(gimp / "lib/python3.12")
    plugins = tmp_path / "profile/plug-ins"
    res = _install(tmp_path / "home", ["--gimp-dir", str(plugins), "--gimp-app", str(gimp)])
    assert res.returncode == 0, res.stdout + res.stderr
    assert "numpy/Pillow/requests for Python 3.12 (win_amd64)" in res.stdout
    assert f"GIMP's Python 3.12 found at {gimp / 'bin/python3.12.exe'}" in res.stdout
    vendor = plugins / PLUGIN / "lib/vendor"
    assert sorted(p.name for p in vendor.iterdir()) == ["cp312"]
    assert_vendored(vendor / "cp312", "cp312", "win_amd64")
    assert any(vendor.glob("cp312/numpy/_core/*.pyd"))  # a Windows extension module, not a .so
    record = json.loads((plugins / PLUGIN / ".bgcut-install.json").read_text())
    assert record["vendor"] == [{"python": "3.12", "platform": "win_amd64"}]


def test_install_for_a_macos_gimp_downloads_its_macos_wheels(tmp_path):
    app = mk(tmp_path, "Applications/GIMP.app")
    stdlib(app / "Contents/Resources/lib/python3.11")
    macho(app / "Contents/MacOS/gimp", ARM64_CPU)
    plugins = tmp_path / "profile/plug-ins"
    res = _install(tmp_path / "home", ["--gimp-dir", str(plugins), "--gimp-app", str(app)])
    assert res.returncode == 0, res.stdout + res.stderr
    assert "numpy/Pillow/requests for Python 3.11 (macosx_11_0_arm64)" in res.stdout
    vendor = plugins / PLUGIN / "lib/vendor"
    assert sorted(p.name for p in vendor.iterdir()) == ["cp311"]
    assert_vendored(vendor / "cp311", "cp311", "arm64")
    assert all("macosx" in t for t in wheel_tags(vendor / "cp311", "numpy"))
    record = json.loads((plugins / PLUGIN / ".bgcut-install.json").read_text())
    assert record["vendor"] == [{"python": "3.11", "platform": "macosx_11_0_arm64"}]


def test_when_gimps_python_is_not_found_every_python_gimp_ships_is_vendored(tmp_path):
    nowhere = mk(tmp_path, "not-gimp")
    plugins = tmp_path / "profile/plug-ins"
    args = [
        "--gimp-dir",
        str(plugins),
        "--gimp-app",
        str(nowhere),
        "--gimp-platform",
        "manylinux_2_28_x86_64",
    ]
    res = _install(tmp_path / "home", args, timeout=3000)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "for Python 3.10, 3.11, 3.12, 3.13, 3.14 (manylinux_2_28_x86_64)" in res.stdout
    assert f"GIMP's own Python was not found in {nowhere}" in res.stdout
    vendor = plugins / PLUGIN / "lib/vendor"
    assert sorted(p.name for p in vendor.iterdir()) == ["cp310", "cp311", "cp312", "cp313", "cp314"]
    for cp in ("cp310", "cp311", "cp312", "cp313", "cp314"):
        assert_vendored(vendor / cp, cp, "x86_64")
    record = json.loads((plugins / PLUGIN / ".bgcut-install.json").read_text())
    assert [v["python"] for v in record["vendor"]] == ["3.10", "3.11", "3.12", "3.13", "3.14"]


def test_explicit_gimp_python_still_wins_over_what_is_found(tmp_path):
    gimp = mk(tmp_path, "Program Files/GIMP 3")
    pe(gimp / "bin/python3.12.exe", AMD64)
    res = _install(
        tmp_path / "home",
        ["--gimp-dir", str(tmp_path / "p"), "--gimp-app", str(gimp), "--gimp-python", "3.13", "--dry-run"],
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "numpy/Pillow/requests for Python 3.13 (win_amd64)" in res.stdout
    assert "as asked with --gimp-python" in res.stdout
    assert not (tmp_path / "p").exists()


# -- development installs: links to the checkout --------------------------------------------


def checkout_digest() -> str:
    """Every tracked file of the checkout's code, with its mode, hashed."""
    h = hashlib.sha256()
    for folder in ("plugin", "addon_blender"):
        for path in sorted((REPO / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                h.update(str(path.relative_to(REPO)).encode())
                h.update(oct(path.stat().st_mode).encode())
                h.update(path.read_bytes())
    return h.hexdigest()


def links(folder: Path) -> dict[str, str]:
    """Every symbolic link under folder (not followed) and where it points."""
    found = {}
    for here, dirs, names in os.walk(folder):
        for name in dirs + names:
            path = Path(here, name)
            if path.is_symlink():
                found[str(path.relative_to(folder))] = os.readlink(path)
    return found


@pytest.fixture(scope="module")
def extension_zip(tmp_path_factory) -> Path:
    from blender_host import build_extension

    return build_extension(tmp_path_factory.mktemp("dist"))


def test_gimp_dev_install_links_the_checkout_and_uninstall_removes_only_the_links(tmp_path):
    before = checkout_digest()
    home = tmp_path / "home"
    profile = mk(home, ".config/GIMP/3.0")
    target = profile / "plug-ins" / PLUGIN
    res = _install(home, ["--gimp", "--dev", "--no-vendor"])
    assert res.returncode == 0, res.stdout + res.stderr
    assert "as links to this checkout" in res.stdout
    assert not target.is_symlink() and (target / ".bgcut-install.json").is_file()
    src = REPO / "plugin/gimp" / PLUGIN
    expected = {p.name: str(p) for p in src.iterdir() if p.name != "__pycache__"}
    expected["lib/bgcut"] = str(REPO / "plugin/bgcut")
    assert links(target) == expected
    assert os.access(target / f"{PLUGIN}.py", os.X_OK)
    record = json.loads((target / ".bgcut-install.json").read_text())
    assert record["dev"] == str(REPO) and "lib/bgcut" in record["files"]
    # the linked plug-in imports the checkout's live core from its own folder
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.path[:0] = sys.argv[1:]; import bgcut; print(bgcut.__file__)",
            str(target / "lib"),
        ],
        capture_output=True,
        text=True,
    )
    assert Path(probe.stdout.strip()).resolve() == REPO / "plugin/bgcut/__init__.py", probe.stderr
    # Python's caches next to the links are bgcut's; a file of the user's stays
    mk(target, "__pycache__")
    (target / "__pycache__/bgcut_console.cpython-313.pyc").write_bytes(b"cache")
    (target / "my-notes.txt").write_text("mine")
    listed = _install(home, ["--gimp", "--list"])
    assert f"installed (development links to {REPO})" in listed.stdout
    again = _install(home, ["--gimp", "--dev", "--no-vendor"])  # an upgrade swaps links, keeps mine
    assert again.returncode == 0 and "kept what bgcut did not write: my-notes.txt" in again.stdout
    res = _install(home, ["--gimp", "--uninstall"])
    assert res.returncode == 0, res.stdout + res.stderr
    assert sorted(p.name for p in target.iterdir()) == [".bgcut-install.json", "my-notes.txt"]
    assert checkout_digest() == before
    assert (REPO / "plugin/bgcut/__init__.py").is_file() and (src / f"{PLUGIN}.py").is_file()


def test_blender_dev_install_links_the_addon_and_core_and_uninstall_restores_the_home(
    tmp_path, extension_zip
):
    before = checkout_digest()
    home = tmp_path / "home"
    mk(home, ".config/blender/5.0")
    target = home / ".config/blender/5.0/extensions/user_default/bgcut"
    res = _install(home, ["--blender", "--dev", "--blender-zip", str(extension_zip)])
    assert res.returncode == 0, res.stdout + res.stderr
    expected = {p.name: str(p) for p in (REPO / "addon_blender").glob("*.py")}
    expected["bgcut"] = str(REPO / "plugin/bgcut")
    assert links(target) == expected
    manifest = (target / "blender_manifest.toml").read_text()  # the built one, wheels listed
    assert not (target / "blender_manifest.toml").is_symlink() and "./wheels/pillow-" in manifest
    for line in manifest.split("wheels = [", 1)[1].split("]", 1)[0].split(","):
        assert (target / line.strip().strip('"')).is_file()
    res = _install(home, ["--blender", "--uninstall"])
    assert res.returncode == 0, res.stdout + res.stderr
    assert not (home / ".config/blender/5.0/extensions").exists()
    assert sorted(p.name for p in home.rglob("*")) == [".config", "5.0", "blender"]
    assert checkout_digest() == before


def test_dev_install_still_refuses_a_users_symlink_at_the_target(tmp_path):
    home = tmp_path / "home"
    plugins = mk(home, ".config/GIMP/3.0/plug-ins")
    mine = mk(tmp_path, "my-own-plugin")
    (plugins / PLUGIN).symlink_to(mine)
    res = _install(home, ["--gimp", "--dev", "--no-vendor"])
    assert res.returncode == 1 and "is a symbolic link" in res.stdout
    assert list(mine.iterdir()) == [] and os.readlink(plugins / PLUGIN) == str(mine)


# -- real hosts --------------------------------------------------------------------------


@pytest.mark.gimp
@pytest.mark.parametrize("version,python", [("3.0", "3.13"), ("3.2", "3.14")])
def test_found_python_is_vendored_and_without_it_the_plugin_names_that_python(tmp_path, version, python):
    """install.py finds the GIMP root's Python from GIMP's .interp file and vendors for it;
    the plug-in runs; with lib/vendor gone it still registers and names the exact command."""
    from bgcut.emulator import Emulator
    from gimp_host import Gimp, gimp_root

    root = gimp_root("bare", version)
    home = tmp_path / "home"
    profile = mk(home, f".config/GIMP/{version}")
    res = _install(home, ["--gimp", "--gimp-app", str(root)])
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"numpy/Pillow/requests for Python {python} (manylinux" in res.stdout
    assert f"GIMP's Python {python} found at {root}/usr/bin/python3" in res.stdout  # Debian: no .interp
    target = profile / "plug-ins" / PLUGIN
    assert sorted(p.name for p in (target / "lib/vendor").iterdir()) == [f"cp{python.replace('.', '')}"]
    gimp = Gimp(root, mk(tmp_path, "no-extra-plugins"), profile, tmp_path / "io")
    img, truth = subject_photo(120, 90, seed=83)
    with Emulator({KEY: 10}) as emu:
        run = gimp.run(
            {"input": "in.png", "args": {"output": "rgba-layer"}},
            {"in.png": encode(img)},
            {"BACKGROUNDCUT_API_KEY": KEY, "BACKGROUNDCUT_ENDPOINT": emu.endpoint},
        )
    assert run.report["status"] == "success", run.report
    assert iou(run.pixels(run.layers()[0])[..., 3] > 127, truth) > 0.95
    shutil.rmtree(target / "lib/vendor")
    run = gimp.run({"input": "in.png"}, {"in.png": encode(img)}, {"BACKGROUNDCUT_API_KEY": KEY})
    run.assert_names_the_fix(python)


@pytest.mark.blender
def test_dev_linked_addon_enables_and_runs_in_real_blender(tmp_path, extension_zip):
    from bgcut.emulator import Emulator
    from blender_host import bpy_python, run_job

    home = tmp_path / "home"
    resources = mk(home, ".config/blender/5.0")
    res = _install(home, ["--blender", "--dev", "--blender-zip", str(extension_zip)])
    assert res.returncode == 0, res.stdout + res.stderr
    img, truth = subject_photo(160, 120, seed=84)
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
    assert (resources / "extensions/user_default/bgcut/bgcut").is_symlink()
