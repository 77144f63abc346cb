"""A key with a line break (or any character no key has) is refused where it enters, with a
typed message naming where it came from, before any request, and the key never shows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import bgcut
import pytest
from bgcut import config, errors
from bgcut.emulator import Emulator
from imagery import encode, subject_photo

GOOD = "test-key-7f3a9c2e51b84d06"  # conftest's KEY: the emulator knows it
HEAD, TAIL = "test-key-7f3a", "9c2e51b84d06"
BAD = [HEAD + sep + TAIL for sep in ("\n", "\r\n", "\r", "\t", " ", "\x00", "\x7f", "é", "€", "\u2028")]


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bgcut", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


def photo(tmp_path: Path) -> Path:
    src = tmp_path / "photo.png"
    src.write_bytes(encode(subject_photo(120, 90, seed=900)[0]))
    return src


def assert_no_key(*texts: str) -> None:
    for text in texts:
        assert HEAD not in text and TAIL not in text, text


def write_config_key(value: str) -> Path:
    """A config file holding `value`, as a hand edit or an older bgcut could leave it."""
    path = config.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"api_key": value}), encoding="utf-8")
    return path


@pytest.mark.parametrize("bad", BAD[:2] + BAD[-2:], ids=["LF", "CRLF", "euro", "LS"])
def test_cli_argument_is_refused_without_showing_the_key(tmp_path, emulator, bad):
    res = run_cli(["cut", str(photo(tmp_path)), "--api-key", bad, "--endpoint", emulator.endpoint], {})
    assert res.returncode in (1, 2)
    assert "The API key given as an argument (--api-key or api_key=) contains a line break" in res.stderr
    assert "Unexpected failure" not in res.stderr and "Traceback" not in res.stderr
    assert_no_key(res.stdout, res.stderr)
    assert emulator.seen == [] and not (tmp_path / "photo-cut.png").exists()


def test_cli_environment_key_is_refused_and_a_clean_one_still_works(tmp_path, emulator):
    src = photo(tmp_path)
    env = {"BACKGROUNDCUT_ENDPOINT": emulator.endpoint, "BACKGROUNDCUT_API_KEY": f"{HEAD}\n{TAIL}"}
    res = run_cli(["cut", str(src)], env)
    assert res.returncode == 1
    assert "The API key in BACKGROUNDCUT_API_KEY contains a line break" in res.stderr
    assert "unset it" in res.stderr
    assert_no_key(res.stdout, res.stderr)
    assert emulator.seen == []
    ok = run_cli(["cut", str(src)], {**env, "BACKGROUNDCUT_API_KEY": GOOD + "\n"})  # $(cat keyfile)
    assert ok.returncode == 0, ok.stderr
    assert emulator.charged(GOOD) == 1


def test_cli_config_file_key_is_refused_naming_the_file(tmp_path, emulator):
    path = write_config_key(f"{HEAD}\n{TAIL}")
    res = run_cli(["cut", str(photo(tmp_path)), "--endpoint", emulator.endpoint], {})
    assert res.returncode == 1
    assert f"The API key stored in {path} contains a line break" in res.stderr
    assert "bgcut config --set-key" in res.stderr
    assert_no_key(res.stdout, res.stderr)
    assert emulator.seen == []


def test_a_bad_key_is_never_skipped_for_the_next_source(emulator, monkeypatch):
    write_config_key(GOOD)
    monkeypatch.setenv("BACKGROUNDCUT_API_KEY", f"{HEAD} {TAIL}")
    with pytest.raises(errors.InvalidKeyError, match="BACKGROUNDCUT_API_KEY"):
        bgcut.make_engine("auto", endpoint=emulator.endpoint)
    monkeypatch.delenv("BACKGROUNDCUT_API_KEY")
    with pytest.raises(errors.InvalidKeyError, match="given as an argument"):
        config.find_key(f"{HEAD}\t{TAIL}")


def test_a_config_file_that_is_not_an_object_is_a_config_error():
    config.config_file().parent.mkdir(parents=True)
    config.config_file().write_text(json.dumps([f"{HEAD}\n{TAIL}"]))
    with pytest.raises(errors.ConfigError, match="unreadable") as caught:
        config.find_key()
    assert_no_key(str(caught.value), repr(caught.value))


@pytest.mark.parametrize(
    "bad", BAD, ids=["LF", "CRLF", "CR", "TAB", "SP", "NUL", "DEL", "e-acute", "euro", "LS"]
)
def test_library_raises_option_error_without_the_key(emulator, bad):
    img, _ = subject_photo(60, 40)
    with pytest.raises(errors.OptionError) as caught:
        bgcut.remove_background(img, api_key=bad, endpoint=emulator.endpoint)
    exc = caught.value
    assert isinstance(exc, errors.InvalidKeyError) and isinstance(exc, errors.ConfigError)
    assert exc.__cause__ is None and exc.__context__ is None
    assert_no_key(str(exc), repr(exc), repr(exc.args))
    assert "contains a line break" in str(exc)
    assert emulator.seen == []


@pytest.mark.parametrize("bad", [BAD[0], BAD[8]], ids=["LF", "euro"])
def test_set_key_refuses_and_stores_nothing(bad):
    res = run_cli(["config", "--set-key", bad], {})
    assert res.returncode == 1
    assert "That API key contains a line break" in res.stderr and "nothing was stored" in res.stderr
    assert_no_key(res.stdout, res.stderr)
    assert not config.config_file().exists()
    with pytest.raises(errors.InvalidKeyError):
        config.store_key(bad)
    assert not config.config_file().exists()


# -- the hosts ---------------------------------------------------------------------------
def _gimp():
    sys.path.insert(0, str(Path(__file__).parent / "hosts"))
    from gimp_host import Gimp, gimp_root, install_plugin

    return Gimp, gimp_root, install_plugin


@pytest.fixture(scope="module")
def gimp_plugins(tmp_path_factory) -> Path:
    _, _, install_plugin = _gimp()
    plugins = tmp_path_factory.mktemp("plugins-keys")
    install_plugin(plugins, "--no-vendor")
    return plugins


def _gimp_run(tmp_path: Path, plugins: Path, env: dict[str, str], prepare=None):
    Gimp, gimp_root, _ = _gimp()
    gimp = Gimp(gimp_root("full"), plugins, tmp_path / "profile", tmp_path / "io")
    (tmp_path / "profile").mkdir()
    img = encode(subject_photo(120, 90, seed=910)[0])
    return gimp.run(
        {"input": "in.png", "args": {"output": "rgba-layer"}}, {"in.png": img}, env, prepare=prepare
    )


@pytest.mark.gimp
def test_gimp_refuses_a_key_with_a_line_break_from_the_environment(tmp_path, gimp_plugins):
    with Emulator({GOOD: 5}) as emu:
        run = _gimp_run(
            tmp_path,
            gimp_plugins,
            {"BACKGROUNDCUT_API_KEY": f"{HEAD}\n{TAIL}", "BACKGROUNDCUT_ENDPOINT": emu.endpoint},
        )
        assert emu.seen == []
    assert run.report["status"] == "execution-error"
    assert "The API key in BACKGROUNDCUT_API_KEY contains a line break" in run.report["message"]
    assert "unexpectedly" not in run.report["message"]
    assert_no_key(run.report["message"], run.stdout)
    before, after = run.layers("before"), run.layers("after")
    assert len(after) == len(before) == 1 and after[0]["mask"] is None
    assert (run.io / after[0]["pixels"]).read_bytes() == (run.io / before[0]["pixels"]).read_bytes()


@pytest.mark.gimp
def test_gimp_refuses_a_bad_key_in_the_config_file(tmp_path, gimp_plugins):
    def bad_config(io_dir: Path) -> None:
        (io_dir / "config").mkdir()
        (io_dir / "config" / "config.json").write_text(json.dumps({"api_key": f"{HEAD}€{TAIL}"}))

    with Emulator({GOOD: 5}) as emu:
        run = _gimp_run(tmp_path, gimp_plugins, {"BACKGROUNDCUT_ENDPOINT": emu.endpoint}, prepare=bad_config)
        assert emu.seen == []
    assert run.report["status"] == "execution-error"
    assert "The API key stored in /x/io/config/config.json contains" in run.report["message"]
    assert_no_key(run.report["message"], run.stdout)


@pytest.mark.gimp
def test_gimp_unexpected_failure_shows_the_type_only(tmp_path, tmp_path_factory):
    """A foreign exception quoting the key (as requests' ValueError did) is shown by type."""
    _, _, install_plugin = _gimp()
    plugins = tmp_path_factory.mktemp("plugins-faulty")
    install_plugin(plugins, "--no-vendor")
    action = next(plugins.rglob("bgcut_gimp_action.py"))
    with action.open("a") as fh:  # fault injection into this test's own installed copy
        fh.write(
            f"\n\ndef remove_background(*a, **k):\n    raise ValueError('Invalid header value {HEAD}')\n"
        )
    run = _gimp_run(tmp_path, plugins, {"BACKGROUNDCUT_API_KEY": GOOD})
    assert run.report["status"] == "execution-error"
    assert "bgcut failed unexpectedly (ValueError)" in run.report["message"]
    assert_no_key(run.report["message"])


def _blender_job(tmp_path: Path, job: dict, env: dict[str, str], fault: str = "") -> dict:
    """Run the built extension in Blender; `fault` is appended to its actions.py."""
    sys.path.insert(0, str(Path(__file__).parent / "hosts"))
    from blender_host import bpy_python, build_extension, run_job

    zip_path = build_extension(tmp_path / "dist")
    if fault:
        zip_path = _with_fault(zip_path, fault)
    work = tmp_path / "work"
    work.mkdir()
    (work / "in.png").write_bytes(encode(subject_photo(120, 90, seed=920)[0]))
    full = {"zip": str(zip_path), "input": "in.png", "action": "image_op_by_name", "args": {}, **job}
    return run_job(bpy_python(), work, full, env) | {"work": work}


def _with_fault(zip_path: Path, fault: str) -> Path:
    """A copy of the extension zip whose actions.py ends with `fault` (fault injection)."""
    import zipfile

    faulty = zip_path.with_name("faulty-" + zip_path.name)
    with zipfile.ZipFile(zip_path) as src, zipfile.ZipFile(faulty, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "actions.py":
                data += fault.encode()
            dst.writestr(info, data)
    return faulty


@pytest.mark.blender
def test_blender_refuses_a_key_with_a_line_break_from_the_environment(tmp_path):
    with Emulator({GOOD: 5}) as emu:
        report = _blender_job(
            tmp_path, {}, {"BACKGROUNDCUT_API_KEY": f"{HEAD}\n{TAIL}", "BACKGROUNDCUT_ENDPOINT": emu.endpoint}
        )
        assert emu.seen == []
    assert not report["ok"]
    assert "The API key in BACKGROUNDCUT_API_KEY contains a line break" in report["error"]
    assert_no_key(report["error"], report["log"])
    assert report["images"] == {} and report["source_unchanged"]


@pytest.mark.blender
def test_blender_preferences_refuse_a_bad_key_and_store_nothing(tmp_path):
    with Emulator({GOOD: 5}) as emu:
        report = _blender_job(
            tmp_path, {"key_via_preferences": f"{HEAD}€{TAIL}"}, {"BACKGROUNDCUT_ENDPOINT": emu.endpoint}
        )
        assert emu.seen == []
    assert report["prefs_key_masked"] is False  # nothing was stored
    assert not (report["work"] / "home" / "bgcut-config" / "config.json").exists()
    assert "That API key contains a line break" in report["log"]
    assert "No BackgroundCut API key is set" in report["error"]
    assert_no_key(report["error"], report["log"])


@pytest.mark.blender
def test_blender_unexpected_failure_shows_the_type_only(tmp_path):
    """A foreign exception quoting the key (as requests' ValueError did) is shown by type."""
    fault = f"\n\ndef cut(*a, **k):\n    raise ValueError('Invalid header value {HEAD}')\n"
    with Emulator({GOOD: 5}) as emu:
        env = {"BACKGROUNDCUT_API_KEY": GOOD, "BACKGROUNDCUT_ENDPOINT": emu.endpoint}
        report = _blender_job(tmp_path, {}, env, fault=fault)
    assert not report["ok"]
    assert "bgcut failed unexpectedly (ValueError)" in report["error"]
    assert_no_key(report["error"])
    assert report["images"] == {} and report["source_unchanged"]


@pytest.mark.gimp
def test_gimp_key_prompt_refuses_a_bad_key_and_stores_nothing(tmp_path, gimp_plugins):
    """The real GUI prompt, typed into as a user would (under Xvfb)."""
    Gimp, gimp_root, _ = _gimp()
    from gimp_host import HOSTS

    io_dir, profile = tmp_path / "io", tmp_path / "profile"
    io_dir.mkdir()
    profile.mkdir()
    (io_dir / "in.png").write_bytes(encode(subject_photo(120, 90, seed=930)[0]))
    typed = f"{HEAD}€{TAIL}"
    with Emulator({GOOD: 5}) as emu:
        out = subprocess.run(
            ["bash", str(HOSTS / "gimp_gui.sh"), str(gimp_root("gui")), str(gimp_plugins), str(io_dir)]
            + [str(profile), typed, f"BACKGROUNDCUT_ENDPOINT={emu.endpoint}"]
            + ["BGCUT_CONFIG_DIR=/x/io/config", "BGCUT_CACHE_DIR=/x/io/cache"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert emu.seen == []
    log = (io_dir / "gimp.log").read_text() if (io_dir / "gimp.log").exists() else out.stderr
    report = json.loads((io_dir / "report.json").read_text())
    assert (io_dir / "dialog2.png").exists(), log  # the key prompt was shown and answered
    assert report["status"] == "execution-error", report
    assert "That API key contains a line break" in report["message"]
    assert "nothing was stored" in report["message"]
    assert_no_key(report["message"], log)
    assert not (io_dir / "config" / "config.json").exists()
