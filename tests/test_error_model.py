"""Errors as data: kind, status, retry-after and a remedy each host phrases in its own words;
"Nothing was changed." said once; causes chained and logged without the key (real HTTP on
loopback to the emulator)."""

from __future__ import annotations

import copy
import socket
import sys
import traceback

import bgcut
import pytest
import requests
from bgcut import errors, model
from bgcut.client import BackgroundCutClient
from bgcut.emulator import Emulator
from bgcut.options import CutOptions
from bgcut.upload import prepare_upload
from imagery import subject_photo

SECRET = "sk-live-SECRET-5e4d3c2b1a09f8e7"


def _upload():
    return prepare_upload(subject_photo(64, 48, seed=700)[0], CutOptions())


def _refused_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v2/cut/"


def _failure(client: BackgroundCutClient) -> errors.BgcutError:
    with pytest.raises(errors.BgcutError) as info:
        client.fetch_answer(_upload(), CutOptions())
    return info.value


def test_every_remedy_is_phrased_for_every_host():
    for remedy in errors.Remedy:
        assert set(errors.PHRASES[remedy]) == set(errors.HOSTS), remedy
    blender = [errors.PHRASES[r]["blender"] for r in errors.Remedy]
    assert all("bgcut config" not in text for text in blender)
    assert all("Edit ▸ Preferences ▸ Add-ons ▸ bgcut" in text for text in blender)


def test_a_refusal_is_data_and_each_host_says_what_to_do_in_its_words(emulator):
    exc = _failure(BackgroundCutClient("wrong-key-000000000000", emulator.endpoint))
    assert isinstance(exc, errors.AuthError)
    assert (exc.kind, exc.status, exc.remedy) == ("auth", 401, errors.Remedy.REPLACE_KEY)
    assert errors.message_for(exc, host="cli") == str(exc)
    assert "bgcut config --set-key" in str(exc)
    blender = errors.message_for(exc, host="blender")
    assert blender.startswith("The API key is missing or invalid (401).")
    assert "Edit ▸ Preferences ▸ Add-ons ▸ bgcut" in blender and "bgcut config" not in blender
    gimp = errors.message_for(exc, host="gimp")
    assert "Remove Background" in gimp and gimp != str(exc)
    with pytest.raises(ValueError):
        errors.message_for(exc, host="photoshop")


def test_a_missing_key_keeps_the_cli_words_and_gives_blender_its_own(monkeypatch):
    monkeypatch.delenv("BACKGROUNDCUT_API_KEY", raising=False)
    with pytest.raises(errors.MissingKeyError) as info:
        bgcut.make_engine("backgroundcut")
    exc = info.value
    assert str(exc).startswith("No BackgroundCut API key is set. Run `bgcut config --set-key`")
    assert "API key in Edit ▸ Preferences ▸ Add-ons ▸ bgcut" in errors.message_for(exc, "blender")
    assert copy.copy(exc).args == exc.args  # copies (a twin request's error) keep the text


def test_rate_limit_carries_status_and_retry_after(emulator, key):
    emulator.inject("rate_limit", retry_after="5", count=3)
    exc = _failure(BackgroundCutClient(key, emulator.endpoint, retry_budget=1.0))
    assert isinstance(exc, errors.RateLimitError)
    assert (exc.kind, exc.status, exc.retry_after) == ("rate-limit", 429, 5.0)
    again = copy.copy(exc)
    assert (str(again), again.status, again.retry_after, again.too_long) == (
        str(exc),
        429,
        5.0,
        exc.too_long,
    )


def test_endpoint_error_names_the_host_s_place_to_fix_it(key):
    with Emulator({key: 5}) as emu:
        wrong = emu.endpoint.rstrip("/")  # the API answers 450 without the trailing slash
        exc = _failure(BackgroundCutClient(key, wrong))
    assert (exc.kind, exc.status, exc.remedy) == ("endpoint", 450, errors.Remedy.FIX_ENDPOINT)
    assert str(exc).endswith("Fix it with `bgcut config --endpoint` or unset BACKGROUNDCUT_ENDPOINT.")
    assert "Endpoint in Edit ▸ Preferences ▸ Add-ons ▸ bgcut" in errors.message_for(exc, "blender")


def test_nothing_was_changed_is_said_once(emulator, key):
    emulator.inject("reset", count=10)
    reset = _failure(BackgroundCutClient(key, emulator.endpoint, sleep=lambda s: None))
    assert str(reset).endswith("Try again; nothing was changed.")
    for host in errors.HOSTS:
        assert errors.message_for(reset, host, unchanged=True).lower().count("nothing was changed") == 1
    with Emulator({key: 0}) as broke:
        credits = _failure(BackgroundCutClient(key, broke.endpoint))
    said = errors.message_for(credits, "gimp", unchanged=True)
    assert said == f"{credits} Nothing was changed."
    assert errors.message_for(credits, "gimp") == str(credits)  # only when the host knows it


def test_a_binding_gets_a_host_error_chained_to_the_core_error(emulator):
    with pytest.raises(errors.HostError) as info, errors.phrased_for("blender", unchanged=True):
        BackgroundCutClient("wrong-key-000000000000", emulator.endpoint).fetch_answer(_upload(), CutOptions())
    host = info.value
    assert isinstance(host, errors.BgcutError)
    assert isinstance(host.__cause__, errors.AuthError)
    assert (host.kind, host.status) == ("auth", 401)
    assert "Edit ▸ Preferences" in str(host) and str(host).endswith("Nothing was changed.")
    with pytest.raises(errors.AbandonedError), errors.phrased_for("blender", keep=(errors.CancelledError,)):
        raise errors.AbandonedError("stopped")


def test_the_dead_retryable_flag_is_gone():
    classes = [errors.BgcutError, *_subclasses(errors.BgcutError)]
    assert len(classes) > 20
    assert not [c for c in classes if hasattr(c, "retryable")]


def _subclasses(cls: type) -> list[type]:
    return [s for c in cls.__subclasses__() for s in (c, *_subclasses(c))]


def _chain(exc: BaseException | None) -> list[BaseException]:
    found = []
    while exc is not None and len(found) < 20:
        found.append(exc)
        exc = exc.__cause__ or exc.__context__
    return found


@pytest.mark.parametrize("case", ["refused", "reset", "truncate", "status", "unknown key", "abandonable"])
def test_debug_log_and_traceback_of_a_failed_call_name_the_cause_never_the_key(case, debug_log):
    with Emulator({SECRET: 5}) as emu:
        endpoint = _refused_url() if case == "refused" else emu.endpoint
        key = "sk-live-UNKNOWN-0a1b2c3d4e5f6789" if case == "unknown key" else SECRET
        if case in ("reset", "truncate", "abandonable"):
            emu.inject("reset" if case == "abandonable" else case, count=10)
        if case == "status":
            emu.inject("status", 500, count=10)
        client = BackgroundCutClient(key, endpoint, retry_budget=2.0, sleep=lambda s: None)
        cancel = bgcut.Cancel() if case == "abandonable" else None
        exc = _failed_call(client, cancel)
    shown = "".join(traceback.format_exception(exc))
    with_locals = "".join(
        traceback.TracebackException.from_exception(exc, capture_locals=True).format(chain=True)
    )
    log = debug_log.getvalue()
    for text in (shown, with_locals, log, repr(exc), str(exc)):
        assert SECRET not in text and key not in text
    chain = _chain(exc)
    assert not [e for e in chain if isinstance(e, requests.exceptions.RequestException)]
    assert "POST " + endpoint in log
    if case in ("refused", "reset", "truncate", "abandonable"):
        cause = chain[-1]
        assert isinstance(cause, errors.Cause) and cause.__traceback__ is None
        assert "requests.exceptions." in str(cause) and "requests.exceptions." in shown
        assert "request failed: " in log
    else:
        assert f"refused: {exc.kind} ({exc.status}" in log
    if case != "unknown key" and case != "refused":
        assert "retrying in" in log or "asking once more" in log or "giving up" in log


def _failed_call(client: BackgroundCutClient, cancel: bgcut.Cancel | None) -> errors.BgcutError:
    """The error of a cut, caught where no local holds the key (the test's own do), so
    the frames of its traceback are the library's."""
    try:
        client.fetch_answer(_upload(), CutOptions(), cancel=cancel)
    except errors.BgcutError as exc:
        return exc
    raise AssertionError("the cut succeeded")


def test_a_key_quoted_by_a_library_error_is_redacted_in_its_cause():
    cause = errors.Cause.of(ValueError(f"header Authorization: {SECRET} refused"), SECRET)
    assert SECRET not in str(cause) and "****" in str(cause) and str(cause).startswith("builtins.ValueError")


def test_an_unreadable_config_file_is_explained_in_each_hosts_words():
    from bgcut import config

    config.config_file().parent.mkdir(parents=True, exist_ok=True)
    config.config_file().write_text("{not json")
    with pytest.raises(errors.ConfigError) as caught:
        config.find_key()
    where = str(config.config_file())
    assert str(caught.value) == (
        f"The bgcut config file {where} is unreadable. Remove it and run `bgcut config --set-key` again."
    )
    blender = errors.message_for(caught.value, "blender")
    assert blender == (
        f"The bgcut config file {where} is unreadable. Remove it, then paste your key into "
        "API key in Edit ▸ Preferences ▸ Add-ons ▸ bgcut."
    )
    assert errors.message_for(caught.value, "gimp").endswith("paste your key when GIMP asks.")


# -- what the core says to every host, in each host's words ------------------------------
_BLENDER_PREFS = "Edit ▸ Preferences ▸ Add-ons ▸ bgcut"
_CLI_ONLY = ("`bgcut ", "pip install", "--quality", "--set-key")


def _said_by_hosts(what: BaseException | str) -> dict[str, str]:
    return {host: errors.message_for(what, host) for host in errors.HOSTS}


def test_no_remedy_sends_a_blender_or_gimp_user_to_pip_or_a_cli_flag_it_has_no_use_for():
    for remedy in errors.Remedy:
        said = errors.PHRASES[remedy]
        assert not [w for w in ("`bgcut ", "pip install") if w in said["blender"]], remedy
        assert "pip install" not in said["gimp"] and "--quality" not in said["gimp"], remedy


def test_a_stored_key_with_a_bad_character_is_explained_in_each_hosts_words():
    from bgcut import config

    config.config_file().parent.mkdir(parents=True, exist_ok=True)
    config.config_file().write_text('{"api_key": "sk-live two words"}')
    with pytest.raises(errors.InvalidKeyError) as caught:
        config.find_key()
    exc = caught.value
    problem = (
        f"The API key stored in {config.config_file()} contains a line break, a space or "
        "another character no API key has."
    )
    said = _said_by_hosts(exc)
    assert str(exc) == said["cli"] == f"{problem} Run `bgcut config --set-key` and paste the key again."
    assert said["blender"] == f"{problem} Paste the key again into API key in {_BLENDER_PREFS}."
    assert said["gimp"].startswith(problem) and "run Remove Background again" in said["gimp"]
    assert "sk-live" not in "".join(said.values())


def test_the_auto_engine_s_notice_is_a_string_each_host_says_in_its_own_words(local_model):
    notice = bgcut.make_engine("auto").notice
    assert isinstance(notice, str)
    assert notice == (
        "No BackgroundCut API key is set: using the local u2netp engine. For the service's "
        "quality, set a key with `bgcut config --set-key`."
    )
    said = _said_by_hosts(notice)
    assert said["cli"] == notice
    assert said["blender"].endswith(f"paste your key into API key in {_BLENDER_PREFS}.")
    assert "choose Engine: BackgroundCut in the dialog" in said["gimp"]
    for host in ("gimp", "blender"):
        assert said[host].startswith("No BackgroundCut API key is set: using the local u2netp engine.")
        assert not [w for w in _CLI_ONLY if w in said[host]], host
    assert (
        errors.message_for("A plain line of an engine's own.", "gimp") == "A plain line of an engine's own."
    )


def test_a_missing_model_is_explained_in_each_hosts_words():
    with pytest.raises(errors.EngineError) as info:
        bgcut.remove_background(subject_photo(64, 48)[0], engine="local")
    exc = info.value
    assert exc.remedy is errors.Remedy.INSTALL_MODEL
    said = _said_by_hosts(exc)
    assert str(exc) == said["cli"] and said["cli"].endswith(
        f"is not installed ({model.model_path()}). Run `bgcut engine install` to fetch it (about 4.6 MB, "
        "checksum verified)."
    )
    assert "install.py --blender --local-engine" in said["blender"] and _BLENDER_PREFS in said["blender"]
    assert "install.py --gimp --local-engine" in said["gimp"] and "restart GIMP" in said["gimp"]
    assert not [w for w in _CLI_ONLY if w in said["blender"]]


def test_a_missing_onnxruntime_is_explained_in_each_hosts_words(local_model, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` now fails
    with pytest.raises(errors.EngineError) as info:
        bgcut.remove_background(subject_photo(64, 48)[0], engine="local")
    said = _said_by_hosts(info.value)
    assert said["cli"] == "The local engine needs onnxruntime. Install it with pip install 'bgcut[local]'."
    assert said["blender"].startswith(
        "The local engine needs onnxruntime. To cut offline, install the add-on"
    )
    assert "install.py --gimp --local-engine" in said["gimp"]
    for host in ("gimp", "blender"):
        assert "pip install" not in said[host], host


def test_a_slow_answer_names_each_hosts_quality_setting(emulator, key):
    emulator.inject("delay", 1.5)
    client = BackgroundCutClient(key, emulator.endpoint, timeout=(2.0, 0.5), retry_budget=0.1)
    exc = _failure(client)
    assert (type(exc), exc.remedy) == (errors.NetworkError, errors.Remedy.LOWER_QUALITY)
    said = _said_by_hosts(exc)
    assert said["cli"].startswith("The BackgroundCut API did not answer within ")
    assert "`--quality Low`" in said["cli"]
    assert said["gimp"].endswith("choose Quality: Low in the dialog for a faster answer.")
    assert said["blender"].endswith(f"choose Quality: Low in {_BLENDER_PREFS} for a faster answer.")
