"""Where the API key and endpoint come from, and the one file the key may live in.

Order for the key: explicit argument, BACKGROUNDCUT_API_KEY, the user's config file.
The file is written atomically with 0600 permissions; nothing else ever holds the key.
"""

from __future__ import annotations

import ipaddress
import json
import os
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from .errors import ConfigError, InsecureEndpointError, MissingKeyError

DEFAULT_ENDPOINT = "https://api.backgroundcut.co/v2/cut/"
KEY_ENV = "BACKGROUNDCUT_API_KEY"
ENDPOINT_ENV = "BACKGROUNDCUT_ENDPOINT"
CONFIG_DIR_ENV = "BGCUT_CONFIG_DIR"
CACHE_DIR_ENV = "BGCUT_CACHE_DIR"
DATA_DIR_ENV = "BGCUT_DATA_DIR"


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
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        raise ConfigError(
            f"The bgcut config file {config_file()} is unreadable. Remove it and run "
            "`bgcut config --set-key` again."
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
    key = key.strip()
    if not key or any(c.isspace() for c in key):
        raise ConfigError("That API key is empty or contains spaces; paste the key exactly.")
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


def find_key(explicit: str | None = None) -> str | None:
    for candidate in (explicit, os.environ.get(KEY_ENV), read_config().get("api_key")):
        if candidate and candidate.strip():
            return candidate.strip()
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
