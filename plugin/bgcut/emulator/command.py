"""Support for `bgcut emulator`: flag checks (a bad value is a clear message, not a 500
later) and stopping on SIGTERM as on Ctrl+C."""

from __future__ import annotations

import argparse
import math
import re
import signal
import threading
from types import FrameType

_KEY = re.compile(r"^[\x21-\x7e]+$")  # what can travel in an Authorization header as is


class FlagError(ValueError):
    """A flag value the emulator cannot run with; the message names the flag."""


def check_flags(args: argparse.Namespace, default_keys: list[str]) -> dict[str, int]:
    """Validate every emulator flag; return the keys and their credits (`default_keys`'
    when no --key was given: the CLI names them in its help)."""
    if not 0 <= args.port <= 65535:
        raise FlagError(f"--port must be 0 to 65535 (0 picks a free port), not {args.port}")
    if not args.host:
        raise FlagError("--host must not be empty")
    _positive("--minute", args.minute)
    _positive("--timeout", args.timeout)
    if args.base_limit < 1:
        raise FlagError(f"--base-limit must be at least 1, not {args.base_limit}")
    return parse_keys(args.key or default_keys)


def parse_keys(specs: list[str]) -> dict[str, int]:
    """KEY:CREDITS specs (the last colon splits) into a dict, refusing unusable ones."""
    keys: dict[str, int] = {}
    for spec in specs:
        name, _, credits = spec.rpartition(":")
        if not name or not credits.isascii() or not credits.isdigit():
            raise FlagError(f"--key wants KEY:CREDITS (credits a whole number), got {_shown(spec)}")
        if not _KEY.match(name):
            raise FlagError("--key: a key must be printable ASCII without spaces")
        if name in keys:
            raise FlagError("--key: the same key was given twice")
        keys[name] = int(credits)
    return keys


def _positive(flag: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise FlagError(f"{flag} must be a positive number of seconds, not {value}")


def _shown(spec: str) -> str:
    """A malformed spec may still hold a real key: show only its shape."""
    name, colon, credits = spec.rpartition(":")
    if not colon:
        return "a value without ':'"
    return f"'{'KEY' if name else ''}:{credits[:12]!s}'"


def stop_on_sigterm() -> None:
    """SIGTERM ends the emulator like Ctrl+C, so the balances are still printed on exit."""
    if threading.current_thread() is not threading.main_thread():
        return  # main() called from a thread: signals are not ours to take

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
