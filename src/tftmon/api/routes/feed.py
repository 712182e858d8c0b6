"""``POST /feed``: validate and durably store a batch of metric records."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from tftmon.api.batches import read_body, store_records
from tftmon.api.deps import StateDep, protected_router
from tftmon.api.errors import error_responses
from tftmon.api.state import AppState
from tftmon.errors import NoValidRecordsError, RequestError
from tftmon.schemas import FeedResponse
from tftmon.schemas.records import FeedRecord
from tftmon.serving.ingest import parse_body

router = protected_router("ingest")

_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"type": "array", "items": FeedRecord.model_json_schema()},
                        {
                            "type": "object",
                            "properties": {
                                "records": {"type": "array", "items": {"type": "object"}}
                            },
                            "required": ["records"],
                        },
                    ]
                }
            }
        },
    }
}
_ERRORS = error_responses(400, 413, 503)


def _process(body: bytes, state: AppState) -> FeedResponse:
    settings = state.settings
    items = parse_body(body, settings.max_batch)
    if not items:
        raise NoValidRecordsError("the batch holds no record", extra={"rejected": []})
    outcome = store_records(items, state)
    if outcome.accepted == 0 and outcome.duplicates == 0 and outcome.merged == 0:
        raise NoValidRecordsError(
            f"none of the {len(items)} records could be stored; see 'rejected'",
            extra={"rejected": [r.model_dump() for r in outcome.rejected]},
        )
    ready = state.fleet.servers_ready()
    tracked = state.fleet.servers_tracked()
    return FeedResponse(
        accepted=outcome.accepted,
        duplicates=outcome.duplicates,
        rejected=outcome.rejected,
        merged=outcome.merged,
        clamped=sum(outcome.clamped.values()),
        fields_rejected=outcome.fields_rejected,
        servers_tracked=tracked,
        servers_ready=ready,
        warmup_complete=tracked > 0 and ready == tracked,
    )


@router.post("/feed", response_model=FeedResponse, responses=_ERRORS, openapi_extra=_BODY_DOC)
async def feed(request: Request, state: StateDep) -> FeedResponse:
    """Store a batch of metric records (a JSON list or {"records": [...]})."""
    try:
        body = await read_body(request, state.settings.max_body_bytes)
        response = await run_in_threadpool(_process, body, state)
    except RequestError as exc:
        state.metrics.feed_requests.labels(str(exc.status_code)).inc()
        raise
    state.metrics.feed_requests.labels("200").inc()
    return response


router.add_api_route(
    "/feed/data",
    feed,
    methods=["POST"],
    response_model=FeedResponse,
    responses=_ERRORS,
    openapi_extra=_BODY_DOC,
    summary="Store a batch of metric records (alias of POST /feed)",
)
