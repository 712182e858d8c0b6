"""Inbound records of ``POST /feed``, its answer, and the one shape of every error answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tftmon.schemas.metrics import (
    METRIC_SPECS,
    METRICS,
    PROFILE_PATTERN,
    SERVER_NAME_PATTERN,
    MetricSpec,
    State,
    check_covers_metrics,
)


def _metric_field(spec: MetricSpec) -> Any:
    return Field(
        default=None,
        strict=True,
        ge=spec.lower,
        le=spec.upper,
        allow_inf_nan=False,
        description=f"{spec.description} ({spec.unit})",
    )


class MetricRecord(BaseModel):
    """One sample of one server, as sent to ``POST /feed``.

    Unknown fields are ignored, so richer source documents can be sent as they are.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    timestamp: datetime = Field(
        description="ISO 8601; 'Z' or an offset; naive means UTC. Epoch seconds also accepted."
    )
    server_name: Annotated[str, Field(strict=True, pattern=SERVER_NAME_PATTERN)]
    cpu_pct: float | None = _metric_field(METRIC_SPECS[0])
    mem_pct: float | None = _metric_field(METRIC_SPECS[1])
    disk_io_mb_s: float | None = _metric_field(METRIC_SPECS[2])
    latency_ms: float | None = _metric_field(METRIC_SPECS[3])
    state: State | None = None
    profile: Annotated[str, Field(strict=True, pattern=PROFILE_PATTERN)] | None = None

    @field_validator("timestamp")
    @classmethod
    def _as_utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _needs_a_metric(self) -> MetricRecord:
        if all(getattr(self, name) is None for name in METRICS):
            raise ValueError(f"a record needs at least one metric of {', '.join(METRICS)}")
        return self


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


class FeedResponse(BaseModel):
    """The answer to ``POST /feed``: what was stored, what was already stored, what not."""

    accepted: int
    duplicates: int
    rejected: list[RejectedRecord]
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
