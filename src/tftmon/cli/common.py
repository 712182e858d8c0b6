"""Shared pieces of the entry points: logging set-up."""

from __future__ import annotations

import logging


def setup_logging(level: str = "INFO") -> None:
    """Log to stderr with timestamps (entry points only; library code never configures)."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
