"""Inbound records of ``POST /feed``, its answer, and the one shape of every error answer."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from tftmon.schemas.metrics import (
    METRIC_SPECS,
    METRICS,
    PROFILE_PATTERN,
    SERVER_NAME_PATTERN,
    MetricSpec,
    State,
    check_covers_metrics,
)

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
# an epoch number sent as a JSON string ("1700000000"): the contract wants a number
_NUMERIC_TEXT: Final = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")
TIMESTAMP_RANGE: Final = "timestamp_range"


def _metric_field(spec: MetricSpec, *, clamped: bool = False) -> Any:
    """A metric's field: up to its range's upper bound (its ``limit`` for a rate), or with
    ``clamped`` up to its ``limit`` (stored at the upper bound)."""
    top = spec.limit if clamped or spec.upper is None else spec.upper
    note = f"; above {spec.upper:g} stored as {spec.upper:g}" if clamped and spec.upper else ""
    return Field(
        default=None,
        strict=True,
        ge=spec.lower,
        le=top,
        allow_inf_nan=False,
        description=f"{spec.description} ({spec.unit}); {spec.lower:g} to {top:g}{note}",
    )


class MetricRecord(BaseModel):
    """One sample of one server, as sent to ``POST /feed``.

    Unknown fields are ignored, so richer source documents can be sent as they are.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    timestamp: datetime = Field(
        description="ISO 8601; 'Z' or an offset; naive means UTC. Epoch seconds also accepted "
        "as a JSON number (not a string). From 1970-01-01T00:00:00Z on."
    )
    server_name: Annotated[str, Field(strict=True, pattern=SERVER_NAME_PATTERN)]
    cpu_pct: float | None = _metric_field(METRIC_SPECS[0])
    mem_pct: float | None = _metric_field(METRIC_SPECS[1])
    disk_io_mb_s: float | None = _metric_field(METRIC_SPECS[2])
    latency_ms: float | None = _metric_field(METRIC_SPECS[3])
    state: State | None = None
    profile: Annotated[str, Field(strict=True, pattern=PROFILE_PATTERN)] | None = None

    @field_validator("timestamp", mode="before")
    @classmethod
    def _no_number_text(cls, value: Any) -> Any:
        if isinstance(value, str) and _NUMERIC_TEXT.fullmatch(value):
            raise ValueError("an epoch time must be a JSON number, not a string")
        return value

    @field_validator("timestamp")
    @classmethod
    def _as_utc(cls, value: datetime) -> datetime:
        try:
            utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        except OverflowError:  # 0001-01-01T00:03:00+00:04 is before year 1 in UTC
            utc = None
        if utc is None or utc < EPOCH:
            raise PydanticCustomError(
                TIMESTAMP_RANGE, "a timestamp must be at 1970-01-01T00:00:00Z or later"
            )
        return utc

    @model_validator(mode="after")
    def _needs_a_metric(self) -> MetricRecord:
        if all(getattr(self, name) is None for name in METRICS):
            raise ValueError(f"a record needs at least one metric of {', '.join(METRICS)}")
        return self


class FeedRecord(MetricRecord):
    """A record as ``POST /feed`` takes it: a ``MetricRecord`` whose percentages may go up to
    their ``limit`` (200: a bursting VM reports up to about 200 % of its nominal CPU); the
    daemon stores them at 100 and counts them (``tftmon_records_clamped_total``).

    Senders that check records before sending (the adapters) keep ``MetricRecord``'s range.
    """

    cpu_pct: float | None = _metric_field(METRIC_SPECS[0], clamped=True)
    mem_pct: float | None = _metric_field(METRIC_SPECS[1], clamped=True)
    disk_io_mb_s: float | None = _metric_field(METRIC_SPECS[2], clamped=True)
    latency_ms: float | None = _metric_field(METRIC_SPECS[3], clamped=True)


# ---------------------------------------------------------------- outbound: /feed


_RECORD_FIELDS = ("timestamp", "server_name", "state", "profile")
check_covers_metrics(
    [name for name in MetricRecord.model_fields if name not in _RECORD_FIELDS],
    "MetricRecord's metric fields",
)


class FieldError(BaseModel):
    """Why one field of one record was refused."""

    field: str = Field(description="the field, e.g. 'cpu_pct'; '' for the record as a whole")
    reason: str = Field(description="a stable code, e.g. 'out_of_range', 'late', 'future'")
    message: str


class RejectedRecord(BaseModel):
    """A record of a batch that was not stored, by its index in the batch."""

    index: int
    server_name: str | None
    errors: list[FieldError]


class RejectedField(BaseModel):
    """A field left out of a record that was stored (or was a duplicate) without it."""

    index: int = Field(description="the record's position in the batch")
    server_name: str
    field: str = Field(description="e.g. 'cpu_pct', 'state', 'profile'")
    reason: str = Field(description="a stable code, e.g. 'out_of_range', 'conflict'")
    message: str


class FeedResponse(BaseModel):
    """The answer to ``POST /feed``: what was stored, what was already stored, what not.

    Every record of the batch is counted once: ``accepted + duplicates + merged +
    len(rejected)`` is the batch's length.
    """

    accepted: int = Field(description="records stored by this request")
    duplicates: int = Field(description="records already stored, or repeated in the batch")
    rejected: list[RejectedRecord] = Field(description="records not stored, by index")
    merged: int = Field(
        0,
        description="records folded into an earlier record of the batch with the same "
        "server and timestamp (they brought metrics it lacked)",
    )
    clamped: int = Field(
        0, description="metric values above their range (e.g. cpu_pct 100-200) stored at its bound"
    )
    fields_rejected: list[RejectedField] = Field(
        default_factory=list,
        description="fields left out of records that were kept: the rest of each was stored",
    )
    servers_tracked: int
    servers_ready: int
    warmup_complete: bool


class Problem(BaseModel):
    """One problem of a request that failed validation."""

    field: str = Field(description="where, e.g. 'query.limit' or 'body'")
    message: str


class ErrorResponse(BaseModel):
    """The shape of every error answer; some codes add the fields below."""

    model_config = ConfigDict(extra="allow")

    detail: str = Field(description="what went wrong, for a person")
    code: str = Field(description="a stable code, e.g. 'invalid_api_key', 'invalid_request'")
    errors: list[Problem] | None = Field(
        default=None, description="invalid_request (422): each problem of the request"
    )
    rejected: list[RejectedRecord] | None = Field(
        default=None, description="no_valid_records (422): why each record was refused"
    )
