"""Pure builders of the ``/predictions/current`` document: per-server entries, fleet summary."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from tftmon.forecast import ForecasterInfo, ForecastOutput
from tftmon.risk.exceedance import (
    CRITICAL,
    WARNING,
    AlertPolicy,
    RiskAssessment,
    fleet_level,
    level_name,
)
from tftmon.schemas import ALERT_LEVELS, METRICS
from tftmon.timefmt import iso_z
from tftmon.windows import WindowSnapshot


def quantile_label(level: float) -> str:
    """``0.02`` → ``"p02"``, ``0.5`` → ``"p50"``."""
    return f"p{round(level * 100):02d}"


def _nearest(levels: Sequence[float], target: float) -> int:
    return int(np.abs(np.asarray(levels) - target).argmin())


def _num(value: float) -> float | None:
    return None if math.isnan(value) else round(float(value), 3)


@dataclass(frozen=True, slots=True)
class ChunkInput:
    """Everything known about a chunk of servers after forecasting and risk."""

    names: Sequence[str]
    profiles: Sequence[str]
    windows: WindowSnapshot
    output: ForecastOutput
    risk: RiskAssessment
    warning: np.ndarray
    critical: np.ndarray
    policy: AlertPolicy


def server_entries(
    chunk: ChunkInput, info: ForecasterInfo, min_history_steps: int
) -> Iterator[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
    """``(name, entry, alerts)`` of each server of a chunk (see ``schemas.ServerPrediction``).

    Forecast lists are numpy rows (orjson writes them directly): no Python float objects.
    """
    windows, risk = chunk.windows, chunk.risk
    step = windows.step_seconds
    levels = info.quantiles
    labels = [quantile_label(q) for q in levels]
    i10, i50, i90 = (_nearest(levels, q) for q in (0.1, 0.5, 0.9))
    q_all = np.ascontiguousarray(np.round(chunk.output.quantiles, 2).transpose(0, 2, 3, 1))
    absent = np.asarray(np.isnan(q_all).all(axis=(2, 3)))  # [S, M, Q, H] → [S, M]
    hour_steps = max(1, min(info.horizon_steps, round(3600 / step)))
    for i, name in enumerate(chunk.names):
        history = int(windows.history_steps[i])
        entry: dict[str, Any] = {
            "forecast_start": iso_z((int(windows.end_bucket[i]) + 1) * step),
            "profile": chunk.profiles[i],
            "model_type": chunk.output.model_type[i],
            "risk_score": round(float(risk.risk_score[i]), 1),
            "alert": level_name(int(risk.level[i])),
            "incident_probability": round(float(risk.incident_probability_8h[i]), 4),
            "incident_probability_30m": round(float(risk.incident_probability_30m[i]), 4),
            "incident_probability_8h": round(float(risk.incident_probability_8h[i]), 4),
            "history_steps": history,
            "warming_up": history < min_history_steps,
        }
        alerts: list[dict[str, Any]] = []
        for j, metric in enumerate(METRICS):
            if absent[i, j]:
                continue
            columns = q_all[i, j]
            current = float(windows.current[i, j])
            start = float(columns[i50][0]) if math.isnan(current) else current
            trend = (float(columns[i50][hour_steps - 1]) - start) * 3600 / (hour_steps * step)
            entry[metric] = {
                "p10": columns[i10],
                "p50": columns[i50],
                "p90": columns[i90],
                "current": _num(current),
                "trend": round(trend, 4) if math.isfinite(trend) else 0.0,
                "quantiles": dict(zip(labels, columns, strict=True)),
                "level": level_name(int(risk.metric_level[i, j])),
                "exceed_warning_30m": round(float(risk.p_warning_30m[i, j]), 4),
                "exceed_warning_8h": round(float(risk.p_warning_8h[i, j]), 4),
                "exceed_critical_30m": round(float(risk.p_critical_30m[i, j]), 4),
                "exceed_critical_8h": round(float(risk.p_critical_8h[i, j]), 4),
                "warning_threshold": float(chunk.warning[i, j]),
                "critical_threshold": float(chunk.critical[i, j]),
                "minutes_to_warning": _minutes(int(risk.warning_step[i, j]), step),
                "minutes_to_critical": _minutes(int(risk.critical_step[i, j]), step),
            }
            hold = int(risk.hold_level[i, j])
            if hold >= WARNING:
                alerts.append(_alert(name, metric, i, j, chunk, columns[i50], columns[i90], step))
        yield name, entry, alerts


def fleet_document(
    levels: np.ndarray,
    p30m: np.ndarray,
    p8h: np.ndarray,
    alerts: list[dict[str, Any]],
    info: ForecasterInfo,
    *,
    step_seconds: int,
    prediction_time: datetime | None,
    inference_ms: float | None,
) -> dict[str, Any]:
    """Everything of the document but ``predictions``: alerts, environment, metadata.

    Fleet incident probabilities are the mean over servers: the expected share of servers
    crossing a critical threshold in the window. ``prediction_time`` and ``inference_ms``
    are None before the first cycle (``empty_document``).
    """
    n = int(levels.shape[0])
    alerts = sorted(
        (
            {k: v for k, v in a.items() if k not in ("opens", "hold_level")}
            for a in alerts
            if a.get("opens", True)
        ),
        key=lambda a: (-ALERT_LEVELS.index(a["level"]), -a["probability"], a["server"]),
    )
    return {
        "alerts": alerts,
        "environment": {
            "incident_probability_30m": round(float(p30m.mean()), 4) if n else 0.0,
            "incident_probability_8h": round(float(p8h.mean()), 4) if n else 0.0,
            "fleet_health": fleet_level(levels),
            "high_risk_servers": int((levels >= WARNING).sum()),
            "total_servers": n,
            "level_counts": {lv: int((levels == c).sum()) for c, lv in enumerate(ALERT_LEVELS)},
        },
        "metadata": {
            "model_type": info.model_type,
            "model_version": info.version,
            "prediction_time": None if prediction_time is None else iso_z(prediction_time),
            "horizon_steps": info.horizon_steps,
            "step_seconds": step_seconds,
            "quantiles": list(info.quantiles),
            "device": info.device,
            "inference_ms": None if inference_ms is None else round(inference_ms, 2),
        },
    }


def empty_document(info: ForecasterInfo) -> dict[str, Any]:
    """The predictions document before the first inference cycle: no server, no alert."""
    none = np.zeros(0)
    rest = fleet_document(
        none.astype(np.int64),
        none,
        none,
        [],
        info,
        step_seconds=info.step_seconds,
        prediction_time=None,
        inference_ms=None,
    )
    return {"predictions": {}, **rest}


def _minutes(crossing_step: int, step_seconds: int) -> int | None:
    """Minutes from the forecast start to an expected crossing (``risk.crossing_step``)."""
    if crossing_step < 0:
        return None
    return max(0, crossing_step - 1) * step_seconds // 60


def _alert(
    server: str,
    metric: str,
    i: int,
    j: int,
    chunk: ChunkInput,
    median: np.ndarray,
    upper: np.ndarray,
    step: int,
) -> dict[str, Any]:
    """An alert candidate for a pair whose hold level is at least warning.

    ``opens`` says whether the pair meets the opening rule (``level`` is then its level);
    otherwise it may only keep an open alert, at up to ``hold_level``. The threshold,
    probability and expected crossing describe the candidate's level: a critical alert
    the critical crossing within 30 min; a warning alert the critical crossing within 8 h
    when that alone passes the warning level, else the warning crossing.
    """
    risk = chunk.risk
    opening = int(risk.metric_level[i, j])
    opens = opening >= WARNING
    level = opening if opens else int(risk.hold_level[i, j])
    if level >= CRITICAL:
        threshold, probability = chunk.critical[i, j], risk.p_critical_30m[i, j]
        crossing = risk.critical_step[i, j]
    elif risk.p_critical_8h[i, j] >= chunk.policy.warning_probability:
        threshold, probability = chunk.critical[i, j], risk.p_critical_8h[i, j]
        crossing = risk.critical_step[i, j]
    else:
        threshold, probability = chunk.warning[i, j], risk.p_warning_8h[i, j]
        crossing = risk.warning_step[i, j]
    current = float(chunk.windows.current[i, j])
    return {
        "server": server,
        "metric": metric,
        "level": level_name(level),
        "severity": level_name(level),
        "opens": opens,
        "hold_level": level_name(int(risk.hold_level[i, j])),
        "probability": round(float(probability), 4),
        "predicted_value": round(float(np.nanmax(median)), 3),
        "predicted_p90": round(float(np.nanmax(upper)), 3),
        "threshold": float(threshold),
        "minutes_ahead": _minutes(int(crossing), step),
        "current_value": _num(current),
        # "current": the newest value is already at the threshold; "forecast": predicted
        "cause": "current" if current >= threshold else "forecast",
    }
