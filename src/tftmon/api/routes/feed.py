"""``POST /feed``: validate and durably store a batch of metric records."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from tftmon.api.deps import StateDep, protected_router
from tftmon.api.errors import error_responses
from tftmon.api.state import AppState
from tftmon.errors import NoValidRecordsError, PayloadTooLargeError, RequestError
from tftmon.schemas import FeedResponse, MetricRecord
from tftmon.serving.ingest import ingest, parse_body

router = protected_router("ingest")

_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"type": "array", "items": MetricRecord.model_json_schema()},
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
_ERRORS = error_responses(400, 413)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(
            f"body of {int(declared)} bytes exceeds {limit} bytes (TFTMON_MAX_BODY_BYTES)"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(
                f"body exceeds {limit} bytes (TFTMON_MAX_BODY_BYTES): split the batch"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _process(body: bytes, state: AppState) -> FeedResponse:
    settings = state.settings
    items = parse_body(body, settings.max_batch)
    if not items:
        raise NoValidRecordsError("the batch holds no record", extra={"rejected": []})
    outcome = ingest(items, state.fleet, datetime.now(UTC), settings.max_future_seconds)
    metrics = state.metrics
    metrics.records_accepted.inc(outcome.accepted)
    metrics.records_duplicate.inc(outcome.duplicates)
    reasons = Counter(r.errors[0].reason for r in outcome.rejected)
    for reason, count in reasons.items():
        metrics.records_rejected.labels(reason).inc(count)
    if outcome.accepted == 0 and outcome.duplicates == 0:
        raise NoValidRecordsError(
            f"none of the {len(items)} records could be stored; see 'rejected'",
            extra={"rejected": [r.model_dump() for r in outcome.rejected]},
        )
    ready = state.fleet.servers_ready()
    tracked = len(state.fleet.names)
    metrics.servers_tracked.set(tracked)
    metrics.servers_ready.set(ready)
    if (outcome.closed_buckets or outcome.new_servers) and state.loop is not None:
        # a bucket closed or a server appeared: forecast again soon
        state.loop.call_soon_threadsafe(state.wake_inference.set)
    return FeedResponse(
        accepted=outcome.accepted,
        duplicates=outcome.duplicates,
        rejected=outcome.rejected,
        servers_tracked=tracked,
        servers_ready=ready,
        warmup_complete=tracked > 0 and ready == tracked,
    )


@router.post("/feed", response_model=FeedResponse, responses=_ERRORS, openapi_extra=_BODY_DOC)
async def feed(request: Request, state: StateDep) -> FeedResponse:
    """Store a batch of metric records (a JSON list or {"records": [...]})."""
    try:
        body = await _read_body(request, state.settings.max_body_bytes)
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
