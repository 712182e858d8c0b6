"""What the dashboard shows: fetched through ``tftmon.client`` and shaped into rows (no Streamlit).

One refresh makes one ``/predictions/current?view=summary`` call for the whole fleet; the
full forecast (quantile lists) is fetched for the selected server only.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from tftmon.client import TftmonClient
from tftmon.dashboard.pair_risk import FLOOR, PairRisk, fmt_value, pair_risk, pair_risks
from tftmon.errors import ConfigError, DaemonResponseError, DaemonUnavailableError
from tftmon.schemas import ALERT_LEVELS

DEFAULT_REFRESH_S: Final = 30.0
HISTORY_HOURS: Final = 8.0
RECENT_ALERT_HOURS: Final = 24.0
HORIZON_HOURS: Final = 8.0  # the window of the 8 h probabilities
WINDOW: Final = f"{HORIZON_HOURS:g} h"
_RANK: Final = {level: i for i, level in enumerate(ALERT_LEVELS)}


@dataclass(frozen=True, slots=True)
class DashboardConfig:
    """Where the daemon is, the key to send, and how often to refresh."""

    url: str
    api_key: str | None
    refresh_s: float = DEFAULT_REFRESH_S


@dataclass(frozen=True, slots=True)
class FleetView:
    """Everything one refresh fetched for the fleet views."""

    status: dict[str, Any]
    predictions: dict[str, Any]  # the summary view: no forecast lists
    active: list[dict[str, Any]]
    history: list[dict[str, Any]]
    fetched_at: datetime
    fetch_ms: float


@dataclass(frozen=True, slots=True)
class ServerView:
    """One server: its full prediction entry and its recent history."""

    name: str
    prediction: dict[str, Any] | None
    history: dict[str, Any] | None
    step_seconds: int


@dataclass(frozen=True, slots=True)
class Problem:
    """Why the dashboard cannot show the fleet."""

    kind: Literal["unreachable", "auth", "error"]
    message: str
    hints: list[str] = field(default_factory=list)


def resolve_config(secrets: Mapping[str, Any], environ: Mapping[str, str]) -> DashboardConfig:
    """Daemon URL, key and refresh period: the environment, then ``.streamlit/secrets.toml``
    (``daemon_url``, ``api_key``, ``refresh_s``, as ``generate_api_key.py`` writes them), then
    what every client uses (``.env`` keys, ``TFTMON_PORT``).
    """
    from tftmon.cli.common import client_settings

    url = environ.get("TFTMON_DAEMON_URL") or secrets.get("daemon_url")
    key = environ.get("TFTMON_API_KEY") or secrets.get("api_key")
    if not url or not key:
        default_url, default_key = client_settings(None)
        url, key = url or default_url, key or default_key
    refresh = environ.get("TFTMON_DASHBOARD_REFRESH_S") or secrets.get("refresh_s")
    refresh_s = float(refresh or DEFAULT_REFRESH_S)
    if not refresh_s > 0:  # also NaN
        raise ConfigError(f"the dashboard refresh must be a positive number of seconds: {refresh}")
    return DashboardConfig(str(url), key and str(key), refresh_s)


def make_client(config: DashboardConfig) -> TftmonClient:
    """A client that gives up quickly: a dashboard refreshes anyway."""
    return TftmonClient(config.url, config.api_key, timeout=15.0, retries=1, backoff_s=0.2)


def fetch_fleet(client: TftmonClient, now: datetime | None = None) -> FleetView:
    """Status, the predictions summary, active alerts and the last day of alert events."""
    began = time.perf_counter()
    now = now or datetime.now(UTC)
    status = client.status()
    predictions = client.predictions(summary=True)
    active = client.active_alerts()
    history = client.alert_history(now - timedelta(hours=RECENT_ALERT_HOURS))
    elapsed = 1000 * (time.perf_counter() - began)
    return FleetView(status, predictions, active, history, now, elapsed)


def fetch_server(client: TftmonClient, name: str, hours: float = HISTORY_HOURS) -> ServerView:
    """The full forecast of one server (``servers=name``) and its bucketed history."""
    doc = client.predictions([name])
    try:
        history: dict[str, Any] | None = client.server_history(name, hours)
    except DaemonResponseError as exc:
        if exc.status_code != 404:
            raise
        history = None
    step = int(doc.get("metadata", {}).get("step_seconds", 300))
    return ServerView(name, doc.get("predictions", {}).get(name), history, step)


def describe_problem(exc: Exception, config: DashboardConfig) -> Problem:
    """A clear message for a failed fetch, with what to do about it."""
    if isinstance(exc, DaemonUnavailableError):
        return Problem(
            "unreachable",
            f"The daemon at {config.url} is unreachable.",
            [
                "./start_all.sh",
                ".venv/bin/python tft_inference_daemon.py --port 8000",
                "export TFTMON_DAEMON_URL=http://127.0.0.1:8000  # if it runs elsewhere",
            ],
        )
    if isinstance(exc, DaemonResponseError) and exc.status_code in (401, 403):
        where = "no API key is configured" if not config.api_key else "the API key was refused"
        return Problem(
            "auth",
            f"The daemon at {config.url} answered {exc.status_code}: {where} ({exc.detail}).",
            [
                ".venv/bin/python generate_api_key.py  # writes .env and .streamlit/secrets.toml",
                "export TFTMON_API_KEY=<one of the daemon's TFTMON_API_KEYS>",
            ],
        )
    return Problem("error", f"The daemon answered with an error: {exc}")


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
    at = datetime.fromisoformat(start.replace("Z", "+00:00")) + timedelta(minutes=minutes)
    return f"{at.astimezone(UTC):%H:%M} UTC"


@dataclass(frozen=True, slots=True)
class Outlook:
    """One pair against one threshold, as the dashboard words it."""

    kind: str  # which threshold: "warning" or "critical"
    threshold: float | None
    current: float | None
    cause: str  # "current": at or over it now; "forecast": predicted
    minutes: int | None  # to the expected crossing; None: none expected, or unknown
    probability: float | None
    window: str | None = None  # what ``probability`` is within ("8 h"); None: unsaid


def when_text(minutes: int | None, *, over: bool = False) -> str:
    """When a crossing is expected: now, at the next step, in about N min or h, or within 8 h."""
    if over:
        return "now"
    if minutes is None:
        return f"within {WINDOW}"
    if minutes == 0:
        return "at the next step"
    return f"in ~{minutes} min" if minutes < 120 else f"in ~{minutes / 60:.1f} h"


def crossing_text(o: Outlook) -> str:
    """An outlook in words that agree with its cause and forecast.

    ``at 97.1 now (critical 95)``; ``80% likely to reach critical 95 within 8 h, in ~25 min
    (now 72.3)``; ``expected to reach warning 80 in ~2.5 h``.
    """
    limit = f"{o.kind} {fmt_value(o.threshold)}"
    if o.cause == "current":
        return (
            f"over {limit} now" if o.current is None else f"at {fmt_value(o.current)} now ({limit})"
        )
    if o.probability is not None:
        text = f"{o.probability:.0%} likely to reach {limit}"
    else:
        text = f"{'may' if o.minutes is None else 'expected to'} reach {limit}"
    if o.window:
        text += f" within {o.window}"
    if o.minutes is not None:
        text += f"{',' if o.probability is not None else ''} {when_text(o.minutes)}"
    return text if o.current is None else f"{text} (now {fmt_value(o.current)})"


def alert_cause(alert: Mapping[str, Any]) -> str:
    """``current`` when the alert says so or its current value is at the threshold, else
    ``forecast`` (alerts of older daemons carry no cause)."""
    value, threshold = alert.get("current_value"), alert.get("threshold")
    at_threshold = value is not None and threshold is not None and value >= threshold
    return "current" if alert.get("cause") == "current" or at_threshold else "forecast"


def alert_outlook(
    alert: Mapping[str, Any], predictions: Mapping[str, Mapping[str, Any]] | None = None
) -> Outlook:
    """An alert's threshold as the latest forecast of its pair sees it, when ``predictions``
    has the pair; else as the alert itself says (its values date from its last change)."""
    entry = (predictions or {}).get(alert["server"], {}).get(alert["metric"])
    live = _live_outlook(alert, entry) if isinstance(entry, Mapping) else None
    if live is not None:
        return live
    cause = alert_cause(alert)
    return Outlook(
        kind=alert["level"],
        threshold=alert["threshold"],
        current=alert.get("current_value"),
        cause=cause,
        minutes=None if cause == "current" else alert.get("minutes_ahead"),
        probability=alert.get("probability"),
    )


def _live_outlook(alert: Mapping[str, Any], entry: Mapping[str, Any]) -> Outlook | None:
    risk = pair_risk(alert["server"], alert["metric"], entry)
    kind = risk.kind_of(alert["threshold"])
    if kind is None:  # thresholds changed since the alert: its own values are all we have
        return None
    return Outlook(
        kind=kind,
        threshold=alert["threshold"],
        current=risk.current,
        cause="current" if risk.reached(kind) else "forecast",
        minutes=risk.minutes_to(kind),
        probability=risk.p_8h(kind),
        window=WINDOW,
    )


def alert_rows(
    active: Sequence[Mapping[str, Any]],
    now: datetime,
    predictions: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Active alerts: current value, cause and outlook in words (from the latest forecast of
    the pair when ``predictions`` has it), the alert's probability and lead time."""
    rows = []
    for a in active:
        opened = datetime.fromisoformat(str(a["opened_at"]).replace("Z", "+00:00"))
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
