"""A small fleet store on a real SQLite file, for the store's tests."""

from __future__ import annotations

from pathlib import Path

from tftmon.schemas import DEFAULT_PROFILE_RULES, METRICS
from tftmon.store.fleet import FleetStore
from tftmon.store.history import HistoryStore


def open_fleet(path: Path, stale_after_s: float | None = 3600.0) -> FleetStore:
    """An opened store with 5-minute steps, 24-step windows and 16 raw samples."""
    fleet = FleetStore(
        HistoryStore(path, METRICS, 300, synchronous="OFF"),
        step_seconds=300,
        encoder_steps=24,
        raw_samples=16,
        min_history_steps=3,
        profile_rules=DEFAULT_PROFILE_RULES,
        stale_after_s=stale_after_s,
    )
    fleet.open()
    return fleet
