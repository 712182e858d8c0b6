"""Shared fixtures: an isolated environment, settings, and the app under its lifespan."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.servers import (
    API_KEY,
    OTHER_KEY,
    Alertmanager,
    DaemonProcess,
    ElasticServer,
    MongoServer,
)

__all__ = ["API_KEY", "OTHER_KEY"]
from tftmon.api import create_app
from tftmon.settings import Settings


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No TFTMON_* variable and no .env of the developer leaks into a test."""
    for name in list(os.environ):
        if name.startswith("TFTMON_"):
            monkeypatch.delenv(name)
    # compiling the serving network takes a core for a minute: tests that want it say so
    monkeypatch.setenv("TFTMON_COMPILE", "off")
    monkeypatch.chdir(tmp_path)


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for a test: a fresh data dir, a known key, no .env file."""
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "api_keys": [API_KEY],
        "inference_interval_s": 3600.0,
        "inference_min_gap_s": 0.0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), headers={"X-API-Key": API_KEY}) as c:
        yield c


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def records(
    servers: list[str],
    start: datetime,
    count: int,
    every_s: float = 30.0,
    **metrics: float,
) -> list[dict[str, Any]]:
    """``count`` samples per server, ``every_s`` apart from ``start``."""
    values = metrics or {"cpu_pct": 40.0, "mem_pct": 60.0}
    out = []
    for i in range(count):
        t = start + timedelta(seconds=i * every_s)
        for name in servers:
            out.append({"timestamp": iso(t), "server_name": name, **values})
    return out


def hours_ago(hours: float) -> datetime:
    """The start of a 5-minute model step about ``hours`` before now (UTC)."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now - timedelta(hours=hours, minutes=now.minute % 5)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    """A real daemon subprocess with a fresh data dir; stopped by its PID afterwards."""
    d = DaemonProcess(data_dir=tmp_path / "data", log=tmp_path / "daemon.log")
    d.start()
    yield d
    d.kill(signal.SIGTERM)


from tests.tiny_model import (  # noqa: E402
    tiny_encoder_model,
    tiny_fleet,
    tiny_identity_model,
    tiny_model,
)

__all__ += ["tiny_encoder_model", "tiny_fleet", "tiny_identity_model", "tiny_model"]


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Alertmanager]:
    """A real Alertmanager (Debian package) on 127.0.0.1; skipped where it is not installed."""
    if not Path("/usr/bin/prometheus-alertmanager").exists():
        pytest.skip("prometheus-alertmanager is not installed (./run_tests.sh installs it)")
    server = Alertmanager(tmp_path / "alertmanager")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MongoServer]:
    """SecantusDB (MongoDB wire protocol) for the session; tests use their own collections."""
    if not Path(sys.executable).with_name("secantusd-py").exists():
        pytest.skip("secantusdb is not installed (./run_tests.sh installs it)")
    server = MongoServer(tmp_path_factory.mktemp("mongo"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def elastic_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ElasticServer]:
    """noida-db (Elasticsearch API) for the session; tests use their own indices."""
    pytest.importorskip("noida_db", reason="noida-db is not installed (./run_tests.sh installs it)")
    server = ElasticServer(tmp_path_factory.mktemp("elastic"))
    server.start()
    yield server
    server.stop()
