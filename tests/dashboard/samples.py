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
    median: list[float], warning: float = 80.0, critical: float = 95.0, **extra: float
) -> dict[str, Any]:
    """One metric's forecast: quantiles as fixed offsets around ``median``."""
    quantiles = {q: [m + OFFSETS[q] for m in median] for q in QUANTILES}
    return {
        "p10": quantiles["p10"],
        "p50": quantiles["p50"],
        "p90": quantiles["p90"],
        "current": median[0],
        "trend": 0.0,
        "quantiles": quantiles,
        "exceed_warning_8h": extra.get("warning_p", 0.0),
        "exceed_critical_30m": extra.get("critical_30m", 0.0),
        "exceed_critical_8h": extra.get("critical_p", 0.0),
        "warning_threshold": warning,
        "critical_threshold": critical,
    }


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
