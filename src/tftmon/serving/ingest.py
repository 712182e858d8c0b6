"""The edge of ``POST /feed``: parse the body, validate each record, store the valid ones."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import numpy as np
import orjson
from pydantic import TypeAdapter, ValidationError

from tftmon.errors import MalformedBodyError, PayloadTooLargeError
from tftmon.schemas import METRICS, STATES, FieldError, MetricRecord, RejectedRecord
from tftmon.store.columns import NO_STATE
from tftmon.store.fleet import FleetStore, NewSamples
from tftmon.timefmt import iso_z

logger = logging.getLogger(__name__)

_RECORDS = TypeAdapter(list[MetricRecord])
_STATE_CODE: Final = {name: code for code, name in enumerate(STATES)}

# pydantic error types -> our stable reason codes (also the /metrics label values)
_REASONS: Final = {
    "missing": "missing",
    "finite_number": "not_finite",
    "greater_than_equal": "out_of_range",
    "less_than_equal": "out_of_range",
    "greater_than": "out_of_range",
    "less_than": "out_of_range",
    "string_pattern_mismatch": "bad_format",
    "string_too_long": "bad_format",
    "literal_error": "unknown_value",
    "model_type": "not_an_object",
    "model_attributes_type": "not_an_object",
    "value_error": "no_metric",
}


@dataclass(frozen=True, slots=True)
class FeedOutcome:
    """The result of one ``/feed`` request before it becomes a response."""

    accepted: int
    duplicates: int
    rejected: list[RejectedRecord]
    closed_buckets: int
    new_servers: int


def parse_body(body: bytes, max_batch: int) -> list[Any]:
    """Decode a ``/feed`` body: a JSON list of records or ``{"records": [...]}``.

    ``NaN`` and ``Infinity`` literals are decoded (and later refused per record), so one
    bad number does not lose the rest of the batch.

    Raises:
        MalformedBodyError: not JSON, or not one of the two accepted shapes.
        PayloadTooLargeError: more than ``max_batch`` records.
    """
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        try:
            data = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise MalformedBodyError(
                f"body is not valid JSON: {exc}", code="malformed_json"
            ) from exc
    if isinstance(data, dict):
        if set(data) != {"records"} or not isinstance(data["records"], list):
            raise MalformedBodyError(
                'body must be a JSON list of records or {"records": [...]}; got an object '
                f"with keys {sorted(data)[:10]}",
                code="invalid_body",
                status_code=422,
            )
        data = data["records"]
    if not isinstance(data, list):
        raise MalformedBodyError(
            'body must be a JSON list of records or {"records": [...]}; '
            f"got {type(data).__name__}",
            code="invalid_body",
            status_code=422,
        )
    if len(data) > max_batch:
        raise PayloadTooLargeError(
            f"{len(data)} records in one request; at most {max_batch} (TFTMON_MAX_BATCH) "
            "are accepted: split the batch",
            extra={"records": len(data), "max_batch": max_batch},
        )
    return data


def _field_errors(exc: ValidationError) -> dict[int, list[FieldError]]:
    """Errors of a list validation, grouped by record index."""
    out: dict[int, list[FieldError]] = {}
    for err in exc.errors(include_url=False):
        loc = err["loc"]
        index = int(loc[0])
        fieldname = ".".join(str(p) for p in loc[1:])
        kind = err["type"]
        if fieldname == "timestamp" and kind != "missing":
            reason = "bad_timestamp"
        elif fieldname == "server_name" and kind != "missing":
            reason = "bad_server_name"
        elif fieldname == "state" and kind == "literal_error":
            reason = "unknown_state"
        else:
            reason = _REASONS.get(kind, "bad_type" if kind.endswith("_type") else "invalid")
        message = err["msg"]
        if reason == "no_metric":
            message = message.removeprefix("Value error, ")
        elif kind != "missing" and "input" in err:
            shown = repr(err["input"])
            message += f" (got {shown[:60]}{'...' if len(shown) > 60 else ''})"
        out.setdefault(index, []).append(
            FieldError(field=fieldname, reason=reason, message=message)
        )
    return out


def validate_records(
    items: list[Any],
) -> tuple[list[tuple[int, MetricRecord]], list[RejectedRecord]]:
    """Validate each record on its own; returns the valid ones (with index) and the rejected."""
    try:
        return list(enumerate(_RECORDS.validate_python(items))), []
    except ValidationError as exc:
        problems = _field_errors(exc)
    good_index = [i for i in range(len(items)) if i not in problems]
    good = _RECORDS.validate_python([items[i] for i in good_index])
    rejected = [
        RejectedRecord(index=i, server_name=_name_of(items[i]), errors=errs)
        for i, errs in sorted(problems.items())
    ]
    return list(zip(good_index, good, strict=True)), rejected


def _name_of(item: Any) -> str | None:
    if isinstance(item, dict):
        name = item.get("server_name")
        if isinstance(name, str):
            return name[:128]
    return None


def to_columns(
    records: list[tuple[int, MetricRecord]], now: datetime, max_future_s: float
) -> tuple[NewSamples, list[RejectedRecord]]:
    """Turn valid records into columns; records too far in the future are rejected."""
    limit_ms = int((now.timestamp() + max_future_s) * 1000)
    origin, names, profiles, ts, values, states = [], [], [], [], [], []
    future: list[RejectedRecord] = []
    for index, rec in records:
        ts_ms = round(rec.timestamp.timestamp() * 1000)
        if ts_ms > limit_ms:
            future.append(
                RejectedRecord(
                    index=index,
                    server_name=rec.server_name,
                    errors=[
                        FieldError(
                            field="timestamp",
                            reason="future",
                            message=f"{iso_z(rec.timestamp)} is more than {max_future_s:g} s "
                            f"ahead of the daemon's clock ({iso_z(now)})",
                        )
                    ],
                )
            )
            continue
        origin.append(index)
        names.append(rec.server_name)
        profiles.append(rec.profile)
        ts.append(ts_ms)
        values.append(tuple(getattr(rec, m) for m in METRICS))
        states.append(NO_STATE if rec.state is None else _STATE_CODE[rec.state])
    m = len(METRICS)
    batch = NewSamples(
        origin=np.asarray(origin, dtype=np.int64),
        names=names,
        profiles=profiles,
        ts_ms=np.asarray(ts, dtype=np.int64),
        values=np.asarray(values, dtype=np.float64).reshape(len(values), m),
        state=np.asarray(states, dtype=np.int8),
    )
    return batch, future


def ingest(items: list[Any], fleet: FleetStore, now: datetime, max_future_s: float) -> FeedOutcome:
    """Validate and store one batch; every record is accepted, a duplicate, or rejected."""
    valid, rejected = validate_records(items)
    batch, future = to_columns(valid, now, max_future_s)
    rejected.extend(future)
    result = fleet.append(batch)
    if result.late:
        by_index = dict(zip(batch.origin.tolist(), batch.names, strict=True))
        for index in result.late:
            rejected.append(
                RejectedRecord(
                    index=index,
                    server_name=by_index[index],
                    errors=[
                        FieldError(
                            field="timestamp",
                            reason="late",
                            message="older than the server's open model step: its bucket is "
                            "already closed (send records in time order)",
                        )
                    ],
                )
            )
    rejected.sort(key=lambda r: r.index)
    return FeedOutcome(
        result.accepted, result.duplicates, rejected, result.closed_buckets, result.new_servers
    )
