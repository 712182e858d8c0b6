"""Helpers for the adapter tests: configs, a client of the test daemon, daemon-side counts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.servers import API_KEY, DaemonProcess
from tftmon.adapters.base import AdapterConfig
from tftmon.client import TftmonClient


def adapter_config(tmp_path: Path, source: dict[str, Any], **overrides: Any) -> AdapterConfig:
    values: dict[str, Any] = {
        "batch_size": 100,
        "backfill_hours": 1.0,
        "state_file": tmp_path / "state.json",
        "mapping": {"preset": "legacy"},
        "source": source,
    }
    values.update(overrides)
    return AdapterConfig.model_validate(values)


def client_of(daemon: DaemonProcess, retries: int = 1) -> TftmonClient:
    return TftmonClient(daemon.url, API_KEY, timeout=10, retries=retries, backoff_s=0.05)


def ingested(daemon: DaemonProcess) -> int:
    """Records the daemon accepted (duplicates not counted) since it started."""
    return daemon.records_ingested()
