"""The edge of ``POST /feed``: parse the body, validate each record, store the valid ones."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import numpy as np
import orjson
from pydantic import TypeAdapter, ValidationError

from tftmon.errors import MalformedBodyError, PayloadTooLargeError
from tftmon.schemas import METRICS, STATES, FieldError, MetricRecord, RejectedRecord
from tftmon.schemas.records import TIMESTAMP_RANGE, FeedRecord, RejectedField
from tftmon.serving.batch_rows import clamp_to_range, merge_same_time
from tftmon.serving.json_split import container_items, object_members
from tftmon.store.columns import NO_STATE
from tftmon.store.fleet import FleetStore, NewSamples
from tftmon.store.stored_merge import FieldRefusal
from tftmon.timefmt import iso_z

logger = logging.getLogger(__name__)

_RECORDS = TypeAdapter(list[FeedRecord])
_STATE_CODE: Final = {name: code for code, name in enumerate(STATES)}
# fields a record is kept without when they are bad (its identity and one metric must be good)
_DROPPABLE: Final = frozenset((*METRICS, "state", "profile"))

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
    merged: int = 0
    clamped: dict[str, int] = field(default_factory=dict)
    fields_rejected: list[RejectedField] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class UnreadableRecord:
    """An item of a batch no JSON parser could read on its own (nesting too deep...)."""

    message: str


def _loads(text: bytes) -> Any:
    """orjson, else the standard library (``NaN``, lone surrogates, > 64-bit integers)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _read_item(body: bytes, span: tuple[int, int]) -> Any:
    try:
        return _loads(body[span[0] : span[1]])
    except json.JSONDecodeError as exc:
        raise MalformedBodyError(f"body is not valid JSON: {exc}", code="malformed_json") from exc
    except (RecursionError, ValueError) as exc:  # too deep; an integer too long to read
        why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        return UnreadableRecord(f"the record could not be read: {why}"[:200])


def _records_spans(body: bytes) -> list[tuple[int, int]] | dict[str, Any]:
    """The spans of a batch's records; for an object other than ``{"records": [...]}``,
    its keys (for the error message)."""
    if body.lstrip()[:1] == b"[":
        return container_items(body)
    members = object_members(body, 0, len(body))
    keys = {str(_loads(k)): span for k, span in members.items()}
    if set(keys) != {"records"} or body[slice(*keys["records"])].lstrip()[:1] != b"[":
        return keys
    return container_items(body, *keys["records"])


def _parse_items(body: bytes) -> Any:
    """Read a body one record at a time: for bodies no parser reads as a whole."""
    try:
        spans = _records_spans(body)
    except ValueError as exc:  # a key that is not a JSON string
        raise MalformedBodyError(f"body is not valid JSON: {exc}", code="malformed_json") from exc
    if isinstance(spans, dict):
        return dict.fromkeys(spans)  # checked as an object by the caller
    return [_read_item(body, span) for span in spans]


def parse_body(body: bytes, max_batch: int) -> list[Any]:
    """Decode a ``/feed`` body: a JSON list of records or ``{"records": [...]}``.

    ``NaN`` and ``Infinity`` literals are decoded (and later refused per record), so one
    bad number does not lose the rest of the batch. A record no parser can read (nested
    deeper than about 1,000 levels, an integer of more than 4,300 digits) becomes an
    ``UnreadableRecord``, refused on its own.

    Raises:
        MalformedBodyError: not JSON, or not one of the two accepted shapes.
        PayloadTooLargeError: more than ``max_batch`` records.
    """
    try:
        data = _loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MalformedBodyError(f"body is not valid JSON: {exc}", code="malformed_json") from exc
    except (RecursionError, ValueError):
        data = _parse_items(body)
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


def _shown(value: Any) -> str:
    """A value for a message: short, and encodable (no lone surrogate, no deep repr)."""
    if isinstance(value, str):
        text = repr(value[:61])
    elif value is None or isinstance(value, bool | int | float):
        text = repr(value) if not isinstance(value, int) or abs(value) < 10**30 else "a huge int"
    else:
        return f"a JSON {'object' if isinstance(value, dict) else type(value).__name__}"
    return text if len(text) <= 60 else text[:60] + "..."


def _field_errors(exc: ValidationError) -> dict[int, list[FieldError]]:
    """Errors of a list validation, grouped by record index."""
    out: dict[int, list[FieldError]] = {}
    for err in exc.errors(include_url=False):
        loc = err["loc"]
        index = int(loc[0])
        fieldname = ".".join(str(p) for p in loc[1:])
        kind = err["type"]
        if kind == TIMESTAMP_RANGE:
            reason = "out_of_range"
        elif fieldname == "timestamp" and kind != "missing":
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
            message += f" (got {_shown(err['input'])})"
        out.setdefault(index, []).append(
            FieldError(field=fieldname, reason=reason, message=message)
        )
    return out


def _without(item: Any, errors: list[FieldError]) -> dict[str, Any] | None:
    """``item`` without its bad optional fields, when what is left is still a record:
    its identity valid and a metric left; else None."""
    bad = {e.field for e in errors}
    if not isinstance(item, dict) or not bad <= _DROPPABLE:
        return None
    kept = {k: v for k, v in item.items() if k not in bad}
    if all(kept.get(m) is None for m in METRICS):
        return None
    return kept


def validate_records(
    items: list[Any],
) -> tuple[list[tuple[int, MetricRecord]], list[RejectedRecord], list[RejectedField]]:
    """Validate each record on its own: the valid ones (with index), the rejected, and the
    fields left out of records kept without them (a bad metric, state or profile)."""
    try:
        return list(enumerate(_RECORDS.validate_python(items))), [], []
    except ValidationError as exc:
        problems = _field_errors(exc)
    for i, item in enumerate(items):
        if isinstance(item, UnreadableRecord):
            problems[i] = [FieldError(field="", reason="unreadable", message=item.message)]
    trimmed: dict[int, Any] = {}
    for i, errs in problems.items():
        kept = _without(items[i], errs)
        if kept is not None:
            trimmed[i] = kept
    good_index = sorted(i for i in range(len(items)) if i not in problems or i in trimmed)
    good = _RECORDS.validate_python([trimmed.get(i, items[i]) for i in good_index])
    rejected = [
        RejectedRecord(index=i, server_name=_name_of(items[i]), errors=errs)
        for i, errs in sorted(problems.items())
        if i not in trimmed
    ]
    dropped = [
        RejectedField(index=i, server_name=rec.server_name, **e.model_dump())
        for i, rec in zip(good_index, good, strict=True)
        if i in trimmed
        for e in problems[i]
    ]
    return list(zip(good_index, good, strict=True)), rejected, dropped


def _name_of(item: Any) -> str | None:
    if isinstance(item, dict):
        name = item.get("server_name")
        if isinstance(name, str):  # a lone surrogate ("\\ud800") is shown escaped
            return name[:128].encode("utf-8", "backslashreplace").decode("utf-8")
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


_LATE: Final = (
    "late",
    "older than the server's open model step: its bucket is already closed "
    "(send records in time order)",
)
_SERVER_LIMIT: Final = (
    "server_limit",
    "a new server past the most the daemon tracks (TFTMON_MAX_SERVERS): not stored",
)


def _field_refused(refusal: FieldRefusal, server_name: str) -> RejectedField:
    """A field of a record for a sample already stored that was not stored."""
    if refusal.reason == "late":
        message = (
            "the stored sample of this server and timestamp lacks it, but its bucket is "
            "already closed: send every metric of a sample before the next model step"
        )
    else:
        message = (
            f"differs from {refusal.stored:g} stored for this server and timestamp; the "
            "stored value is kept"
        )
    return RejectedField(
        index=refusal.row,
        server_name=server_name,
        field=refusal.metric,
        reason=refusal.reason,
        message=message,
    )


def _refused(index: int, server_name: str, why: tuple[str, str]) -> RejectedRecord:
    field_name = "timestamp" if why is _LATE else "server_name"
    return RejectedRecord(
        index=index,
        server_name=server_name,
        errors=[FieldError(field=field_name, reason=why[0], message=why[1])],
    )


def ingest(items: list[Any], fleet: FleetStore, now: datetime, max_future_s: float) -> FeedOutcome:
    """Validate and store one batch; every record is accepted, a duplicate, merged (into
    another of the batch or a sample stored before), or rejected (``accepted + duplicates +
    merged + len(rejected)`` is ``len(items)``)."""
    valid, rejected, fields_rejected = validate_records(items)
    batch, future = to_columns(valid, now, max_future_s)
    rejected.extend(future)
    clamped = clamp_to_range(batch.values)
    merged = merge_same_time(batch)
    batch = merged.batch
    fields_rejected.extend(merged.conflicts)
    result = fleet.append(batch)
    refused = dict.fromkeys(result.late, _LATE) | dict.fromkeys(result.over_limit, _SERVER_LIMIT)
    folded = 0
    for row, members in merged.folded.items():
        why = refused.get(int(batch.origin[row]))
        if why is None:
            folded += len(members)
        else:
            rejected.extend(_refused(index, batch.names[row], why) for index in members)
    by_index = dict(zip(batch.origin.tolist(), batch.names, strict=True))
    rejected.extend(_refused(i, by_index[i], why) for i, why in refused.items())
    fields_rejected.extend(_field_refused(f, by_index[f.row]) for f in result.refusals)
    rejected.sort(key=lambda r: r.index)
    fields_rejected.sort(key=lambda f: f.index)
    return FeedOutcome(
        accepted=result.accepted,
        duplicates=result.duplicates + merged.repeats,
        rejected=rejected,
        closed_buckets=result.closed_buckets,
        new_servers=result.new_servers,
        merged=folded + len(result.merged),
        clamped=clamped,
        fields_rejected=fields_rejected,
    )
