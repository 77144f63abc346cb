"""The API key lives in exactly one place: the 0600 config file. Everything else bgcut
writes or shows is captured and searched for it; TLS and redirects are checked too."""

from __future__ import annotations

import os
import ssl
import stat
import subprocess
import sys
import threading
from pathlib import Path

import bgcut
import pytest
from bgcut import config, errors
from bgcut.emulator import Emulator
from bgcut.options import CutOptions
from bgcut.pacing import RatePacer
from bgcut.source import load_source
from imagery import encode, subject_photo
from PIL import Image

SECRET = "sk-live-SECRET-9f8e7d6c5b4a3210"


def files_containing(root: Path, secret: str) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                if secret.encode() in path.read_bytes():
                    found.append(path)
            except OSError:
                continue
    return found


def test_the_key_appears_only_in_the_0600_config_file(tmp_path, debug_log):
    cfg = config.store_key(SECRET)
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    shown: list[str] = []
    img, _ = subject_photo(120, 90, seed=600)
    outputs = tmp_path / "out"
    outputs.mkdir()
    with Emulator({SECRET: 3}) as emu:
        os.environ["BACKGROUNDCUT_ENDPOINT"] = emu.endpoint
        try:
            engine = bgcut.make_engine()
            result = bgcut.remove_background(img, engine=engine)
            result.save(outputs / "cut.png")
            result.save(outputs / "mask.png", "alpha")
            result.save(outputs / "cut.webp")
            items = bgcut.cut_many([img, b"junk"], engine=engine)
            shown += [
                repr(engine),
                repr(engine.client),
                repr(engine.cache),
                repr(result),
                repr(result.upload),
                repr(bgcut.CutOptions()),
                repr(RatePacer()),
                *map(repr, items),
                str(items[1].error),
            ]
            # every kind of failure, with the key in play
            for fault in ("status", "html200", "wrong_size", "rate_limit"):
                emu.inject(fault, 500 if fault == "status" else 5.0, count=10)
                try:
                    bgcut.remove_background(
                        subject_photo(60, 40, seed=601)[0], engine=bgcut.make_engine(retry_budget=0.5)
                    )
                except errors.BgcutError as exc:
                    shown += [str(exc), repr(exc), repr(exc.args)]
            for bad_credit_key in (SECRET,):
                emu.add_key(bad_credit_key, 0)
                with pytest.raises(errors.CreditsError) as info:
                    bgcut.remove_background(subject_photo(60, 40, seed=602)[0], engine=bgcut.make_engine())
                shown += [str(info.value), repr(info.value)]
        finally:
            del os.environ["BACKGROUNDCUT_ENDPOINT"]
    with Emulator({}) as emu2, pytest.raises(errors.AuthError) as info:
        bgcut.remove_background(img, engine=bgcut.make_engine(endpoint=emu2.endpoint))
    shown += [str(info.value), repr(info.value)]
    with pytest.raises(errors.NetworkError) as info:
        bgcut.remove_background(img, engine=bgcut.make_engine(endpoint="http://127.0.0.1:9/v2/cut/"))
    shown += [str(info.value)]
    env = dict(os.environ)
    cli = [
        subprocess.run(
            [sys.executable, "-m", "bgcut", "config", "--show"], capture_output=True, text=True, env=env
        ),
        subprocess.run(
            [
                sys.executable,
                "-m",
                "bgcut",
                "cut",
                str(outputs / "cut.png"),
                "--endpoint",
                "http://127.0.0.1:9/v2/cut/",
                "--out-dir",
                str(tmp_path / "cli"),
            ],
            capture_output=True,
            text=True,
            env=env,
        ),
        subprocess.run(
            [sys.executable, "-m", "bgcut", "config", "--set-key"],
            input=SECRET + "\n",
            capture_output=True,
            text=True,
            env=env,
        ),
    ]
    shown += [c.stdout + c.stderr for c in cli]
    assert "****3210" in cli[0].stdout
    leaks = [s for s in shown + [debug_log.getvalue()] if SECRET in s]
    assert leaks == []
    for out in outputs.iterdir():
        assert SECRET not in str(Image.open(out).info)
    places = files_containing(Path(os.environ["BGCUT_CONFIG_DIR"]).parent, SECRET)
    assert places == [cfg]


@pytest.fixture
def tls_emulator(tmp_path, key):
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with Emulator({key: 5}, ssl_context=ctx) as emu:
        yield emu, str(ca_file)


def test_tls_is_refused_by_default_and_trusted_only_with_its_ca(tls_emulator, key):
    emu, ca_file = tls_emulator
    assert emu.endpoint.startswith("https://localhost:")
    img = subject_photo(60, 40, seed=610)[0]
    with pytest.raises(errors.NetworkError) as info:
        bgcut.remove_background(
            img, engine=bgcut.make_engine("backgroundcut", api_key=key, endpoint=emu.endpoint)
        )
    assert "certificate" in str(info.value)
    assert emu.seen == []  # nothing, not even the key, reached the server
    engine = bgcut.make_engine(
        "backgroundcut", api_key=key, endpoint=emu.endpoint, verify=ca_file, cache=False
    )
    result = bgcut.remove_background(img, engine=engine)
    assert result.mask.shape == (40, 60) and emu.seen[-1].authorization == key


def test_plain_http_is_refused_for_a_non_loopback_host(key):
    for url in (
        "http://api.backgroundcut.co/v2/cut/",
        "http://192.0.2.1/v2/cut/",
        "http://localhost.example/v2/cut/",
    ):
        with pytest.raises(errors.InsecureEndpointError):
            bgcut.make_engine("backgroundcut", api_key=key, endpoint=url)


def test_a_redirect_to_another_host_never_carries_the_key(key):
    from werkzeug.serving import make_server
    from werkzeug.wrappers import Response

    other_hits: list[str | None] = []

    def other(environ, start_response):
        other_hits.append(environ.get("HTTP_AUTHORIZATION"))
        return Response("stolen", 200)(environ, start_response)

    other_server = make_server("127.0.0.2", 0, other)
    threading.Thread(target=other_server.serve_forever, daemon=True).start()
    target = f"http://127.0.0.2:{other_server.server_port}/v2/cut/"

    def first(environ, start_response):
        return Response("", 308, headers={"Location": target})(environ, start_response)

    first_server = make_server("127.0.0.1", 0, first)
    threading.Thread(target=first_server.serve_forever, daemon=True).start()
    try:
        engine = bgcut.make_engine(
            "backgroundcut",
            api_key=key,
            endpoint=f"http://127.0.0.1:{first_server.server_port}/v2/cut/",
            cache=False,
        )
        with pytest.raises(errors.EndpointError):
            bgcut.remove_background(subject_photo(60, 40)[0], engine=engine)
        assert other_hits == []
    finally:
        first_server.shutdown()
        other_server.shutdown()


@pytest.mark.gimp
def test_gimp_keeps_the_key_out_of_its_profile_and_outputs(tmp_path_factory):
    sys.path.insert(0, str(Path(__file__).parent / "hosts"))
    from gimp_host import Gimp, gimp_root, install_plugin

    root = gimp_root("full")
    plugins = tmp_path_factory.mktemp("plugins-secret")
    install_plugin(plugins, "--no-vendor")
    profile = tmp_path_factory.mktemp("profile-secret")
    gimp = Gimp(root, plugins, profile, tmp_path_factory.mktemp("io-secret"))
    img, _ = subject_photo(120, 90, seed=620)

    def store_key(io_dir: Path) -> None:
        os.environ["BGCUT_CONFIG_DIR"] = str(io_dir / "config")
        config.store_key(SECRET)

    with Emulator({SECRET: 5}) as emu:
        run = gimp.run(
            {"input": "in.png", "args": {"output": "rgba-layer"}, "export": "out.png"},
            {"in.png": encode(img)},
            {"BACKGROUNDCUT_ENDPOINT": emu.endpoint},
            prepare=store_key,
        )
    assert run.report["status"] == "success", run.report
    assert (run.io / "out.png").exists()
    assert files_containing(profile, SECRET) == []
    assert files_containing(run.io, SECRET) == [run.io / "config" / "config.json"]
    assert SECRET not in run.stdout


@pytest.mark.blender
def test_blender_keeps_the_key_out_of_blend_and_userprefs(tmp_path_factory, tmp_path):
    sys.path.insert(0, str(Path(__file__).parent / "hosts"))
    from blender_host import bpy_python, build_extension, run_job

    zip_path = build_extension(tmp_path_factory.mktemp("dist-secret"))
    img, _ = subject_photo(120, 90, seed=630)
    (tmp_path / "in.png").write_bytes(encode(img))
    with Emulator({SECRET: 5}) as emu:
        report = run_job(
            bpy_python(),
            tmp_path,
            {
                "zip": str(zip_path),
                "input": "in.png",
                "action": "node_op",
                "args": {"output": "RGBA"},
                "tree": True,
                "save_blend": True,
                "key_via_preferences": SECRET,
            },
            {"BACKGROUNDCUT_ENDPOINT": emu.endpoint},
        )
    assert report["ok"], report
    cfg = tmp_path / "home" / "bgcut-config" / "config.json"
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    assert (tmp_path / "scene.blend").exists()
    (tmp_path / "job.json").unlink()  # the test's own instructions, i.e. what the user typed
    assert files_containing(tmp_path, SECRET) == [cfg]
    assert SECRET not in report["log"]


def test_a_certificate_that_cannot_be_verified_is_not_asked_again(tls_emulator, key):
    """The same certificate would fail the same way: one attempt, no "retrying" notices."""
    emu, _ = tls_emulator
    img = subject_photo(60, 40, seed=611)[0]
    told: list[str] = []
    engine = bgcut.make_engine("backgroundcut", api_key=key, endpoint=emu.endpoint, cache=False)
    with pytest.raises(errors.CertificateError) as info:
        engine.cut(load_source(img), CutOptions(), notify=told.append)
    assert info.value.kind == "certificate" and "certificate" in str(info.value)
    assert told == [] and emu.seen == []
