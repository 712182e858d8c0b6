"""``GET /status`` (authenticated) and ``GET /health`` (open)."""

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
    """Liveness, and whether a forecaster is loaded (no key needed)."""
    return HealthResponse(
        status="ok",
        forecaster_loaded=True,
        model_type=state.models.served.forecaster.info.model_type,
        version=__version__,
    )
