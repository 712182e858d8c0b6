"""``GET /status`` (authenticated) and ``GET /health`` (open).

``/health`` answers 200 also when degraded: a liveness probe must not kill a daemon that
recovers on its own (a store that has space again, a loop that restarts); alert on
``status == "degraded"`` instead (Docs/OPERATIONS.md, Failure modes).
"""

from __future__ import annotations

from fastapi import APIRouter

from tftmon import __version__
from tftmon.api.deps import StateDep, protected_router
from tftmon.api.status_doc import status
from tftmon.schemas import HealthResponse, StatusResponse

router = protected_router("status")
open_router = APIRouter(tags=["status"])


@router.get("/status", response_model=StatusResponse)
def get_status(state: StateDep) -> StatusResponse:
    """Warm-up per server and for the fleet, the model, and the inference loop."""
    return status(state)


@open_router.get("/health", response_model=HealthResponse)
def health(state: StateDep) -> HealthResponse:
    """Liveness; "degraded" (still 200) with reasons while a store or a loop fails."""
    reasons = state.health.reasons() if state.health is not None else []
    return HealthResponse(
        status="degraded" if reasons else "ok",
        reasons=reasons,
        forecaster_loaded=True,
        model_type=state.models.served.forecaster.info.model_type,
        version=__version__,
    )
