"""The metrics, states, profiles and alert levels every part of tftmon speaks of."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal, get_args


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One forecast metric: its contract name, unit and valid range.

    ``lower`` and ``upper`` are the metric's range as stored and forecast (``upper`` None:
    a rate without a natural bound, log-scaled by the model). ``limit`` is the largest
    value ``POST /feed`` accepts: above it a value is refused (``out_of_range``); between
    ``upper`` and ``limit`` it is stored as ``upper`` and counted as clamped (a bursting VM
    reports up to about 200 % of its nominal CPU). Every limit is finite, so no accepted
    value overflows the float32 the model computes in.
    """

    name: str
    unit: str
    lower: float
    upper: float | None
    description: str
    limit: float


# The metric list is declared once here; models record it in their metadata.
METRIC_SPECS: Final[tuple[MetricSpec, ...]] = (
    MetricSpec("cpu_pct", "%", 0.0, 100.0, "CPU utilisation, percent of all cores", 200.0),
    MetricSpec("mem_pct", "%", 0.0, 100.0, "memory in use, percent of total", 200.0),
    # 1 TB/s and about 2.8 hours: far above any real server, far below float32's 3.4e38
    MetricSpec("disk_io_mb_s", "MB/s", 0.0, None, "disk read + write throughput", 1e6),
    MetricSpec("latency_ms", "ms", 0.0, None, "service or probe latency", 1e7),
)
METRICS: Final[tuple[str, ...]] = tuple(spec.name for spec in METRIC_SPECS)


def check_covers_metrics(names: Iterable[str], what: str, *, left_out: Iterable[str] = ()) -> None:
    """Check, at import, that a per-metric table names exactly the metrics of ``METRICS``.

    For facts that cannot be derived from ``METRIC_SPECS`` (a source's field names, its
    queries, a generator's levels): adding a metric then fails loudly until each table
    says what to do with it.

    Args:
        names: the metrics the table has an entry for.
        what: the table, for the message.
        left_out: metrics the table leaves out on purpose (a source that cannot measure them).

    Raises:
        ValueError: a metric neither in the table nor left out, or a name not a metric.
    """
    named, skipped = set(names), set(left_out)
    problems = {
        "no entry for": [m for m in METRICS if m not in named | skipped],
        "not metrics": sorted((named | skipped) - set(METRICS)),
        "both there and left out": sorted(named & skipped),
    }
    found = "; ".join(f"{label}: {', '.join(bad)}" for label, bad in problems.items() if bad)
    if found:
        raise ValueError(f"{what} must cover exactly the metrics {', '.join(METRICS)} ({found})")


State = Literal[
    "healthy",
    "heavy_load",
    "critical_issue",
    "idle",
    "maintenance",
    "morning_spike",
    "offline",
    "recovery",
]
STATES: Final[tuple[str, ...]] = get_args(State)

DEFAULT_PROFILE: Final = "generic"
DEFAULT_PROFILE_RULES: Final[dict[str, str]] = {
    "ppml": "ml_compute",
    "ppdb": "database",
    "ppweb": "web_api",
    "ppcon": "conductor",
    "ppetl": "data_ingest",
    "pprisk": "risk_analytics",
}
SERVER_NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
PROFILE_PATTERN: Final = r"^[a-z][a-z0-9_]{0,63}$"

AlertLevel = Literal["healthy", "watch", "warning", "critical"]
ALERT_LEVELS: Final[tuple[str, ...]] = ("healthy", "watch", "warning", "critical")


def profile_for(server_name: str, rules: dict[str, str]) -> str:
    """Derive a server's profile from its name: the longest matching prefix rule wins."""
    lowered = server_name.lower()
    best = ""
    profile = DEFAULT_PROFILE
    for prefix, name in rules.items():
        if len(prefix) > len(best) and lowered.startswith(prefix.lower()):
            best, profile = prefix, name
    return profile
