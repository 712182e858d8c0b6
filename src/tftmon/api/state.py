"""What the routes may reach: narrow views of the daemon's parts, reached through ``deps``.

The parts themselves are built in one place (``serving.compose.build_daemon``); a route
sees only the interface it needs, so what a route can touch is visible in its signature.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from tftmon.serving.cache import PredictionsCache
from tftmon.serving.instrumentation import DaemonMetrics
from tftmon.serving.models import ReloadResult, ServedModel
from tftmon.serving.remote_write import RemoteWriteConverter
from tftmon.settings import Settings
from tftmon.store.fleet import FleetStore
from tftmon.store.fleet_results import ServerDeletion


class CycleView(Protocol):
    """The newest cycle's result and the cycle counters."""

    @property
    def latest(self) -> PredictionsCache | None: ...

    @property
    def cycles(self) -> int: ...

    @property
    def last_error(self) -> str | None: ...

    @property
    def last_stages_ms(self) -> dict[str, float] | None: ...

    def delete_server(self, name: str) -> tuple[ServerDeletion, int] | None: ...


class ModelAdmin(Protocol):
    """The served model and its reload."""

    @property
    def served(self) -> ServedModel: ...

    @property
    def loaded_at(self) -> datetime: ...

    @property
    def reload_error(self) -> str | None: ...

    def reload(self) -> ReloadResult: ...


class AlertsView(Protocol):
    """Open alerts and their history."""

    def active(self) -> list[dict[str, Any]]: ...

    def history(
        self, since: datetime | None, *, before_id: int | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]: ...


class DriftView(Protocol):
    """The live accuracy and drift document."""

    def document(self) -> dict[str, Any]: ...


class HealthView(Protocol):
    """Why the daemon is degraded now (failing store writes, restarting loops)."""

    def reasons(self) -> list[str]: ...


@dataclass(slots=True)
class AppState:
    """What the running app holds."""

    settings: Settings
    fleet: FleetStore
    cycle: CycleView
    models: ModelAdmin
    alerts: AlertsView
    drift: DriftView
    metrics: DaemonMetrics
    wake_inference: asyncio.Event
    loop: asyncio.AbstractEventLoop | None = None
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    restore_seconds: float = 0.0
    remote_write: RemoteWriteConverter | None = None  # POST /api/v1/write
    health: HealthView | None = None  # GET /health
