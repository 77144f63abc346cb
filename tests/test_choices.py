"""One vocabulary: the CLI, GIMP's dialog and Blender's enums are all bgcut.choices'.

The host files are read as source (neither GIMP nor Blender is needed): their choice
tables and the generators that turn bgcut.choices into Gimp.Choice / EnumProperty items
are evaluated against the core, and a value added to the core shows up in every host.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import io
import logging
import subprocess
import sys
import types
from pathlib import Path

import pytest
from bgcut import api, choices, cli
from bgcut.cache import AnswerCache
from bgcut.cli import main
from bgcut.errors import OptionError
from bgcut.options import CutOptions
from imagery import encode, subject_photo

REPO = Path(__file__).resolve().parent.parent
GIMP_ENTRY = REPO / "plugin/gimp/bgcut-remove-background/bgcut-remove-background.py"
BLENDER = REPO / "addon_blender"
TABLES = {
    "ENGINES": choices.ENGINES,
    "QUALITIES": choices.QUALITIES,
    "CHANNELS": choices.CHANNELS,
    "RETURN_FORMATS": choices.RETURN_FORMATS,
    "GIMP_OUTPUTS": choices.GIMP_OUTPUTS,
    "GIMP_SELECTION_MODES": choices.GIMP_SELECTION_MODES,
    "BLENDER_OUTPUTS": choices.BLENDER_OUTPUTS,
}
ULTRA = choices.Choice("Ultra", "Ultra", "A quality a reviewer just added")


# -- reading host files without their host -----------------------------------------------
def host_namespace(path: Path, names: set[str], **extra: object) -> dict[str, object]:
    """The file's top-level definitions named in `names`, run with the core's `choices`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    keep = [
        node
        for node in tree.body
        if (isinstance(node, ast.FunctionDef) and node.name in names)
        or (isinstance(node, ast.Assign) and {getattr(t, "id", None) for t in node.targets} & names)
    ]
    assert {getattr(n, "name", None) or n.targets[0].id for n in keep} == names  # type: ignore[attr-defined]
    ns: dict[str, object] = {"choices": choices, **extra}
    exec(compile(ast.Module(body=keep, type_ignores=[]), str(path), "exec"), ns)  # noqa: S102 - our own file
    return ns


def calls(path: Path, name: str) -> list[ast.Call]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
        and (getattr(n.func, "attr", None) == name or getattr(n.func, "id", None) == name)
    ]


def string_constants(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def gimp_choice_arguments() -> dict[str, choices.Choices]:
    """GIMP's choice arguments (name → the table it is built from), from the entry file."""
    ns = host_namespace(GIMP_ENTRY, {"choice_entries"})
    found = {}
    for call in calls(GIMP_ENTRY, "_add_choice"):
        name = ast.literal_eval(call.args[1])
        found[name] = eval(compile(ast.Expression(call.args[4]), "gimp", "eval"), ns)  # noqa: S307
    return found


def blender_namespace() -> dict[str, object]:
    return host_namespace(
        BLENDER / "preferences.py", {"_NOTES", "enum_items", "OUTPUT_ITEMS", "ENGINE_ITEMS", "QUALITY_ITEMS"}
    )


def blender_enums() -> list[tuple[str, list, str]]:
    """Every EnumProperty in the add-on's preferences and operators: (file, items, default)."""
    ns = blender_namespace()
    ns["preferences"] = types.SimpleNamespace(**ns)
    found = []
    for path in (BLENDER / "preferences.py", BLENDER / "operators.py"):
        for call in calls(path, "EnumProperty"):
            kw = {k.arg: eval(compile(ast.Expression(k.value), path.name, "eval"), ns) for k in call.keywords}  # noqa: S307
            found.append((path.name, kw["items"], kw["default"]))
    return found


def cut_args(argv: list[str]):  # type: ignore[no-untyped-def]
    return cli._parser().parse_args(["cut", "in.png", *argv])


# -- the core's tables ----------------------------------------------------------------------
def test_every_table_has_unique_values_and_its_default_among_them():
    for table in TABLES.values():
        values = table.values()
        assert len(set(v.casefold() for v in values)) == len(values)
        assert table.default in values and all(c.label and c.help for c in table)
    with pytest.raises(ValueError):
        choices.Choices("x", (ULTRA,), default="High")


def test_any_case_is_accepted_and_the_canonical_spelling_kept():
    opts = CutOptions(quality="high", return_type="webp_90", channels="ALPHA")
    assert (opts.quality, opts.return_type, opts.channels) == ("High", "WEBP_90", "alpha")
    assert opts.form_fields()["quality"] == "High"
    assert (
        opts.cache_token()
        == CutOptions(quality="High", return_type="WEBP_90", channels="alpha").cache_token()
    )
    assert choices.ENGINES.canonical("BackgroundCut") == "backgroundcut"
    assert choices.return_type_for("webp-quality", 42) == "WEBP_42"
    assert choices.return_type_for("PNG") == "PNG"
    for bad in ("webp_0", "webp_101", "WEBP_090", "jpeg", "ẉebp", None):
        with pytest.raises(OptionError) as info:
            CutOptions(return_type=bad)  # type: ignore[arg-type]
        assert "WEBP_1 .. WEBP_100" in str(info.value)


def test_the_emulator_checks_return_types_with_the_core_pattern_and_stays_case_sensitive():
    from bgcut.emulator import server

    assert server.RETURN_TYPE_PATTERN is choices.RETURN_TYPE_PATTERN
    with pytest.raises(server._Abort):
        server._validate({"return_type": "webp"})  # the service spells it WEBP; so must a client
    assert server._validate({"return_type": "WEBP_90"})["return_type"] == "WEBP_90"


# -- the CLI ---------------------------------------------------------------------------------
def test_cli_options_take_their_values_and_defaults_from_the_core():
    defaults = cut_args([])
    assert defaults.quality == choices.QUALITIES.default
    assert defaults.channels == choices.CHANNELS.default
    assert defaults.engine == choices.ENGINES.default
    assert defaults.return_type == choices.DEFAULT_RETURN_TYPE == CutOptions().return_type
    assert defaults.max_resolution == choices.MAX_PIXELS == CutOptions().max_resolution
    for flag, table in (
        ("--quality", choices.QUALITIES),
        ("--channels", choices.CHANNELS),
        ("--engine", choices.ENGINES),
    ):
        for value in table.values():
            assert getattr(cut_args([flag, value.upper()]), flag[2:]) == value
            assert getattr(cut_args([flag, value.lower()]), flag[2:]) == value
    assert cut_args(["--return-type", "webp_90"]).return_type == "WEBP_90"


def test_cli_help_shows_every_choice_and_default(capsys):
    with pytest.raises(SystemExit):
        main(["cut", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for table in (choices.QUALITIES, choices.CHANNELS, choices.ENGINES):
        assert "{" + ",".join(table.values()) + "}" in text and f"(default: {table.default})" in text
    assert f"(default: {choices.DEFAULT_RETURN_TYPE})" in text and choices.RETURN_TYPES_TEXT in text
    assert f"(default: {choices.MAX_PIXELS})" in text and "(default: 4)" in text


def test_every_option_of_every_command_has_help_and_the_emulator_names_its_default_key(capsys):
    parser = cli._parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in sub.choices.items():
        for action in command._actions:
            assert action.help, f"bgcut {name} {action.option_strings or action.dest} has no help"
    with pytest.raises(SystemExit):
        main(["emulator", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"(default: {cli.EMULATOR_DEFAULT_KEY}" in text and "'test-key' with 100 credits" in text
    assert "(default: 8765)" in text and "(default: 127.0.0.1)" in text


@pytest.mark.parametrize("jobs", ["0", "-3", "two"])
def test_jobs_below_one_is_a_usage_error(capsys, tmp_path, jobs):
    with pytest.raises(SystemExit) as info:
        main(["cut", str(tmp_path), "--jobs", jobs])
    assert info.value.code == 2
    assert "--jobs: wants a whole number of at least 1" in capsys.readouterr().err


def test_a_bad_choice_names_the_allowed_values(capsys, tmp_path):
    with pytest.raises(SystemExit) as info:
        main(["cut", str(tmp_path), "--engine", "cloud"])
    assert info.value.code == 2
    assert "Invalid engine 'cloud': allowed values are auto, backgroundcut, local." in capsys.readouterr().err


def test_lowercase_choices_go_on_the_wire_canonically(capsys, tmp_path, emulator, key):
    src = tmp_path / "a.png"
    src.write_bytes(encode(subject_photo(96, 64)[0]))
    argv = ["cut", str(src), "-o", str(tmp_path / "m.png"), "--quality", "high", "--return-type", "webp_90"]
    argv += [
        "--channels",
        "ALPHA",
        "--engine",
        "BACKGROUNDCUT",
        "--api-key",
        key,
        "--endpoint",
        emulator.endpoint,
    ]
    assert main(argv) == 0, capsys.readouterr().err
    sent = emulator.seen[-1].fields
    assert (sent["quality"], sent["return_type"], sent["channels"]) == ("High", "WEBP_90", "alpha")
    err = capsys.readouterr().err
    assert "1/1 [" in err and " images/s]" in err  # the plain line carries count, time and rate


# -- the library -------------------------------------------------------------------------------
def test_engine_arguments_beside_an_engine_object_are_named_not_dropped_silently(emulator, key):
    engine = api.make_engine("backgroundcut", api_key=key, endpoint=emulator.endpoint, cache=False)
    img = subject_photo(64, 48)[0]
    with pytest.warns(UserWarning, match="api_key ignored") as caught:
        cut = api.remove_background(img, engine=engine, api_key="another-key-0123456789")
    assert "make_engine" in str(caught[0].message) and "another-key" not in str(caught[0].message)
    assert caught[0].filename == __file__  # points at the caller's line
    assert cut.mask.shape == (48, 64) and emulator.seen[-1].status == 200  # the engine's own key
    with pytest.warns(UserWarning, match="endpoint ignored"):
        api.cut_many([img], engine=engine, endpoint="http://127.0.0.1:9")
    sent = len(emulator.seen)
    with pytest.raises(OptionError) as info:
        api.cut_many([img], engine=engine, jobs=0)
    assert "at least 1" in str(info.value) and len(emulator.seen) == sent


# -- `bgcut cache`, `-v`, the progress bar -------------------------------------------------------
def test_cache_alone_shows_where_it_is_its_size_and_entries(capsys):
    cache = AnswerCache()
    cache.put(AnswerCache.key(b"upload", "q=1", "http://e"), b"x" * 2_500_000)
    assert main(["cache"]) == 0
    out = capsys.readouterr().out
    assert f"cache: {cache.root}" in out and "answers: 1 (2.5 MB" in out
    assert cache.usage() == (1, 2_500_000)


@pytest.fixture
def bgcut_log():
    log = logging.getLogger("bgcut")
    before = (list(log.handlers), log.level)
    yield log
    log.handlers[:], log.level = before


@pytest.mark.parametrize("argv", [["-v", "cache"], ["cache", "-v"], ["cache", "--verbose"]])
def test_verbose_logs_the_library_at_debug_on_stderr(capsys, bgcut_log, argv):
    assert main(argv) == 0
    logging.getLogger("bgcut.client").debug("a debug line from the library")
    assert "bgcut: bgcut.client: a debug line from the library" in capsys.readouterr().err


def test_without_verbose_the_library_stays_quiet(capsys, bgcut_log):
    assert main(["cache"]) == 0
    logging.getLogger("bgcut.client").debug("a debug line from the library")
    assert "a debug line" not in capsys.readouterr().err


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_bar_shows_rate_and_eta_and_keeps_waits_visible(monkeypatch):
    stream = Terminal()
    monkeypatch.setattr(sys, "stderr", stream)  # the bar's and -v's stream, as in `bgcut cut`
    bar = cli.ProgressBar(2, sys.stderr)
    bar.update(1, "a.png -> a-cut.png")
    bar.note("b.png: waiting 2 s: the service's rate limit (429)")
    shown = stream.getvalue()
    bar.message("FAILED c.png (why: in the summary below)")
    log = logging.getLogger("bgcut")  # where -v puts its handler
    handler = logging.StreamHandler(sys.stderr)
    log.addHandler(handler)
    try:
        with bar.logs_above():
            logging.getLogger("bgcut.client").warning("a log line above the bar")
    finally:
        log.removeHandler(handler)
    bar.update(2, "b.png -> b-cut.png")
    bar.close()
    text = stream.getvalue()
    assert "b.png: waiting 2 s: the service's rate limit (429)" in shown
    assert "1/2" in text and "2/2" in text and "images/s" in text and "<" in text
    assert "FAILED c.png (why: in the summary below)\n" in text
    assert "1/2" in text.split("a log line above the bar\n", 1)[1]  # the bar drawn again below it
    assert "\r" in text  # redrawn in place, not a line per update


def test_help_and_cache_do_not_load_tqdm():
    probe = (
        "import sys\nfrom bgcut.cli import main\n"
        "for argv in (['--help'], ['cut', '--help'], ['cache']):\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        "print(sorted(m for m in ('tqdm', 'numpy', 'PIL', 'requests') if m in sys.modules), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.stderr.strip().splitlines()[-1] == "[]", done.stderr


# -- the hosts ---------------------------------------------------------------------------------
def test_gimp_choice_arguments_are_built_from_the_core():
    args = gimp_choice_arguments()
    assert set(args) == {"output", "quality", "engine", "selection-mode", "return-format"}
    assert args["output"] is choices.GIMP_OUTPUTS and args["quality"] is choices.QUALITIES
    assert args["engine"] is choices.ENGINES and args["return-format"] is choices.RETURN_FORMATS
    assert args["selection-mode"] is choices.GIMP_SELECTION_MODES
    ns = host_namespace(GIMP_ENTRY, {"choice_entries"})
    assert ns["choice_entries"](choices.QUALITIES) == [(c.value, c.label, c.help) for c in choices.QUALITIES]
    # every choice argument goes through _add_choice, whose default is the table's own
    (direct,) = calls(GIMP_ENTRY, "add_choice_argument")
    assert ast.unparse(direct.args[4]) == "options.default"
    # no value or default of the core is typed out again (an argument's own name aside)
    typed = string_constants(GIMP_ENTRY) - set(host_namespace(GIMP_ENTRY, {"DIALOG"})["DIALOG"])
    for table in TABLES.values():
        assert not typed & set(table.values()), typed & set(table.values())


def test_blender_enums_are_built_from_the_core():
    ns = blender_namespace()
    enums = blender_enums()
    assert len(enums) == 4  # engine, quality and output in the preferences; output on the operators
    for _, items, default in enums:
        table = next(t for t in TABLES.values() if [i[0] for i in items] == list(t.values()))
        assert default == table.default
        assert [i[1] for i in items] == [c.label for c in table]
    assert ns["QUALITY_ITEMS"] == [(c.value, c.label, c.help) for c in choices.QUALITIES]
    assert [i[0] for i in ns["OUTPUT_ITEMS"]] == ["RGBA", "MASK"]  # users' scripts say these
    for path in (BLENDER / "preferences.py", BLENDER / "operators.py"):
        typed = string_constants(path) - set(ns["_NOTES"])  # what Blender adds to a value's help
        for table in TABLES.values():
            assert not typed & set(table.values()), (path.name, typed & set(table.values()))


def test_a_quality_added_to_the_core_reaches_the_cli_gimp_and_blender(monkeypatch):
    more = dataclasses.replace(choices.QUALITIES, entries=(*choices.QUALITIES.entries, ULTRA))
    monkeypatch.setattr(choices, "QUALITIES", more)
    assert CutOptions(quality="ultra").form_fields()["quality"] == "Ultra"
    assert cut_args(["--quality", "ULTRA"]).quality == "Ultra"
    ns = host_namespace(GIMP_ENTRY, {"choice_entries"})
    assert ("Ultra", "Ultra", ULTRA.help) in ns["choice_entries"](gimp_choice_arguments()["quality"])
    assert ("Ultra", "Ultra", ULTRA.help) in blender_namespace()["QUALITY_ITEMS"]


def test_gimp_and_blender_outputs_keep_the_names_scripts_use():
    assert choices.GIMP_OUTPUTS.values() == ("layer-mask", "rgba-layer", "mask-layer", "selection")
    assert choices.BLENDER_OUTPUTS.values() == ("RGBA", "MASK")
    assert choices.RETURN_FORMATS.values() == ("webp-lossless", "png", "webp-quality")
    assert choices.ENGINES.values() == ("auto", "backgroundcut", "local")
