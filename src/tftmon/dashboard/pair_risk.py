"""The risk of one (server, metric) pair, read from its ``/predictions/current`` entry (pure).

Reads daemons with and without ``exceed_warning_30m`` and ``minutes_to_warning/critical``.
A value at or over a threshold is told from ``current`` (``minutes_to_*`` is also 0 for a
crossing at the first forecast step), and the probabilities are made consistent: 1.0 when
already over, critical never likelier than warning, 8 h never less likely than 30 min.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from tftmon.schemas import METRICS

Threshold = Literal["warning", "critical"]
FLOOR: Final = 0.05  # a pair whose every probability is below this is not a risk
IMMINENT: Final = 0.5  # P(critical within 30 min) that ranks a pair right after those over
OVER_RANK: Final[dict[Threshold | None, int]] = {"critical": 2, "warning": 1, None: 0}


@dataclass(frozen=True, slots=True)
class PairRisk:
    """How close one server's metric is to its thresholds.

    Probabilities are of reaching the threshold within the window (1.0 when already over
    it). Minutes count from the forecast start to the expected crossing: 0 when already
    over, None when none is expected within the horizon or the daemon does not say.
    """

    server: str
    metric: str
    current: float | None
    warning_threshold: float | None
    critical_threshold: float | None
    over: Threshold | None  # the highest threshold the current value is at or over
    p_warning_30m: float
    p_warning_8h: float
    p_critical_30m: float
    p_critical_8h: float
    minutes_to_warning: int | None
    minutes_to_critical: int | None

    def threshold(self, kind: Threshold) -> float | None:
        return self.critical_threshold if kind == "critical" else self.warning_threshold

    def minutes_to(self, kind: Threshold) -> int | None:
        return self.minutes_to_critical if kind == "critical" else self.minutes_to_warning

    def p_8h(self, kind: Threshold) -> float:
        """The probability of reaching ``kind`` within 8 h."""
        return self.p_critical_8h if kind == "critical" else self.p_warning_8h

    def reached(self, kind: Threshold) -> bool:
        """Whether the current value is at or over ``kind``."""
        return self.over == "critical" or self.over == kind

    def kind_of(self, threshold: float) -> Threshold | None:
        """Which of the pair's thresholds ``threshold`` is, if either."""
        if threshold == self.critical_threshold:
            return "critical"
        return "warning" if threshold == self.warning_threshold else None

    @property
    def peak(self) -> float:
        """The highest of the pair's probabilities (1.0 when over a threshold)."""
        return max(self.p_warning_30m, self.p_warning_8h, self.p_critical_30m, self.p_critical_8h)

    @property
    def stake(self) -> Threshold:
        """The threshold the pair is about: the one it is over, else critical when at least
        half as likely as warning within 8 h."""
        if self.over is not None:
            return self.over
        return "critical" if self.p_critical_8h >= self.p_warning_8h / 2 else "warning"

    @property
    def probability(self) -> float:
        """The probability of reaching the threshold at stake within 8 h."""
        return self.p_8h(self.stake)

    @property
    def cause(self) -> Literal["current", "forecast"]:
        return "forecast" if self.over is None else "current"

    def notable(self, floor: float = FLOOR) -> bool:
        """Over a threshold, or some probability at least ``floor``."""
        return self.over is not None or self.peak >= floor

    @property
    def excess(self) -> float:
        """How far the current value is over the threshold it is over, as a share of that
        threshold (0.05: 5 % over); 0.0 when it is over none."""
        limit = None if self.over is None else self.threshold(self.over)
        if self.current is None or limit is None:
            return 0.0
        return (self.current - limit) / abs(limit) if limit else self.current - limit

    @property
    def urgency(self) -> tuple[int, float, float, float, float]:
        """Ascending sort key, by the probability of the earliest crossing.

        Over critical, then over warning (each furthest over first), then P(critical within
        30 min) >= ``IMMINENT``; within each group and after them by P(warning within 8 h),
        then P(critical within 8 h), highest first, then the sooner expected warning
        crossing (unknown last). Warning lies below critical, so a forecast reaches it first:
        P(warning) = 0.99 outranks P(critical) = 0.06.
        """
        if self.over is not None:
            group = OVER_RANK[self.over] + 1
        else:
            group = 1 if self.p_critical_30m >= IMMINENT else 0
        minutes = self.minutes_to_warning
        return (
            -group,
            -self.excess,
            -self.p_warning_8h,
            -self.p_critical_8h,
            math.inf if minutes is None else minutes,
        )


def pair_risk(server: str, metric: str, entry: Mapping[str, Any]) -> PairRisk:
    """The risk of ``metric`` of ``server`` from its metric entry of a prediction."""
    current = _number(entry.get("current"))
    warning, critical = (_number(entry.get(f"{k}_threshold")) for k in ("warning", "critical"))
    over_critical = _is_over(current, critical)
    over_warning = over_critical or _is_over(current, warning)
    over: Threshold | None = "critical" if over_critical else "warning" if over_warning else None
    c30 = 1.0 if over_critical else _probability(entry.get("exceed_critical_30m"))
    c8h = 1.0 if over_critical else max(_probability(entry.get("exceed_critical_8h")), c30)
    w30 = 1.0 if over_warning else max(_probability(entry.get("exceed_warning_30m")), c30)
    w8h = 1.0 if over_warning else max(_probability(entry.get("exceed_warning_8h")), w30, c8h)
    return PairRisk(
        server=server,
        metric=metric,
        current=current,
        warning_threshold=warning,
        critical_threshold=critical,
        over=over,
        p_warning_30m=w30,
        p_warning_8h=w8h,
        p_critical_30m=c30,
        p_critical_8h=c8h,
        minutes_to_warning=0 if over_warning else _minutes(entry.get("minutes_to_warning")),
        minutes_to_critical=0 if over_critical else _minutes(entry.get("minutes_to_critical")),
    )


def pair_risks(predictions: Mapping[str, Mapping[str, Any]]) -> Iterator[PairRisk]:
    """Every (server, metric) pair with a forecast, in document and metric order."""
    for server, entry in predictions.items():
        for metric in METRICS:
            forecast = entry.get(metric)
            if isinstance(forecast, Mapping):
                yield pair_risk(server, metric, forecast)


def fmt_value(value: float | None) -> str:
    """A metric value in a sentence: at most two decimals, no trailing zeros (97.1, 95)."""
    if value is None:
        return "?"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _is_over(current: float | None, limit: float | None) -> bool:
    return current is not None and limit is not None and current >= limit


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _probability(value: Any) -> float:
    number = _number(value)
    return 0.0 if number is None else min(1.0, max(0.0, number))


def _minutes(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else max(0, round(number))
