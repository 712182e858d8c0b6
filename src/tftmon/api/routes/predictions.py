"""``GET /predictions/current``: the latest cached forecasts, never computed in the request."""

from __future__ import annotations

from typing import Annotated, Literal

import orjson
from fastapi import Query, Response

from tftmon.api.deps import StateDep, protected_router
from tftmon.schemas import PredictionsResponse
from tftmon.serving.document import empty_document

router = protected_router("predictions")


@router.get("/predictions/current", response_model=PredictionsResponse)
def current_predictions(
    state: StateDep,
    servers: Annotated[
        str | None, Query(description="comma-separated server names to keep (default: all)")
    ] = None,
    view: Annotated[
        Literal["full", "summary"],
        Query(description="'summary': every scalar of each server, no forecast lists"),
    ] = "full",
) -> Response:
    """The latest forecasts, risk and alerts of every server."""
    latest = state.cycle.latest
    if latest is None:
        body = orjson.dumps(empty_document(state.models.served.forecaster.info))
    else:
        names = None if servers is None else [n.strip() for n in servers.split(",") if n.strip()]
        body = latest.select(names, compact=view == "summary")
    return Response(content=body, media_type="application/json")
