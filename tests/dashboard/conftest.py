"""A daemon serving the shipped model with 200 simulated servers, shared by the dashboard tests."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from tests.dashboard.stack import feed_fleet, wait_for_predictions
from tests.servers import DaemonProcess, model_daemon

FLEET = 200


@pytest.fixture(scope="session")
def fleet_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    """A real daemon (TFT of ``models/``) that has forecast 200 servers plus one warming up."""
    daemon = model_daemon(tmp_path_factory.mktemp("fleet"))
    daemon.start()
    try:
        names = feed_fleet(daemon.url, FLEET)
        wait_for_predictions(daemon.url, len(names))
        yield daemon
    finally:
        daemon.kill(signal.SIGTERM)
