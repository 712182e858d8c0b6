"""The dashboard's tables: fetched documents shaped into rows, riskiest first (no Streamlit)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from tftmon.dashboard.outlook import (
    WINDOW,
    Outlook,
    alert_cause,
    alert_outlook,
    crossing_text,
    when_text,
)
from tftmon.dashboard.pair_risk import FLOOR, PairRisk, pair_risks
from tftmon.schemas import ALERT_LEVELS
from tftmon.timefmt import parse_iso

_RANK: Final = {level: i for i, level in enumerate(ALERT_LEVELS)}


def server_rows(predictions: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per server, riskiest first: level, probabilities, model, warm-up."""
    rows = []
    for name, p in predictions.items():
        row: dict[str, Any] = {
            "server": name,
            "level": p.get("alert", "healthy"),
            "risk_score": p.get("risk_score", 0.0),
            "p_incident_30m": p.get("incident_probability_30m", 0.0),
            "p_incident_8h": p.get("incident_probability_8h", 0.0),
            "model": p.get("model_type", "?"),
            "profile": p.get("profile", ""),
            "warming_up": p.get("warming_up", False),
            "history_steps": p.get("history_steps", 0),
        }
        rows.append(row)
    rows.sort(key=lambda r: (-_RANK.get(r["level"], 0), -r["risk_score"], r["server"]))
    return rows


def top_risks(
    predictions: Mapping[str, Mapping[str, Any]],
    alerts: Sequence[Mapping[str, Any]],
    limit: int = 20,
    min_probability: float = FLOOR,
) -> list[dict[str, Any]]:
    """The riskiest (server, metric) pairs: what is at stake, how likely, when, and why.

    Ranked by the probability of the earliest crossing (``PairRisk.urgency``): pairs already
    over critical, then over warning (each furthest over first), then those with P(critical
    within 30 min) >= ``IMMINENT`` (0.5), then by P(warning within 8 h), P(critical within
    8 h) and the sooner expected warning crossing. A pair is left out when it is over no
    threshold and every probability of it is below ``min_probability``.
    When the daemon does not give ``minutes_to_*``, the minutes come from its alert on the pair.
    """
    alerted = {(a["server"], a["metric"]): a for a in alerts}
    risks = [r for r in pair_risks(predictions) if r.notable(min_probability)]
    risks.sort(key=lambda r: (*r.urgency, r.server, r.metric))
    return [
        _risk_row(r, predictions[r.server], alerted.get((r.server, r.metric), {}))
        for r in risks[:limit]
    ]


def _risk_row(
    risk: PairRisk, server: Mapping[str, Any], alert: Mapping[str, Any]
) -> dict[str, Any]:
    stake, threshold = risk.stake, risk.threshold(risk.stake)
    minutes = risk.minutes_to(stake)
    if minutes is None and alert.get("threshold") == threshold:
        minutes = alert.get("minutes_ahead")
    return {
        "server": risk.server,
        "metric": risk.metric,
        "current": risk.current,
        "at_stake": stake,
        "threshold": threshold,
        "probability": round(risk.probability, 4),
        "expected": when_text(minutes, over=risk.over is not None),
        "expected_at": "" if risk.over else _clock(server.get("forecast_start"), minutes),
        "cause": risk.cause,
        "p_critical_30m": round(risk.p_critical_30m, 4),
        "p_critical_8h": round(risk.p_critical_8h, 4),
        "p_warning_8h": round(risk.p_warning_8h, 4),
        "alert": alert.get("level", ""),
        "model": server.get("model_type", "?"),
        "minutes_ahead": minutes,
        "summary": _risk_summary(risk, minutes),
    }


def _risk_summary(risk: PairRisk, minutes: int | None) -> str:
    """The pair's outlook in words; for a pair over warning, also its critical outlook."""
    stake = risk.stake
    text = crossing_text(
        Outlook(
            stake,
            risk.threshold(stake),
            risk.current,
            risk.cause,
            minutes,
            risk.probability,
            WINDOW,
        )
    )
    if risk.over != "warning" or risk.p_critical_8h < FLOOR:
        return text
    critical = Outlook(
        "critical",
        risk.critical_threshold,
        None,
        "forecast",
        risk.minutes_to_critical,
        risk.p_critical_8h,
        WINDOW,
    )
    return f"{text}; {crossing_text(critical)}"


def _clock(start: Any, minutes: int | None) -> str:
    """``HH:MM UTC`` of ``start`` (ISO 8601) plus ``minutes``; empty when either is unknown."""
    if not isinstance(start, str) or minutes is None:
        return ""
    at = parse_iso(start) + timedelta(minutes=minutes)
    return f"{at.astimezone(UTC):%H:%M} UTC"


def alert_rows(
    active: Sequence[Mapping[str, Any]],
    now: datetime,
    predictions: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Active alerts: current value, cause and outlook in words (from the latest forecast of
    the pair when ``predictions`` has it), the alert's probability and lead time."""
    rows = []
    for a in active:
        opened = parse_iso(str(a["opened_at"]))
        outlook = alert_outlook(a, predictions)
        rows.append(
            {
                "server": a["server"],
                "metric": a["metric"],
                "level": a["level"],
                "cause": outlook.cause,
                "current": outlook.current,
                "threshold": a["threshold"],
                "summary": crossing_text(outlook),
                "probability": a["probability"],
                "lead_time_min": a.get("minutes_ahead"),
                "predicted_p90": a.get("predicted_p90"),
                "open_for_min": round((now - opened).total_seconds() / 60, 1),
                "opened_at": a["opened_at"],
            }
        )
    return rows


def recent_rows(events: Sequence[Mapping[str, Any]], limit: int = 200) -> list[dict[str, Any]]:
    """Alert events, newest first, each with its cause and the lead time it carried."""
    rows = []
    for event in reversed(events[-limit:]):
        a = event["alert"]
        rows.append(
            {
                "at": event["at"],
                "event": event["event"],
                "server": a["server"],
                "metric": a["metric"],
                "level": a["level"],
                "cause": alert_cause(a),
                "current": a.get("current_value"),
                "probability": a["probability"],
                "lead_time_min": a.get("minutes_ahead"),
                "status": a["status"],
            }
        )
    return rows


def model_counts(predictions: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    """How many servers each model type served (TFT, baseline)."""
    counts: dict[str, int] = {}
    for p in predictions.values():
        kind = str(p.get("model_type", "?"))
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def ingest_rate(samples: Sequence[tuple[float, int]]) -> float | None:
    """Records per second between the oldest and newest ``(time, records_ingested)`` sample."""
    if len(samples) < 2:
        return None
    (t0, n0), (t1, n1) = samples[0], samples[-1]
    if t1 <= t0 or n1 < n0:  # a restarted daemon counts from zero again
        return None
    return (n1 - n0) / (t1 - t0)
