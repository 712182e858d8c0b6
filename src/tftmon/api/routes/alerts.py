"""``GET /alerts/active``: alerts of the latest inference cycle."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from tftmon.api.deps import StateDep, require_api_key
from tftmon.schemas import Alert

router = APIRouter(tags=["alerts"], dependencies=[Depends(require_api_key)])


@router.get("/alerts/active", response_model=list[Alert])
def active_alerts(state: StateDep) -> list[dict[str, Any]]:
    """Alerts at warning or critical, worst first."""
    latest = state.service.latest
    return [] if latest is None else list(latest.alerts)
