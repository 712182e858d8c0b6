"""What the running app holds: built in the lifespan, reached through ``deps``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tftmon.serving.cycle import InferenceService
from tftmon.serving.instrumentation import DaemonMetrics
from tftmon.settings import Settings
from tftmon.store.fleet import FleetStore


@dataclass(slots=True)
class AppState:
    """The daemon's long-lived objects."""

    settings: Settings
    fleet: FleetStore
    service: InferenceService
    metrics: DaemonMetrics
    wake_inference: asyncio.Event
    loop: asyncio.AbstractEventLoop | None = None
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    restore_seconds: float = 0.0
