"""Documents in the shape the daemon serves, for tests of pure dashboard code."""

from __future__ import annotations

from typing import Any

QUANTILES = ("p02", "p10", "p25", "p50", "p75", "p90", "p98")
OFFSETS = {
    "p02": -20.0,
    "p10": -10.0,
    "p25": -5.0,
    "p50": 0.0,
    "p75": 5.0,
    "p90": 10.0,
    "p98": 20.0,
}


def metric(
    median: list[float],
    warning: float = 80.0,
    critical: float = 95.0,
    *,
    current: float | None = None,
    **extra: float | None,
) -> dict[str, Any]:
    """One metric's forecast: quantiles as fixed offsets around ``median``.

    ``warning_p``, ``critical_30m`` and ``critical_p`` set the probabilities a daemon has
    always sent; ``warning_30m``, ``minutes_to_warning`` and ``minutes_to_critical`` add the
    newer keys only when given. ``current`` defaults to the first median.
    """
    quantiles = {q: [m + OFFSETS[q] for m in median] for q in QUANTILES}
    entry: dict[str, Any] = {
        "p10": quantiles["p10"],
        "p50": quantiles["p50"],
        "p90": quantiles["p90"],
        "current": median[0] if current is None else current,
        "trend": 0.0,
        "quantiles": quantiles,
        "exceed_warning_8h": extra.get("warning_p", 0.0),
        "exceed_critical_30m": extra.get("critical_30m", 0.0),
        "exceed_critical_8h": extra.get("critical_p", 0.0),
        "warning_threshold": warning,
        "critical_threshold": critical,
    }
    newer = {
        "warning_30m": "exceed_warning_30m",
        "minutes_to_warning": "minutes_to_warning",
        "minutes_to_critical": "minutes_to_critical",
    }
    entry |= {key: extra[name] for name, key in newer.items() if name in extra}
    return entry


def server(level: str = "healthy", risk: float = 0.0, **metrics: dict[str, Any]) -> dict[str, Any]:
    return {
        "forecast_start": "2026-11-27T00:00:00Z",
        "profile": "web_api",
        "model_type": "TFT",
        "risk_score": risk,
        "alert": level,
        "incident_probability": risk / 100,
        "incident_probability_30m": risk / 200,
        "incident_probability_8h": risk / 100,
        "history_steps": 300,
        "warming_up": False,
        **metrics,
    }
