"""End to end on real parts: node_exporter → Prometheus 2.42 → remote write → daemon →
forecast, with the ``prometheus.yml`` of Docs/REMOTE_WRITE.md, whose ```bash block runs
against the daemon at the end."""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.docs_runner import bash_blocks, reader_checkout, run_blocks
from tests.servers import API_KEY, REPO, DaemonProcess, NodeExporter, PrometheusServer, wait_for

pytestmark = pytest.mark.integration

DOC = REPO / "Docs" / "REMOTE_WRITE.md"

KEEP = (
    "node_cpu_seconds_total|node_memory_MemAvailable_bytes|node_memory_MemTotal_bytes"
    "|node_disk_read_bytes_total|node_disk_written_bytes_total"
)


@dataclass
class RemoteWritingPrometheus(PrometheusServer):
    """Prometheus scraping ``targets`` every second and writing to ``write_url``."""

    write_url: str = ""

    def command(self) -> list[str]:
        command = super().command()
        config = self.workdir / "prometheus.yml"
        config.write_text(
            config.read_text()
            + f"remote_write:\n  - url: {self.write_url}\n"
            + f"    authorization:\n      credentials: {API_KEY}\n"
            + "    queue_config:\n      batch_send_deadline: 1s\n"
            + "      min_backoff: 100ms\n      max_backoff: 1s\n"
            + "    write_relabel_configs:\n"
            + f"      - source_labels: [__name__]\n        regex: {KEEP}\n        action: keep\n"
        )
        return command


def test_prometheus_remote_write_reaches_a_forecast(tmp_path: Path) -> None:
    if not Path("/usr/bin/prometheus").exists():
        pytest.skip("prometheus is not installed (./run_tests.sh installs it)")
    started = time.monotonic()
    daemon = DaemonProcess(
        data_dir=tmp_path / "data",
        log=tmp_path / "daemon.log",
        # 2-s model steps: three closed steps make a server ready to forecast
        env={"TFTMON_STEP_SECONDS": "2", "TFTMON_MIN_HISTORY_STEPS": "3"},
    )
    daemon.start()
    exporter = NodeExporter(tmp_path / "node")
    exporter.start()
    prometheus = RemoteWritingPrometheus(
        tmp_path / "prom",
        targets=[f"127.0.0.1:{exporter.port}"],
        write_url=f"{daemon.url}/api/v1/write",
    )
    prometheus.start()
    try:
        history: dict[str, Any] = {}

        def stored() -> bool:
            with daemon.client() as http:
                answer = http.get("/servers/127.0.0.1/history", params={"hours": 1})
            if answer.status_code != 200:
                return False
            history.update(answer.json())
            values = history["values"]
            return any(
                all(values[m][i] is not None for m in ("cpu_pct", "mem_pct", "disk_io_mb_s"))
                for i in range(len(history["timestamps"]))
            )

        wait_for(stored, timeout=30, what="records of 127.0.0.1 with CPU, memory and disk")
        values = history["values"]
        assert all(0.0 <= v <= 100.0 for v in values["cpu_pct"] if v is not None)
        assert all(0.0 < v < 100.0 for v in values["mem_pct"] if v is not None)
        assert all(v >= 0.0 for v in values["disk_io_mb_s"] if v is not None)

        def forecast() -> bool:
            with daemon.client() as http:
                servers = http.get("/predictions/current").json()["predictions"]
            return "cpu_pct" in servers.get("127.0.0.1", {})

        wait_for(forecast, timeout=max(5.0, 40 - (time.monotonic() - started)), what="forecast")
        with daemon.client() as http:
            text = http.get("/metrics").text
        assert 'tftmon_remote_write_requests_total{status="204"}' in text
        assert 'tftmon_remote_write_samples_dropped_total{reason="unmapped"}' not in text
        # the doc's commands, against this daemon and its remote-written samples
        blocks = bash_blocks(DOC.read_text())
        assert len(blocks) == 1, "Docs/REMOTE_WRITE.md lost its runnable check"
        run_blocks(blocks, reader_checkout(tmp_path), daemon.port)
    finally:
        prometheus.stop()
        exporter.stop()
        daemon.kill(signal.SIGTERM)
