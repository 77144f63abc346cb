"""Where the API key and endpoint come from, and the one file the key may live in.

Order for the key: explicit argument, BACKGROUNDCUT_API_KEY, the user's config file.
The file is written atomically with 0600 permissions; nothing else ever holds the key.
Every key is checked by `check_key` where it enters, so a key that would break the HTTP
header (a line break, a space, non-ASCII) is refused with a message that names where it
came from and never quotes it.
"""

from __future__ import annotations

import ipaddress
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from .errors import ConfigError, InsecureEndpointError, InvalidKeyError, MissingKeyError, Remedy

DEFAULT_ENDPOINT = "https://api.backgroundcut.co/v2/cut/"
KEY_ENV = "BACKGROUNDCUT_API_KEY"
ENDPOINT_ENV = "BACKGROUNDCUT_ENDPOINT"
CONFIG_DIR_ENV = "BGCUT_CONFIG_DIR"
CACHE_DIR_ENV = "BGCUT_CACHE_DIR"
DATA_DIR_ENV = "BGCUT_DATA_DIR"

#: Where a key came from, for `check_key`'s message.
KEY_FROM_ARGUMENT = "argument"
KEY_FROM_ENV = "environment"
KEY_FROM_CONFIG = "config"
KEY_FROM_INPUT = "input"
_BAD_CHARACTERS = "contains a line break, a space or another character no API key has"


def _user_dir(override: str, windows: tuple[str, str], macos: str, xdg: tuple[str, str]) -> Path:
    """The platform's folder of a kind, unless `override` (an environment variable) names one.

    windows = (env var, fallback under home), macos = path under home,
    xdg = (env var, fallback under home); "bgcut" is appended to each.
    """
    explicit = os.environ.get(override)
    if explicit:
        return Path(explicit)
    home = Path.home()
    if sys.platform == "win32":
        return Path(os.environ.get(windows[0]) or home / windows[1]) / "bgcut"
    if sys.platform == "darwin":
        return home / macos / "bgcut"
    return Path(os.environ.get(xdg[0]) or home / xdg[1]) / "bgcut"


def config_dir() -> Path:
    return _user_dir(
        CONFIG_DIR_ENV,
        ("APPDATA", "AppData/Roaming"),
        "Library/Application Support",
        ("XDG_CONFIG_HOME", ".config"),
    )


def cache_dir() -> Path:
    return _user_dir(
        CACHE_DIR_ENV, ("LOCALAPPDATA", "AppData/Local"), "Library/Caches", ("XDG_CACHE_HOME", ".cache")
    )


def data_dir() -> Path:
    """Where downloaded data (the local engine's model) lives."""
    return _user_dir(
        DATA_DIR_ENV,
        ("LOCALAPPDATA", "AppData/Local"),
        "Library/Application Support",
        ("XDG_DATA_HOME", ".local/share"),
    )


def config_file() -> Path:
    return config_dir() / "config.json"


def read_config() -> dict[str, str]:
    try:
        data = json.loads(config_file().read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        raise ConfigError(
            f"The bgcut config file {config_file()} is unreadable.", remedy=Remedy.RESET_CONFIG
        ) from None
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def write_config(values: dict[str, str]) -> Path:
    """Replace the config file atomically; it is created 0600 before any byte is written."""
    path = config_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=".config-", dir=path.parent)
    try:
        os.chmod(tmp, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(values, fh, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def store_key(key: str) -> Path:
    """Store a typed or pasted key; a key that could not be sent is refused, not stored."""
    if not isinstance(key, str) or not key.strip():
        raise ConfigError("That API key is empty; paste the key exactly.")
    key = check_key(key, KEY_FROM_INPUT)
    values = read_config()
    values["api_key"] = key
    return write_config(values)


def forget_key() -> bool:
    values = read_config()
    if "api_key" not in values:
        return False
    del values["api_key"]
    write_config(values)
    return True


def store_endpoint(endpoint: str | None) -> None:
    values = read_config()
    if endpoint:
        check_endpoint(endpoint)
        values["endpoint"] = endpoint
    else:
        values.pop("endpoint", None)
    write_config(values)


def check_key(key: object, source: str = KEY_FROM_ARGUMENT) -> str:
    """The key without surrounding whitespace, or InvalidKeyError naming `source`.

    Real keys are printable ASCII without spaces; anything else would either be refused
    by the HTTP layer with the key quoted in its message, or be sent and rejected.
    """
    cleaned = key.strip() if isinstance(key, str) else ""
    if not cleaned or not all("!" <= c <= "~" for c in cleaned):
        remedy = Remedy.PASTE_KEY_AGAIN if source == KEY_FROM_CONFIG else None
        raise InvalidKeyError(_key_problem(source), remedy=remedy)
    return cleaned


def _key_problem(source: str) -> str:
    """What is wrong (and what to do, unless a host says it its own way), per source;
    built from fixed text only."""
    if source == KEY_FROM_ENV:
        return (
            f"The API key in {KEY_ENV} {_BAD_CHARACTERS}. Set it to the key exactly as "
            "shown on your BackgroundCut account page, or unset it."
        )
    if source == KEY_FROM_CONFIG:
        return f"The API key stored in {config_file()} {_BAD_CHARACTERS}."
    if source == KEY_FROM_INPUT:
        return (
            f"That API key {_BAD_CHARACTERS}. Paste the key exactly as shown on your "
            "BackgroundCut account page; nothing was stored."
        )
    return (
        f"The API key given as an argument (--api-key or api_key=) {_BAD_CHARACTERS}. "
        "Pass the key exactly as shown on your BackgroundCut account page."
    )


def find_key(explicit: str | None = None) -> str | None:
    """The first key set, checked: a bad key is an error, never skipped for the next one."""
    sources: tuple[tuple[str, Callable[[], object]], ...] = (
        (KEY_FROM_ARGUMENT, lambda: explicit),
        (KEY_FROM_ENV, lambda: os.environ.get(KEY_ENV)),
        (KEY_FROM_CONFIG, lambda: read_config().get("api_key")),
    )
    for source, read in sources:
        candidate = read()
        if candidate is not None and (not isinstance(candidate, str) or candidate.strip()):
            return check_key(candidate, source)
    return None


def resolve_key(explicit: str | None = None) -> str:
    key = find_key(explicit)
    if key is None:
        raise MissingKeyError()
    return key


def resolve_endpoint(explicit: str | None = None) -> str:
    endpoint = explicit or os.environ.get(ENDPOINT_ENV) or read_config().get("endpoint")
    return check_endpoint(endpoint or DEFAULT_ENDPOINT)


def mask_key(key: str | None) -> str:
    """A form safe to show: never more than the last 4 characters."""
    if not key:
        return "(not set)"
    return "****" + key[-4:] if len(key) >= 12 else "****"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_endpoint(endpoint: str) -> str:
    """HTTPS anywhere; plain HTTP only to a loopback address (the emulator)."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(
            f"Endpoint {endpoint!r} is not an http(s) URL. Use {DEFAULT_ENDPOINT} or remove the setting."
        )
    if parts.username or parts.password:
        raise ConfigError("The endpoint URL must not contain a user name or password.")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise InsecureEndpointError(
            f"Refusing to send the API key in clear text to {parts.hostname}: use an "
            "https:// endpoint (plain http:// is allowed only for 127.0.0.1/localhost)."
        )
    return endpoint
