"""Field mapping: source documents (dotted paths, source units) → contract records.

A mapping names, for each contract field, one or more source paths (the first present
wins) and a unit transform. Shipped presets cover Metricbeat / Elastic Agent ``system.*``
documents, flat documents already in contract names, and the field names of the system
tftmon replaces (``cpu_usage_pct``, ``memory_pct``, ``hostname``, ``@timestamp``). Every
mapped record is validated against the contract here, so the adapter can count what it
skipped and why instead of sending records the daemon would refuse.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tftmon.errors import ConfigError, field_problems
from tftmon.schemas import METRICS, FeedRecord, check_covers_metrics
from tftmon.timefmt import iso_z

Transform = Callable[[float], float]

TRANSFORMS: Final[dict[str, Transform]] = {
    "identity": lambda v: v,
    "fraction_to_percent": lambda v: v * 100.0,  # 0.42 → 42 %
    "bytes_to_mb": lambda v: v / 1e6,  # bytes/s → MB/s
    "kib_to_mb": lambda v: v * 1024 / 1e6,  # KiB/s → MB/s
    "mib_to_mb": lambda v: v * 1024 * 1024 / 1e6,  # MiB/s → MB/s
    "seconds_to_ms": lambda v: v * 1000.0,
    "us_to_ms": lambda v: v / 1000.0,
}
CONTRACT_FIELDS: Final[tuple[str, ...]] = ("timestamp", "server_name", *METRICS, "state", "profile")


class FieldSpec(BaseModel):
    """Where one contract field comes from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    paths: tuple[str, ...] = Field(min_length=1, description="dotted source paths; first wins")
    transform: str = "identity"

    @field_validator("transform")
    @classmethod
    def _known_transform(cls, value: str) -> str:
        if value not in TRANSFORMS:
            raise ValueError(f"unknown transform {value!r}; one of {', '.join(TRANSFORMS)}")
        return value


def _spec(paths: str | list[str], transform: str = "identity") -> FieldSpec:
    return FieldSpec(
        paths=(paths,) if isinstance(paths, str) else tuple(paths), transform=transform
    )


PRESETS: Final[dict[str, dict[str, FieldSpec]]] = {
    # documents already in the contract's names (what POST /feed takes)
    "flat": {name: _spec(name) for name in CONTRACT_FIELDS},
    # Metricbeat / Elastic Agent system module: percentages are fractions (0.42 = 42 %).
    # Its diskio fields are cumulative counters, not rates; map a rate field if you have one.
    "metricbeat": {
        "timestamp": _spec("@timestamp"),
        "server_name": _spec(["host.name", "host.hostname", "agent.hostname"]),
        "cpu_pct": _spec(
            ["system.cpu.total.norm.pct", "system.cpu.total.pct"], "fraction_to_percent"
        ),
        "mem_pct": _spec(
            ["system.memory.actual.used.pct", "system.memory.used.pct"], "fraction_to_percent"
        ),
    },
    # the system tftmon replaces: percent fields already in percent (never multiplied by 100)
    "legacy": {
        "timestamp": _spec(["@timestamp", "timestamp"]),
        "server_name": _spec(["hostname", "server_name", "host"]),
        "cpu_pct": _spec(["cpu_usage_pct", "cpu_pct", "cpu_percent"]),
        "mem_pct": _spec(["memory_pct", "mem_pct", "memory_usage_pct"]),
        "disk_io_mb_s": _spec(["disk_io_mb_s", "disk_io_mbps", "disk_mb_s"]),
        "latency_ms": _spec(["latency_ms", "response_time_ms", "latency"]),
        "state": _spec(["state", "status"]),
        "profile": _spec("profile"),
    },
}
# the metrics a preset's source does not have (Metricbeat: no rates, no service latency)
_LEFT_OUT: Final[dict[str, tuple[str, ...]]] = {"metricbeat": ("disk_io_mb_s", "latency_ms")}


def _check_presets() -> None:
    """Every preset maps each metric or says it cannot (so a new metric fails here)."""
    not_metrics = set(CONTRACT_FIELDS) - set(METRICS)
    for name, preset in PRESETS.items():
        check_covers_metrics(
            set(preset) - not_metrics, f"mapping preset {name!r}", left_out=_LEFT_OUT.get(name, ())
        )


_check_presets()


class MappingConfig(BaseModel):
    """A preset plus per-field overrides, as written in an adapter's config file."""

    model_config = ConfigDict(extra="forbid")

    preset: str = "flat"
    fields: dict[str, str | list[str] | FieldSpec] = Field(default_factory=dict)

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str) -> str:
        if value not in PRESETS:
            raise ValueError(f"unknown preset {value!r}; one of {', '.join(PRESETS)}")
        return value

    @field_validator("fields")
    @classmethod
    def _known_fields(
        cls, value: dict[str, str | list[str] | FieldSpec]
    ) -> dict[str, str | list[str] | FieldSpec]:
        unknown = set(value) - set(CONTRACT_FIELDS)
        if unknown:
            raise ValueError(
                f"unknown contract field(s) {sorted(unknown)}; one of {', '.join(CONTRACT_FIELDS)}"
            )
        return value


@dataclass
class MappingReport:
    """What one call of ``FieldMapping.map_many`` kept and skipped."""

    mapped: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def add(self, other: MappingReport) -> None:
        self.mapped += other.mapped
        self.skipped.update(other.skipped)


class FieldMapping:
    """Maps source documents to validated contract records."""

    def __init__(self, specs: Mapping[str, FieldSpec]) -> None:
        for required in ("timestamp", "server_name"):
            if required not in specs:
                raise ConfigError(f"field mapping has no source for {required!r}")
        if not any(name in specs for name in METRICS):
            raise ConfigError(f"field mapping maps none of the metrics {', '.join(METRICS)}")
        self.specs = dict(specs)
        self._compiled = [
            (name, [tuple(p.split(".")) for p in spec.paths], TRANSFORMS[spec.transform])
            for name, spec in self.specs.items()
        ]

    @classmethod
    def from_config(cls, config: MappingConfig) -> FieldMapping:
        specs = dict(PRESETS[config.preset])
        for name, override in config.fields.items():
            specs[name] = override if isinstance(override, FieldSpec) else _spec(override)
        return cls(specs)

    def map_one(self, document: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
        """One document → (record, None), or (None, the reason it was skipped)."""
        record: dict[str, Any] = {}
        for name, paths, transform in self._compiled:
            value = _first(document, paths)
            if value is None:
                continue
            if name == "timestamp":
                value = iso_timestamp(value)
            elif name in METRICS:
                if isinstance(value, bool) or not isinstance(value, int | float):
                    return None, f"{name}: not a number ({type(value).__name__})"
                value = transform(float(value))
                if not math.isfinite(value):
                    return None, f"{name}: not finite"
            record[name] = value
        if "timestamp" not in record:
            return None, "no timestamp"
        if "server_name" not in record:
            return None, "no server name"
        try:
            # the daemon's own rule: a bursting VM's CPU up to 200 % is sent, stored at 100
            FeedRecord.model_validate(record)
        except ValidationError as exc:
            where, message = field_problems(exc.errors(), "record")[0]
            return None, f"{where}: {message}"
        return record, None

    def map_many(
        self, documents: list[Mapping[str, Any]]
    ) -> tuple[list[dict[str, Any]], MappingReport]:
        """Map a batch; invalid documents are skipped and counted by reason."""
        report = MappingReport()
        out: list[dict[str, Any]] = []
        for document in documents:
            record, reason = self.map_one(document)
            if record is None:
                report.skipped[reason or "invalid"] += 1
            else:
                out.append(record)
        report.mapped = len(out)
        return out, report


def _first(document: Mapping[str, Any], paths: list[tuple[str, ...]]) -> Any:
    for parts in paths:
        if len(parts) == 1:  # the common case, and a flat key that itself contains dots
            value = document.get(parts[0])
        else:
            value = document.get(".".join(parts))  # Elasticsearch also allows dotted keys
            if value is None:
                value = document
                for part in parts:
                    value = value.get(part) if isinstance(value, Mapping) else None
                    if value is None:
                        break
        if value is not None:
            return value
    return None


def iso_timestamp(value: Any) -> Any:
    """Source timestamps as the contract takes them: datetimes and epochs become ISO 8601."""
    if isinstance(value, datetime):
        return iso_z(value)  # naive BSON dates are UTC, as iso_z takes them
    if isinstance(value, int | float) and not isinstance(value, bool):
        return iso_z(value / 1000.0 if value > 1e11 else float(value))  # epoch millis or seconds
    return value
