"""``GET /metrics``: Prometheus exposition (``X-API-Key`` or ``Authorization: Bearer``)."""

from __future__ import annotations

from fastapi import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tftmon.api.deps import StateDep, protected_router

router = protected_router("metrics", bearer=True)


@router.get("/metrics", response_class=Response)
def metrics(state: StateDep) -> Response:
    """Ingest, inference and per-server risk metrics in the Prometheus text format."""
    state.metrics.servers_tracked.set(len(state.fleet.names))
    state.metrics.servers_ready.set(state.fleet.servers_ready())
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
