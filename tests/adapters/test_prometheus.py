"""End to end on real parts: this machine's metrics → node_exporter → Prometheus → adapter →
daemon → forecast."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.adapters.conftest import adapter_config, client_of, ingested
from tests.servers import DaemonProcess, NodeExporter, PrometheusServer, wait_for
from tftmon.adapters.prometheus import PrometheusAdapter
from tftmon.errors import ConfigError, SourceError

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp_path = tmp_path_factory.mktemp("prometheus")
    if not Path("/usr/bin/prometheus").exists():
        pytest.skip("prometheus is not installed (./run_tests.sh installs it)")
    exporter = NodeExporter(tmp_path / "node")
    exporter.start()
    server = PrometheusServer(tmp_path / "prom", targets=[f"127.0.0.1:{exporter.port}"])
    server.start()

    def scraped() -> bool:
        answer = httpx.get(
            f"{server.url}/api/v1/query", params={"query": "count_over_time(up[1m])"}
        )
        result = answer.json()["data"]["result"]
        return bool(result) and float(result[0]["value"][1]) >= 6

    wait_for(scraped, timeout=30)
    yield server
    server.stop()
    exporter.stop()


def test_real_node_metrics_reach_a_forecast(
    prometheus: PrometheusServer, daemon: DaemonProcess, tmp_path: Path
) -> None:
    source = {"url": prometheus.url, "step_s": 1, "lag_s": 0}
    config = adapter_config(tmp_path, source, backfill_hours=30 / 3600, mapping={"preset": "flat"})
    with client_of(daemon) as client:
        adapter = PrometheusAdapter(config, client)
        report = adapter.poll()
        assert report.accepted >= 3, report.lines()
        assert not report.mapping.skipped
        sample = adapter.mapping.map_many(list(adapter.fetch(None).documents))[0]
        adapter.close()
    record = sample[-1]
    assert record["server_name"] == "127.0.0.1"  # the instance label without its port
    assert 0.0 <= record["cpu_pct"] <= 100.0
    assert 0.0 < record["mem_pct"] < 100.0  # this machine's real memory use
    assert record["disk_io_mb_s"] >= 0.0
    assert ingested(daemon) == report.accepted

    def forecast() -> bool:
        with daemon.client() as http:
            servers = http.get("/predictions/current").json()["predictions"]
        return "cpu_pct" in servers.get("127.0.0.1", {})  # a forecast of the real CPU

    wait_for(forecast, timeout=30)


def test_resumes_after_its_checkpoint(prometheus: PrometheusServer, tmp_path: Path) -> None:
    source = {"url": prometheus.url, "step_s": 1, "lag_s": 0, "max_window_s": 3}
    config = adapter_config(tmp_path, source, backfill_hours=4 / 3600, mapping={"preset": "flat"})
    adapter = PrometheusAdapter(config, None)
    first = adapter.fetch(None)
    assert first.more and 1 <= len({d["timestamp"] for d in first.documents}) <= 3
    from tftmon.adapters.checkpoint import Checkpoint

    after = Checkpoint(position=first.position or [], timestamp=None, source=adapter.source_id())
    second = adapter.fetch(after)
    assert min(d["timestamp"] for d in second.documents) > max(
        d["timestamp"] for d in first.documents
    )
    adapter.close()


def test_a_bad_query_is_a_config_error_and_a_dead_server_a_source_error(
    prometheus: PrometheusServer, tmp_path: Path
) -> None:
    bad = {"url": prometheus.url, "queries": {"cpu_pct": "rate(("}}
    adapter = PrometheusAdapter(adapter_config(tmp_path, bad, mapping={"preset": "flat"}), None)
    with pytest.raises(ConfigError, match="refused the cpu_pct query"):
        adapter.fetch(None)
    adapter.close()
    dead = PrometheusAdapter(
        adapter_config(
            tmp_path, {"url": "http://127.0.0.1:9", "timeout_s": 1}, mapping={"preset": "flat"}
        ),
        None,
    )
    with pytest.raises(SourceError, match="Prometheus"):
        dead.fetch(None)
    dead.close()
