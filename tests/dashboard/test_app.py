"""The Streamlit app under ``AppTest`` against a real daemon subprocess."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard.conftest import FLEET
from tests.dashboard.stack import WARMING
from tests.servers import API_KEY, REPO, DaemonProcess, free_port
from tftmon.client import TftmonClient
from tftmon.dashboard.rows import server_rows, top_risks

pytestmark = pytest.mark.integration
APP = str(REPO / "tft_dashboard_web.py")


def _run(monkeypatch: pytest.MonkeyPatch, url: str, key: str, **query: str) -> AppTest:
    monkeypatch.setenv("TFTMON_DAEMON_URL", url)
    monkeypatch.setenv("TFTMON_API_KEY", key)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(query)
    return at.run()


def _titles(at: AppTest) -> list[str]:
    return [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]


def _metrics(at: AppTest) -> list[tuple[str, str]]:
    return [(m.label, m.value) for m in at.metric]


def test_fleet_views_against_a_real_daemon(
    fleet_daemon: DaemonProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _run(monkeypatch, fleet_daemon.url, API_KEY)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert _first_tab(at) == "Top risks"
    metrics = _metrics(at)
    assert ("Servers", str(FLEET + 1)) in metrics
    assert ("Model", "TFT") in metrics
    assert [t.label for t in at.tabs] == [
        "Top risks",
        "Server detail",
        "Risk heatmap",
        "Alerts",
        "Model & system",
    ]
    with TftmonClient(fleet_daemon.url, API_KEY) as client:
        doc = client.predictions(summary=True)
        status = client.status()
        active = client.active_alerts()
    # the server list is the daemon's, riskiest first; the riskiest is selected
    select = at.selectbox(key="server")
    assert select.options == [r["server"] for r in server_rows(doc["predictions"])]
    assert select.value == select.options[0]
    titles = _titles(at)
    for metric in ("cpu_pct", "mem_pct", "disk_io_mb_s", "latency_ms"):
        assert f"{metric} forecast" in titles
    assert any(t.startswith("Highest probability of crossing a threshold") for t in titles)
    assert "Validation MAE (lower is better)" in titles
    # the calibration figure appears exactly when the served model has a calibration
    calibration = status["model"]["calibration"] or {}
    assert ("Probability calibration" in titles) == bool(calibration.get("maps"))
    assert ("Records ingested", f"{status['records_ingested']:,}") in metrics
    # top risks: (server, metric) pairs with cause; active alerts with current value and cause
    risks = top_risks(doc["predictions"], doc["alerts"])
    tables = [d.value for d in at.dataframe]
    if risks:
        first = f"**{risks[0]['server']}** · `{risks[0]['metric']}`: "
        assert any(first in m.value for m in at.markdown)
        assert any({"at_stake", "cause", "current"} <= set(t.columns) for t in tables)
    else:
        assert any("No metric is over a threshold" in s.value for s in at.success)
    if active:
        assert any({"cause", "current", "summary"} <= set(t.columns) for t in tables)
    # a server with too little history: warming up, and forecast by the baseline
    at.selectbox(key="server").select(WARMING).run()
    assert not at.exception
    assert any("warming up" in i.value for i in at.info)
    assert ("Model", "baseline") in _metrics(at)
    assert "cpu_pct forecast" in _titles(at) and "disk_io_mb_s forecast" not in _titles(at)


def _first_tab(at: AppTest) -> str:
    """The label of the tab the page opens on."""
    (container,) = at.get("tab_container")
    return str(at.tabs[container.proto.tab_container.default_tab_index].label)


def test_a_link_to_a_server_opens_its_page(
    fleet_daemon: DaemonProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    # alert notifications link {TFTMON_DASHBOARD_URL}/?server=<name>
    at = _run(monkeypatch, fleet_daemon.url, API_KEY, server=WARMING)
    assert not at.exception, at.exception
    select = at.selectbox(key="server")
    assert select.options[0] != WARMING  # the riskiest is the default, not the linked one
    assert select.value == WARMING and _first_tab(at) == "Server detail"
    assert any(f"{WARMING} is warming up" in i.value for i in at.info)
    assert not at.warning
    # choosing another server puts it in the URL; a later refresh keeps the choice
    other = select.options[0]
    at.selectbox(key="server").select(other).run()
    assert at.query_params["server"] == other
    assert at.selectbox(key="server").value == other
    at.run()
    assert at.selectbox(key="server").value == other


def test_a_link_to_an_unknown_server_says_so_and_shows_the_riskiest(
    fleet_daemon: DaemonProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _run(monkeypatch, fleet_daemon.url, API_KEY, server="nosuchserver")
    assert not at.exception, at.exception
    assert any("`nosuchserver`" in w.value for w in at.warning)
    select = at.selectbox(key="server")
    assert select.value == select.options[0] and _first_tab(at) == "Server detail"


def test_wrong_key_is_an_auth_failure(
    fleet_daemon: DaemonProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _run(monkeypatch, fleet_daemon.url, "wrong-key-0123456789abcdefghij")
    assert not at.exception
    assert "API key was refused" in at.error[0].value and "401" in at.error[0].value
    assert "generate_api_key.py" in at.code[0].value
    assert not at.get("plotly_chart")


def test_unreachable_daemon_says_how_to_start_it(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    at = _run(monkeypatch, url, API_KEY)
    assert not at.exception
    assert f"{url} is unreachable" in at.error[0].value
    assert "tft_inference_daemon.py" in at.code[0].value
