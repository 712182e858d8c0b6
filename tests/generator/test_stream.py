"""Streaming the simulated fleet into a real daemon: backfill, live ticks, control endpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import API_KEY
from tests.servers import REPO, DaemonProcess, free_port, wait_for

pytestmark = pytest.mark.integration


def test_backfill_then_live(daemon: DaemonProcess, tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    env = {**os.environ, "TFTMON_API_KEY": API_KEY}
    started = time.monotonic()
    out = subprocess.run(
        [
            sys.executable,
            str(REPO / "metrics_generator.py"),
            "--stream",
            "--url",
            daemon.url,
            "--backfill-hours",
            "2",
            "--max-ticks",
            "3",
            "--speed",
            "50",
            "--servers",
            "6",
            "--labels",
            str(labels),
            "--incident-rate",
            "50",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert time.monotonic() - started < 60
    assert "warm-up 6/6 servers ready" in out.stderr
    with daemon.client() as c:
        status = c.get("/status").json()
        assert status["servers_tracked"] == 6 and status["is_warmed_up"]
        newest = max(s["last_seen"] for s in status["servers"].values())
        wait_for(lambda: len(c.get("/predictions/current").json()["predictions"]) == 6, 20)
    # speed 50 with the default 24 h lead: the clock is a day back, nowhere near the future
    assert newest < time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 3600))
    assert labels.read_text().startswith("server_name,start,end,kind")


def test_control_endpoint_switches_scenario(daemon: DaemonProcess, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "TFTMON_API_KEY": API_KEY}
    proc = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "metrics_generator.py"),
            "--stream",
            "--url",
            daemon.url,
            "--servers",
            "4",
            "--control-port",
            str(port),
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/scenario"
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(url, headers={"X-API-Key": API_KEY}, timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert r.json()["scenario"] == "healthy"
        assert httpx.post(url, json={"scenario": "critical"}).status_code == 401
        r = httpx.post(url, json={"scenario": "critical"}, headers={"X-API-Key": API_KEY})
        assert r.json() == {"scenario": "critical"}
        bad = httpx.post(url, json={"scenario": "x"}, headers={"X-API-Key": API_KEY})
        assert bad.status_code == 422
        proc.send_signal(signal.SIGUSR1)  # critical -> healthy
        wait_for(
            lambda: httpx.get(url, headers={"X-API-Key": API_KEY}).json()["scenario"] == "healthy",
            10,
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode == 0
