"""``GET /drift/status``: live scores of the served model and its drift signals."""

from __future__ import annotations

from typing import Any

from tftmon.api.deps import StateDep, protected_router
from tftmon.schemas import DriftStatusResponse

router = protected_router("drift")


@router.get("/drift/status", response_model=DriftStatusResponse)
def drift_status(state: StateDep) -> dict[str, Any]:
    """Rolling MASE, coverage and pinball loss per metric, input PSI per profile, verdict."""
    return state.drift.document()
