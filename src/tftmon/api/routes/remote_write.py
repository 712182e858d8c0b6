"""``POST /api/v1/write``: Prometheus remote-write 1.0 (snappy-compressed protobuf) into the
same validation and durable store as ``POST /feed``."""

from __future__ import annotations

import logging
from typing import Any, Final

from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool

from tftmon.api.batches import read_body, store_records
from tftmon.api.deps import StateDep, protected_router
from tftmon.api.errors import store_unavailable
from tftmon.api.state import AppState
from tftmon.errors import MalformedBodyError, NotFoundError, RequestError, StoreError
from tftmon.schemas import ErrorResponse
from tftmon.serving.remote_write import RemoteWriteConverter
from tftmon.serving.remote_write_wire import decode_write_request, decompress

logger = logging.getLogger(__name__)

router = protected_router("ingest", bearer=True)

DECOMPRESSED_FACTOR: Final = 4  # the decompressed body may be this many times max_body_bytes

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in {
        400: "not a snappy-compressed protobuf WriteRequest (codes malformed_snappy, "
        "malformed_protobuf) or an unsupported Content-Encoding (code unsupported_encoding)",
        413: "body too large, compressed or decompressed (code payload_too_large)",
        415: "a Content-Type other than remote-write 1.0 (code unsupported_media_type)",
        503: "the store could not write; the sender should retry (code store_unavailable)",
    }.items()
}
_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-protobuf": {
                "schema": {
                    "type": "string",
                    "format": "binary",
                    "description": "a prometheus.WriteRequest, snappy block-compressed",
                }
            }
        },
    }
}


def _check_headers(request: Request) -> None:
    encoding = request.headers.get("content-encoding", "snappy").strip().lower()
    if encoding != "snappy":
        raise MalformedBodyError(
            f"Content-Encoding {encoding!r} is not supported; remote-write 1.0 sends snappy",
            code="unsupported_encoding",
        )
    media = request.headers.get("content-type", "application/x-protobuf").lower()
    kind, _, params = media.partition(";")
    proto = params.replace(" ", "").removeprefix("proto=")
    if kind.strip() != "application/x-protobuf" or proto not in ("", "prometheus.WriteRequest"):
        raise MalformedBodyError(
            f"Content-Type {media!r} is not supported: only remote-write 1.0 "
            "(application/x-protobuf, prometheus.WriteRequest)",
            code="unsupported_media_type",
            status_code=415,
        )


def _process(body: bytes, state: AppState, converter: RemoteWriteConverter) -> int:
    """Decode, convert and store one request; returns the records stored."""
    limit = state.settings.max_body_bytes * DECOMPRESSED_FACTOR
    series = decode_write_request(decompress(body, limit))
    metrics = state.metrics
    with converter.store_order:
        conversion = converter.convert(series)
        metrics.remote_write_samples_received.inc(conversion.received)
        for reason, count in conversion.dropped.items():
            metrics.remote_write_samples_dropped.labels(reason).inc(count)
        metrics.remote_write_groups_held.set(conversion.held)
        if not conversion.records:
            return 0
        try:
            outcome = store_records(conversion.records, state)
        except StoreError:
            converter.requeue(conversion.records)
            raise
    return outcome.accepted


def store_held(state: AppState) -> None:
    """At shutdown: store the groups still held and the records a failed write left."""
    converter = state.remote_write
    if converter is None:
        return
    with converter.store_order:
        records = converter.flush()
        if not records:
            return
        try:
            outcome = store_records(records, state)
        except StoreError as exc:
            logger.error("remote write: %d held records lost at shutdown: %s", len(records), exc)
            return
    logger.info("remote write: stored %d held records at shutdown", outcome.accepted)


@router.post(
    "/api/v1/write",
    status_code=204,
    response_class=Response,
    responses=_ERRORS,
    openapi_extra=_BODY_DOC,
)
async def remote_write(request: Request, state: StateDep) -> Response:
    """Store Prometheus remote-write samples (node_exporter series by default) as records."""
    converter = state.remote_write
    status = "500"
    try:
        if converter is None:
            raise NotFoundError("remote write is not set up in this daemon")
        _check_headers(request)
        body = await read_body(request, state.settings.max_body_bytes)
        await run_in_threadpool(_process, body, state, converter)
        status = "204"
    except RequestError as exc:
        status = str(exc.status_code)
        raise
    except StoreError as exc:
        status = "503"
        logger.error("remote write: the store failed; the records are kept for a retry: %s", exc)
        return store_unavailable(exc)
    finally:
        state.metrics.remote_write_requests.labels(status).inc()
    return Response(status_code=204)
