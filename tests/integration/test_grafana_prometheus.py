"""The Grafana dashboard's queries and the alert rules, against a real Prometheus scraping a
real daemon that holds a generated incident."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import hours_ago, records
from tests.servers import API_KEY, REPO, DaemonProcess, PrometheusServer, wait_for

pytestmark = pytest.mark.integration

DASHBOARD = REPO / "grafana" / "tftmon.json"
RULES = REPO / "prometheus" / "tftmon-rules.yml"
RULE_TESTS = REPO / "prometheus" / "tftmon-rules.test.yml"
HOT, CALM, DB = "ppweb009", "ppweb001", "ppdb001"


@dataclass
class ScrapingPrometheus(PrometheusServer):
    """Prometheus scraping the daemon's /metrics with its key, evaluating tftmon's rules."""

    daemon_port: int = 0

    def command(self) -> list[str]:
        config = self.workdir / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            f"rule_files: [{json.dumps(str(RULES))}]\n"
            "scrape_configs:\n  - job_name: tftmon\n"
            f"    authorization: {{credentials: {API_KEY}}}\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{self.daemon_port}']}}]\n"
        )
        return [
            "/usr/bin/prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={self.workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]


def _query(prometheus: PrometheusServer, expr: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{prometheus.url}/api/v1/query", params={"query": expr}, timeout=10)
    body = answer.json()
    assert body["status"] == "success", (expr, body)
    return list(body["data"]["result"])


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ScrapingPrometheus, DaemonProcess]]:
    if shutil.which("promtool") is None:
        pytest.skip("prometheus is not installed (./run_tests.sh installs it)")
    tmp = tmp_path_factory.mktemp("grafana")
    daemon = DaemonProcess(data_dir=tmp / "data", log=tmp / "daemon.log")
    daemon.start()
    try:
        # three hours of every metric: a calm web server, a database, and a web server whose
        # CPU is over its critical line (the generated incident)
        batch = records([CALM, DB], hours_ago(3), 180, every_s=60, cpu_pct=35.0, mem_pct=60.0)
        batch = [dict(r, disk_io_mb_s=40.0, latency_ms=80.0) for r in batch]
        hot = records([HOT], hours_ago(3), 180, every_s=60, cpu_pct=97.0, mem_pct=60.0)
        batch += [dict(r, disk_io_mb_s=40.0, latency_ms=80.0) for r in hot]
        with daemon.client() as http:
            assert http.post("/feed", json=batch).status_code == 200

            def forecast() -> bool:
                return len(http.get("/predictions/current").json()["predictions"]) == 3

            wait_for(forecast, timeout=60, what="a forecast of the three servers")
        prometheus = ScrapingPrometheus(tmp / "prom", daemon_port=daemon.port)
        prometheus.start()
        try:
            wait_for(
                lambda: len(_query(prometheus, "tftmon_server_risk_score")) == 3,
                timeout=30,
                what="Prometheus scraping tftmon's forecasts",
            )
            # rate() over the dashboard's 30 s window needs two scrapes of each counter
            wait_for(
                lambda: bool(_query(prometheus, 'count_over_time(up{job="tftmon"}[30s]) >= 3')),
                timeout=30,
                what="three scrapes of tftmon, so rate() has points",
            )
            yield prometheus, daemon
        finally:
            prometheus.stop()
    finally:
        daemon.kill()


def _expressions() -> list[tuple[str, str]]:
    """(panel title, expr) of every target of the dashboard, and its annotation queries."""
    dashboard = json.loads(DASHBOARD.read_text())
    out = [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]
    out += [(a["name"], a["expr"]) for a in dashboard["annotations"]["list"] if "expr" in a]
    return out


def _concrete(expr: str) -> str:
    """The expression as Grafana sends it for the hot server and a 1-hour lead, except that
    ``offset`` is dropped: this Prometheus holds seconds of data, not an hour, and the
    offset only moves the same series in time."""
    expr = expr.replace("$server", HOT).replace("$lead", "1h")
    expr = expr.replace("$__rate_interval", "30s")
    assert "$" not in expr, expr
    return re.sub(r"\s+offset\s+\w+", "", expr)


def test_every_dashboard_query_returns_series(
    stack: tuple[ScrapingPrometheus, DaemonProcess],
) -> None:
    prometheus = stack[0]
    expressions = _expressions()
    assert len(expressions) >= 30, "the dashboard lost its panels"
    empty = []
    for title, expr in expressions:
        result = _query(prometheus, _concrete(expr))  # valid PromQL, or this fails
        # the alert annotation needs an alert firing past its for: (minutes): parsed only
        if not result and title != "tftmon alerts":
            empty.append((title, expr))
    assert not empty, f"queries with no series: {empty}"


def test_the_dashboard_uses_only_exported_series(
    stack: tuple[ScrapingPrometheus, DaemonProcess],
) -> None:
    """Every tftmon_* name in the dashboard is a family of the daemon's /metrics."""
    names = set(re.findall(r"\btftmon_[a-z0-9_]+", DASHBOARD.read_text()))
    with stack[1].client() as http:
        text = http.get("/metrics").text
    families = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    # counters and histograms: the families' samples carry suffixes
    known = families | {f"{f}_{s}" for f in families for s in ("total", "bucket", "count", "sum")}
    assert names <= known, names - known


def test_the_rules_raise_a_forecast_alert_for_the_incident_only(
    stack: tuple[ScrapingPrometheus, DaemonProcess],
) -> None:
    prometheus = stack[0]

    def alerts() -> list[dict[str, Any]]:
        answer = httpx.get(f"{prometheus.url}/api/v1/alerts", timeout=10).json()
        return list(answer["data"]["alerts"])

    def critical_soon() -> bool:
        return any(
            a["labels"]["alertname"] == "TftmonCriticalSoon"
            and a["labels"].get("server") == HOT
            and a["labels"].get("metric") == "cpu_pct"
            for a in alerts()
        )

    wait_for(critical_soon, timeout=20, what="TftmonCriticalSoon for the hot server")
    active = alerts()
    hot = next(a for a in active if a["labels"]["alertname"] == "TftmonCriticalSoon")
    assert hot["state"] in ("pending", "firing")  # for: 2m holds it pending at first
    assert hot["labels"]["severity"] == "critical"
    assert hot["annotations"]["summary"] == (
        f"{HOT}: cpu_pct is forecast to reach its critical threshold within 30 minutes"
    )
    forecast_alerts = [a for a in active if "server" in a["labels"]]
    assert {a["labels"]["server"] for a in forecast_alerts} == {HOT}, active
    # a daemon rule may be pending in Prometheus's first seconds (no cycle seen yet), never firing
    assert not [a for a in active if "server" not in a["labels"] and a["state"] == "firing"]
    groups = httpx.get(f"{prometheus.url}/api/v1/rules", timeout=10).json()["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) >= 8
    assert all(rule["health"] == "ok" for rule in rules), [r.get("lastError") for r in rules]


def test_promtool_checks_and_unit_tests_the_rules() -> None:
    if shutil.which("promtool") is None:
        pytest.skip("promtool is installed by ./run_tests.sh")
    for args in (["check", "rules", str(RULES)], ["test", "rules", str(RULE_TESTS)]):
        out = subprocess.run(
            ["promtool", *args], capture_output=True, text=True, timeout=60, cwd=RULES.parent
        )
        assert out.returncode == 0, out.stdout + out.stderr
