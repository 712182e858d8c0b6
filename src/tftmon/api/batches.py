"""What the ingest routes (``POST /feed``, ``POST /api/v1/write``) share: reading a body
within the byte limit, and storing a batch of records with its counters and wake-up."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from starlette.requests import ClientDisconnect

from tftmon.api.state import AppState
from tftmon.errors import MalformedBodyError, PayloadTooLargeError
from tftmon.serving.ingest import FeedOutcome, ingest


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused past ``limit`` bytes (on ``Content-Length`` and while
    streaming).

    Raises:
        PayloadTooLargeError: the body is over ``limit`` bytes.
        MalformedBodyError: the client disconnected before the whole body came.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(
            f"body of {int(declared)} bytes exceeds {limit} bytes (TFTMON_MAX_BODY_BYTES)"
        )
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLargeError(
                    f"body exceeds {limit} bytes (TFTMON_MAX_BODY_BYTES): split the batch"
                )
            chunks.append(chunk)
    except ClientDisconnect:
        # the sender left (or was cut off by the body read timeout) mid-body: nothing was
        # stored; an ordinary 4xx, not an unhandled error with a traceback in the log
        raise MalformedBodyError(
            f"the client disconnected after {size} bytes of the body; nothing was stored",
            code="incomplete_body",
        ) from None
    return b"".join(chunks)


def store_records(items: list[Any], state: AppState) -> FeedOutcome:
    """Validate and durably store ``items`` (blocking: call it off the event loop), count
    the outcome on ``/metrics``, and wake the inference loop when a bucket closed or a
    server appeared.

    Raises:
        StoreError: the store could not write; nothing of the batch was stored.
    """
    outcome = ingest(items, state.fleet, datetime.now(UTC), state.settings.max_future_seconds)
    metrics = state.metrics
    metrics.records_accepted.inc(outcome.accepted)
    metrics.records_duplicate.inc(outcome.duplicates)
    reasons = Counter(r.errors[0].reason for r in outcome.rejected)
    for reason, count in reasons.items():
        metrics.records_rejected.labels(reason).inc(count)
    for reason, count in Counter(f.reason for f in outcome.fields_rejected).items():
        metrics.fields_rejected.labels(reason).inc(count)
    for metric, count in outcome.clamped.items():
        metrics.records_clamped.labels(metric).inc(count)
    metrics.records_merged.inc(outcome.merged)
    metrics.servers_tracked.set(state.fleet.servers_tracked())
    metrics.servers_ready.set(state.fleet.servers_ready())
    if (outcome.closed_buckets or outcome.new_servers) and state.loop is not None:
        # a bucket closed or a server appeared: forecast again soon
        state.loop.call_soon_threadsafe(state.wake_inference.set)
    return outcome
