"""``GET /predictions/current``: the latest cached forecasts, never computed in the request."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Query, Response

from tftmon.api.deps import StateDep, require_api_key
from tftmon.api.status_doc import empty_predictions
from tftmon.schemas import PredictionsResponse

router = APIRouter(tags=["predictions"], dependencies=[Depends(require_api_key)])


@router.get("/predictions/current", response_model=PredictionsResponse)
def current_predictions(
    state: StateDep,
    servers: Annotated[
        str | None, Query(description="comma-separated server names to keep (default: all)")
    ] = None,
) -> Response:
    """The latest forecasts, risk and alerts of every server."""
    latest = state.service.latest
    if latest is None:
        body = orjson.dumps(empty_predictions(state))
    elif servers is None:
        body = latest.body
    else:
        body = latest.select(name.strip() for name in servers.split(",") if name.strip())
    return Response(content=body, media_type="application/json")
