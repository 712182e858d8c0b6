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
from tftmon.errors import ConfigError, DaemonResponseError, DaemonUnavailableError
from tftmon.schemas import ALERT_LEVELS, METRICS

DEFAULT_REFRESH_S: Final = 30.0
HISTORY_HOURS: Final = 8.0
RECENT_ALERT_HOURS: Final = 24.0
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
    min_probability: float = 0.05,
) -> list[dict[str, Any]]:
    """The riskiest (server, metric) pairs: which metric, how likely, and when.

    Probability is that of crossing the critical threshold within 8 h, or the warning one
    when that is higher; ``minutes_ahead`` comes from the daemon's alert of the pair, if any.
    """
    when = {(a["server"], a["metric"]): a for a in alerts}
    out = []
    for name, p in predictions.items():
        for metric in METRICS:
            m = p.get(metric)
            if not isinstance(m, dict):
                continue
            critical = float(m.get("exceed_critical_8h", 0.0))
            warning = float(m.get("exceed_warning_8h", 0.0))
            kind, probability = (
                ("critical", critical)
                if critical >= warning / 2
                else (
                    "warning",
                    warning,
                )
            )
            if probability < min_probability:
                continue
            alert = when.get((name, metric), {})
            current, threshold = m.get("current"), m.get(f"{kind}_threshold")
            minutes = alert.get("minutes_ahead")
            out.append(
                {
                    "server": name,
                    "metric": metric,
                    "level": alert.get("level", p.get("alert", "healthy")),
                    "crossing": kind,
                    "probability": round(probability, 4),
                    "when": when_text(minutes, current, threshold),
                    "p_critical_30m": m.get("exceed_critical_30m", 0.0),
                    "minutes_ahead": minutes,
                    "current": current,
                    "threshold": threshold,
                    "model": p.get("model_type", "?"),
                }
            )
    out.sort(key=lambda r: (-_RANK.get(r["level"], 0), -r["probability"], r["server"]))
    return out[:limit]


def when_text(minutes_ahead: int | None, current: float | None, threshold: float | None) -> str:
    """When a crossing is expected, in words: already, in about N minutes, or within 8 h."""
    if current is not None and threshold is not None and current >= threshold:
        return "already above"
    if minutes_ahead is not None:
        return (
            f"in ~{minutes_ahead} min" if minutes_ahead < 120 else f"in ~{minutes_ahead / 60:.1f} h"
        )
    return "within 8 h"


def alert_rows(active: Sequence[Mapping[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """Active alerts with their lead time (how far ahead the crossing is predicted)."""
    rows = []
    for a in active:
        opened = datetime.fromisoformat(str(a["opened_at"]).replace("Z", "+00:00"))
        rows.append(
            {
                "server": a["server"],
                "metric": a["metric"],
                "level": a["level"],
                "probability": a["probability"],
                "lead_time_min": a.get("minutes_ahead"),
                "when": when_text(a.get("minutes_ahead"), None, None)
                if a.get("minutes_ahead") is not None
                else "p90 stays below it in the horizon",
                "predicted_p90": a.get("predicted_p90"),
                "threshold": a["threshold"],
                "open_for_min": round((now - opened).total_seconds() / 60, 1),
                "opened_at": a["opened_at"],
            }
        )
    return rows


def recent_rows(events: Sequence[Mapping[str, Any]], limit: int = 200) -> list[dict[str, Any]]:
    """Alert events, newest first, each with the lead time it carried."""
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
