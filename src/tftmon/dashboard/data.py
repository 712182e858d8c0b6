"""What the dashboard fetches: its settings, one refresh of the fleet, one server (no Streamlit).

One refresh makes one ``/predictions/current?view=summary`` call for the whole fleet; the
full forecast (quantile lists) is fetched for the selected server only. ``rows`` shapes what
is fetched into tables.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from tftmon.client import TftmonClient
from tftmon.client_config import client_settings
from tftmon.errors import ConfigError, DaemonResponseError, DaemonUnavailableError

DEFAULT_REFRESH_S: Final = 30.0
HISTORY_HOURS: Final = 8.0
RECENT_ALERT_HOURS: Final = 24.0


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
