"""``GET /servers/{name}/history``: bucketed actuals of one server, for charts."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Path, Query

from tftmon.api.deps import StateDep, protected_router
from tftmon.api.errors import error_responses
from tftmon.errors import NotFoundError
from tftmon.schemas import SERVER_NAME_PATTERN, ServerHistoryResponse

router = protected_router("servers")


@router.get(
    "/servers/{name}/history", response_model=ServerHistoryResponse, responses=error_responses(404)
)
def server_history(
    state: StateDep,
    name: Annotated[str, Path(pattern=SERVER_NAME_PATTERN)],
    hours: Annotated[float, Query(gt=0, le=24 * 400, description="how far back")] = 24.0,
) -> ServerHistoryResponse:
    """Model-step means of one server's metrics over the last ``hours`` of its data."""
    fleet = state.fleet
    server_id = fleet.server_id(name)
    if server_id is None:
        raise NotFoundError(f"unknown server {name!r}: no record of it was stored")
    times, values = fleet.bucket_history(server_id, hours)
    return ServerHistoryResponse(
        server_name=name,
        profile=fleet.profiles[server_id],
        step_seconds=fleet.window.step_seconds,
        metrics=list(fleet.metrics),
        timestamps=[datetime.fromtimestamp(int(t), UTC) for t in times.tolist()],
        values={
            metric: [None if math.isnan(v) else round(v, 4) for v in values[:, j].tolist()]
            for j, metric in enumerate(fleet.metrics)
        },
    )
