"""API keys: generate, store in ``.env`` (mode 0600) and ``.streamlit/secrets.toml``, rotate;
their scopes and strength; the daemon's live key set (``KeyRing``) and its reload.

A configured key is ``key`` (every scope) or ``key:scope[+scope...]`` with the scopes
``ingest`` (send records), ``read`` (forecasts, status, alerts, metrics) and ``admin``
(``POST /admin/*``), e.g. ``Ab3...:ingest`` for a forwarder.

Also the one reader of ``.env`` lines for processes that do not build the daemon's
``Settings`` (``client_config``): ``NAME=value``, optionally quoted or after ``export``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from tftmon.fileio import atomic_write_text

logger = logging.getLogger(__name__)

KEY_BYTES = 32
ENV_VAR = "TFTMON_API_KEYS"
SCOPES: Final = ("ingest", "read", "admin")
MIN_LENGTH: Final = 16
MIN_DISTINCT: Final = 8
MIN_BITS: Final = 64.0
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


def key_specs(value: str) -> list[str]:
    """The entries of a ``TFTMON_API_KEYS`` value, scopes included (newest last)."""
    return [k.strip() for k in value.split(",") if k.strip()]


def keys_of(value: str) -> list[str]:
    """The keys of a ``TFTMON_API_KEYS`` value as a client sends them (no scopes)."""
    return [split_spec(spec)[0] for spec in key_specs(value)]


def read_key_specs(env_file: Path) -> list[str]:
    """The entries of ``TFTMON_API_KEYS`` in ``env_file``, scopes included (newest last)."""
    return key_specs(read_env_file(env_file).get(ENV_VAR, ""))


def read_keys(env_file: Path) -> list[str]:
    """The keys in ``env_file`` as a client sends them (no scopes; newest last)."""
    return keys_of(read_env_file(env_file).get(ENV_VAR, ""))


def split_spec(spec: str) -> tuple[str, str | None]:
    """``"key:ingest+read"`` → ``("key", "ingest+read")``; ``"key"`` → ``("key", None)``."""
    key, sep, scopes = spec.strip().rpartition(":")
    return (key, scopes) if sep else (scopes, None)


def parse_scopes(text: str | None) -> frozenset[str]:
    """``"ingest+read"`` (or ``ingest,read``) → the scopes; None: all of them.

    Raises:
        ValueError: an unknown or empty scope.
    """
    if text is None:
        return frozenset(SCOPES)
    names = [part.strip() for part in re.split(r"[+,]", text)]
    unknown = [name for name in names if name not in SCOPES]
    if unknown or not names:
        raise ValueError(
            f"unknown API key scope {', '.join(map(repr, unknown)) or repr(text)}: "
            f"use {'+'.join(SCOPES)} or a part of it, e.g. key:ingest"
        )
    return frozenset(names)


def strength_problem(key: str) -> str | None:
    """Why ``key`` is too easy to guess, or None: at least 16 characters, 8 distinct ones,
    and about 64 bits by the character frequencies (length x Shannon entropy per character)."""
    if len(key) < MIN_LENGTH:
        return f"it has {len(key)} characters; an API key needs at least {MIN_LENGTH}"
    counts = Counter(key)
    if len(counts) < MIN_DISTINCT:
        return f"it uses {len(counts)} distinct characters; at least {MIN_DISTINCT} are needed"
    bits = -sum(n * math.log2(n / len(key)) for n in counts.values())
    if bits < MIN_BITS:
        return f"it holds about {bits:.0f} bits; at least {MIN_BITS:.0f} are needed"
    return None


def check_spec(spec: str) -> tuple[str, frozenset[str]]:
    """The key and scopes of one configured entry, checked.

    Raises:
        ValueError: unknown scope, or a weak key (the message names no key).
    """
    key, scopes = split_spec(spec)
    parsed = parse_scopes(scopes)
    problem = strength_problem(key)
    if problem:
        raise ValueError(
            f"an API key is too weak ({problem}): make one with `python generate_api_key.py`"
        )
    return key, parsed


def key_digest(text: str) -> bytes:
    """The SHA-256 digest by which a key is compared and known (never the key itself)."""
    return hashlib.sha256(text.encode()).digest()


@dataclass(frozen=True, slots=True)
class _Entry:
    digest: bytes
    scopes: frozenset[str]


class KeyRing:
    """The daemon's valid keys and their scopes, replaced as a whole on reload.

    Requests read the current set without a lock (one attribute read of an immutable tuple);
    a reload builds and checks the new set first, so a bad one leaves the old in place.
    """

    def __init__(self, specs: Sequence[str] = ()) -> None:
        self._entries = self._build(specs)

    @staticmethod
    def _build(specs: Sequence[str]) -> tuple[_Entry, ...]:
        return tuple(_Entry(key_digest(key), scopes) for key, scopes in map(check_spec, specs))

    def __len__(self) -> int:
        return len(self._entries)

    def scopes_of(self, candidate: str) -> frozenset[str] | None:
        """The scopes of ``candidate`` (None: not a valid key).

        Compared in constant time with every key, without stopping at a match, and as
        SHA-256 digests, so timing tells neither which key matched nor a key's length.
        """
        digest = key_digest(candidate)
        found: frozenset[str] | None = None
        for entry in self._entries:
            if secrets.compare_digest(digest, entry.digest):
                found = entry.scopes if found is None else found | entry.scopes
        return found

    def replace(self, specs: Sequence[str]) -> None:
        """Serve ``specs`` from now on.

        Raises:
            ValueError: an entry is invalid or the set is empty; the old set stays.
        """
        entries = self._build(specs)
        if not entries:
            raise ValueError("the new key set is empty")
        self._entries = entries

    def reload(self, load: Callable[[], Sequence[str]]) -> bool:
        """Replace the set with ``load()``; on any failure log it and keep the old set."""
        try:
            self.replace(load())
        except Exception as exc:  # a reload must never take the keys (or the daemon) down
            logger.error("API keys not reloaded, the %d old keys stay valid: %s", len(self), exc)
            return False
        logger.info("API keys reloaded: %d keys valid", len(self))
        return True


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino


class KeyWatcher:
    """Reloads a ``KeyRing`` when one of ``paths`` changes (polled) or on ``request()``
    (the daemon calls it on SIGHUP), in a thread of its own."""

    def __init__(
        self,
        ring: KeyRing,
        load: Callable[[], Sequence[str]],
        paths: Sequence[Path],
        interval_s: float = 2.0,
    ) -> None:
        self._ring = ring
        self._load = load
        self._paths = list(paths)
        self._interval_s = interval_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._stamps = [_stamp(p) for p in self._paths]
        self._thread = threading.Thread(target=self._run, name="tftmon-keys", daemon=True)

    def start(self) -> None:
        """Start polling."""
        self._thread.start()

    def request(self) -> None:
        """Reload now (safe to call from a signal handler)."""
        self._wake.set()

    def stop(self) -> None:
        """Stop the thread."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            asked = self._wake.wait(self._interval_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            stamps = [_stamp(p) for p in self._paths]
            if asked or stamps != self._stamps:
                self._stamps = stamps
                why = "on request" if asked else "a key file changed"
                logger.info("reloading API keys (%s)", why)
                self._ring.reload(self._load)


def _write_private(path: Path, text: str) -> None:
    atomic_write_text(path, text, mode=0o600)


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


def ensure_key(
    env_file: Path,
    secrets_file: Path,
    daemon_url: str,
    *,
    rotate: bool,
    scopes: str | None = None,
) -> str:
    """Create a key if none exists (or add one with ``rotate`` or ``scopes``); returns the
    newest key (without its scopes).

    With ``rotate`` the new key is appended and older keys stay valid, so clients can move
    over before the old key is removed from ``.env``. With ``scopes`` (e.g. ``"ingest"``)
    the new key gets only those. The Streamlit secret is the newest key that may read.
    """
    specs = read_key_specs(env_file)
    if not specs or rotate or scopes is not None:
        key = new_key()
        specs.append(f"{key}:{'+'.join(sorted(parse_scopes(scopes)))}" if scopes else key)
        write_keys(env_file, specs)
    readers = [k for k, s in map(split_spec, specs) if "read" in parse_scopes(s)]
    if readers:
        write_streamlit_secret(secrets_file, readers[-1], daemon_url)
    return split_spec(specs[-1])[0]
