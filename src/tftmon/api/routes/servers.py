"""``GET /servers/{name}/history``: bucketed actuals of one server, for charts;
``DELETE /servers/{name}`` (admin scope): forget a server."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Path, Query
from starlette.concurrency import run_in_threadpool

from tftmon.api.deps import StateDep, protected_router
from tftmon.api.errors import error_responses
from tftmon.errors import NotFoundError
from tftmon.schemas import SERVER_NAME_PATTERN, ServerHistoryResponse
from tftmon.schemas.responses import ServerDeleted

router = protected_router("servers")
admin_router = protected_router("admin")


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


@admin_router.delete(
    "/servers/{name}", response_model=ServerDeleted, responses=error_responses(404, 503)
)
async def delete_server(
    state: StateDep, name: Annotated[str, Path(pattern=SERVER_NAME_PATTERN)]
) -> ServerDeleted:
    """Delete a server: its samples, buckets and server row, and resolve its open alerts."""
    outcome = await run_in_threadpool(state.cycle.delete_server, name)  # waits for a cycle
    if outcome is None:
        raise NotFoundError(f"unknown server {name!r}: no record of it is stored")
    deleted, alerts = outcome
    state.wake_inference.set()  # the next forecasts leave it out
    return ServerDeleted(
        server_name=name,
        samples_deleted=deleted.samples,
        buckets_deleted=deleted.buckets,
        alerts_resolved=alerts,
    )
