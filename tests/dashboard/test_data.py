"""What the dashboard fetches: config, problems, one fleet, one server (MockTransport)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.dashboard.samples import server
from tftmon.client import TftmonClient
from tftmon.dashboard import data
from tftmon.errors import ConfigError, DaemonResponseError, DaemonUnavailableError

CONFIG = data.DashboardConfig("http://daemon", "k" * 20)


def test_config_environment_first_then_secrets_then_dotenv(tmp_path: Path) -> None:
    secrets = {"daemon_url": "http://s:1", "api_key": "secret-key", "refresh_s": 5}
    env = {"TFTMON_DAEMON_URL": "http://e:2", "TFTMON_API_KEY": "env-key"}
    assert data.resolve_config(secrets, env) == data.DashboardConfig("http://e:2", "env-key", 5.0)
    assert data.resolve_config(secrets, {}) == data.DashboardConfig("http://s:1", "secret-key", 5.0)
    # neither: what every client uses (.env keys in the working directory, TFTMON_PORT)
    (tmp_path / ".env").write_text("TFTMON_API_KEYS=" + "d" * 20 + "\n")
    cfg = data.resolve_config({}, {"TFTMON_DASHBOARD_REFRESH_S": "2.5"})
    assert cfg == data.DashboardConfig("http://127.0.0.1:8000", "d" * 20, 2.5)
    for bad in ("0", "-1", "nan"):
        with pytest.raises(ConfigError, match="positive number of seconds"):
            data.resolve_config({}, {"TFTMON_DASHBOARD_REFRESH_S": bad})


def test_problems_say_what_to_do() -> None:
    down = data.describe_problem(DaemonUnavailableError("refused"), CONFIG)
    assert down.kind == "unreachable" and "http://daemon" in down.message
    assert any("tft_inference_daemon.py" in hint for hint in down.hints)
    refused = data.describe_problem(DaemonResponseError(401, "unauthorized", "bad key"), CONFIG)
    assert refused.kind == "auth" and "refused" in refused.message
    no_key = data.describe_problem(
        DaemonResponseError(401, "unauthorized", "missing"), data.DashboardConfig("http://d", None)
    )
    assert "no API key" in no_key.message
    other = data.describe_problem(DaemonResponseError(422, "invalid", "x"), CONFIG)
    assert other.kind == "error"


def test_one_fleet_fetch_asks_for_the_summary_once() -> None:
    seen: list[httpx.Request] = []
    bodies = {
        "/status": {"status": "ready"},
        "/predictions/current": {"predictions": {}, "alerts": []},
        "/alerts/active": [],
        "/alerts/history": [],
    }

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=bodies[request.url.path])

    client = TftmonClient("http://daemon", "k" * 20, transport=httpx.MockTransport(handler))
    fleet = data.fetch_fleet(client, datetime(2026, 11, 27, 12, tzinfo=UTC))
    paths = [r.url.path for r in seen]
    assert paths.count("/predictions/current") == 1
    predictions = next(r for r in seen if r.url.path == "/predictions/current")
    assert predictions.url.params["view"] == "summary"
    history = next(r for r in seen if r.url.path == "/alerts/history")
    assert history.url.params["since"].startswith("2026-11-26T12:00:00")
    assert fleet.status == {"status": "ready"}


def test_server_fetch_asks_for_one_server_and_tolerates_missing_history() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/servers/"):
            return httpx.Response(404, json={"detail": "unknown", "code": "not_found"})
        assert request.url.params["servers"] == "web1"
        doc = {"predictions": {"web1": server()}, "metadata": {"step_seconds": 60}}
        return httpx.Response(200, json=doc)

    client = TftmonClient("http://daemon", "k" * 20, transport=httpx.MockTransport(handler))
    view = data.fetch_server(client, "web1")
    assert view.prediction is not None and view.history is None and view.step_seconds == 60
