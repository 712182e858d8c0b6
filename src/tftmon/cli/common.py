"""Shared pieces of the entry points: logging set-up and client settings."""

from __future__ import annotations

import logging
import os
from pathlib import Path


def setup_logging(level: str = "INFO") -> None:
    """Log to stderr with timestamps (entry points only; library code never configures)."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise


def client_settings(url: str | None) -> tuple[str, str | None]:
    """Daemon URL and API key for a client process (flags, environment, then .env)."""
    from tftmon.keys import read_keys

    port = os.environ.get("TFTMON_PORT", "8000")
    base = url or os.environ.get("TFTMON_DAEMON_URL") or f"http://127.0.0.1:{port}"
    key = os.environ.get("TFTMON_API_KEY")
    if not key:
        keys = read_keys(Path(".env")) or [
            k for k in os.environ.get("TFTMON_API_KEYS", "").split(",") if k.strip()
        ]
        key = keys[-1].strip() if keys else None
    return base, key
