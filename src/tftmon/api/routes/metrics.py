"""``GET /metrics``: Prometheus exposition (``X-API-Key`` or ``Authorization: Bearer``)."""

from __future__ import annotations

from fastapi import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tftmon.api.deps import StateDep, protected_router

router = protected_router("metrics", bearer=True)


@router.get("/metrics", response_class=Response)
def metrics(state: StateDep) -> Response:
    """Ingest and inference metrics and the latest forecasts in the Prometheus text format."""
    state.metrics.servers_tracked.set(state.fleet.servers_tracked())
    state.metrics.servers_stale.set(state.fleet.servers_stale())
    state.metrics.servers_ready.set(state.fleet.servers_ready())
    latest = state.cycle.latest  # the forecasts of the cycle /predictions/current serves
    forecasts = b"" if latest is None else latest.exposition
    body = generate_latest(state.metrics.registry) + forecasts
    return Response(body, media_type=CONTENT_TYPE_LATEST)
