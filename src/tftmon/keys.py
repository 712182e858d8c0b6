"""API keys: generate, store in ``.env`` (mode 0600) and ``.streamlit/secrets.toml``, rotate.

Also the one reader of ``.env`` lines for processes that do not build the daemon's
``Settings`` (``client_config``): ``NAME=value``, optionally quoted or after ``export``.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

KEY_BYTES = 32
ENV_VAR = "TFTMON_API_KEYS"
_LINE = re.compile(rf"^\s*(?:export\s+)?{ENV_VAR}\s*=\s*(.*?)\s*$")
_ANY_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def new_key() -> str:
    """A URL-safe key from 32 random bytes (43 characters)."""
    return secrets.token_urlsafe(KEY_BYTES)


def read_env_file(env_file: Path) -> dict[str, str]:
    """The ``NAME=value`` lines of ``env_file`` (a later line wins, as for the daemon's
    settings); comments and other lines are skipped; empty when the file does not exist."""
    if not env_file.exists():
        return {}
    values: dict[str, str] = {}
    for line in env_file.read_text(encoding="utf-8").splitlines():
        match = _ANY_LINE.match(line)
        if match:
            values[match.group(1)] = match.group(2).strip().strip("'\"")
    return values


def read_keys(env_file: Path) -> list[str]:
    """The keys in ``env_file`` (newest last); empty when there are none."""
    value = read_env_file(env_file).get(ENV_VAR, "")
    return [k.strip() for k in value.split(",") if k.strip()]


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    tmp.replace(path)
    path.chmod(0o600)


def write_keys(env_file: Path, keys: list[str]) -> None:
    """Set ``TFTMON_API_KEYS`` in ``env_file``, keeping every other line, mode 0600."""
    lines = env_file.read_text(encoding="utf-8").splitlines() if env_file.exists() else []
    value = f"{ENV_VAR}={','.join(keys)}"
    replaced = False
    out: list[str] = []
    for line in lines:
        if _LINE.match(line):
            if not replaced:
                out.append(value)
                replaced = True
            continue
        out.append(line)
    if not replaced:
        out.append(value)
    _write_private(env_file, "\n".join(out) + "\n")


def write_streamlit_secret(secrets_file: Path, key: str, daemon_url: str) -> None:
    """Set ``api_key`` and ``daemon_url`` in a Streamlit secrets file, keeping other lines."""
    lines = secrets_file.read_text(encoding="utf-8").splitlines() if secrets_file.exists() else []
    keep = [ln for ln in lines if not re.match(r"^\s*(api_key|daemon_url)\s*=", ln)]
    keep[:0] = [f'api_key = "{key}"', f'daemon_url = "{daemon_url}"']
    _write_private(secrets_file, "\n".join(keep) + "\n")


def ensure_key(env_file: Path, secrets_file: Path, daemon_url: str, *, rotate: bool) -> str:
    """Create a key if none exists (or add one with ``rotate``); returns the current key.

    With ``rotate`` the new key is appended and older keys stay valid, so clients can move
    over before the old key is removed from ``.env``.
    """
    keys = read_keys(env_file)
    if not keys or rotate:
        keys.append(new_key())
        write_keys(env_file, keys)
    write_streamlit_secret(secrets_file, keys[-1], daemon_url)
    return keys[-1]
