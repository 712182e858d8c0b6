"""``GET /drift/status``: live scores of the served model and its drift signals."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from tftmon.api.deps import StateDep, require_api_key
from tftmon.schemas import DriftStatusResponse

router = APIRouter(tags=["drift"], dependencies=[Depends(require_api_key)])


@router.get("/drift/status", response_model=DriftStatusResponse)
def drift_status(state: StateDep) -> dict[str, Any]:
    """Rolling MASE, coverage and pinball loss per metric, input PSI per profile, verdict."""
    return state.drift.document()
