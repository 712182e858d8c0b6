"""``GET /alerts/active`` and ``GET /alerts/history``: the alert lifecycle."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from tftmon.api.deps import StateDep, require_api_key
from tftmon.schemas import AlertEvent, TrackedAlert

router = APIRouter(tags=["alerts"], dependencies=[Depends(require_api_key)])


@router.get("/alerts/active", response_model=list[TrackedAlert])
def active_alerts(state: StateDep) -> list[dict[str, Any]]:
    """Open alerts (one per server and metric), worst first."""
    return state.service.alerts.active()


@router.get("/alerts/history", response_model=list[AlertEvent])
def alert_history(
    state: StateDep,
    since: Annotated[
        datetime | None, Query(description="ISO 8601; only events at or after it")
    ] = None,
) -> list[dict[str, Any]]:
    """Alerts opened, changed level or resolved, oldest first."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return state.service.alerts.history(since)
