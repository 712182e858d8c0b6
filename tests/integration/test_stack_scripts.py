"""``./start_all.sh`` on non-default ports records them, so ``./status.sh`` and
``./stop_all.sh`` find the stack without the variables; the daemon's alert links point at
the dashboard it started. A small copy of the repository (the stack scripts and the entry
scripts; no model, so the daemon serves the baseline at once) keeps it to seconds."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.servers import REPO, free_port, skip_unless_venv_current

pytestmark = pytest.mark.integration

FILES = (
    "start_all.sh",
    "status.sh",
    "stop_all.sh",
    "scripts/stack_lib.sh",
    "scripts/bootstrap.sh",
    "scripts/python_lib.sh",
    "pyproject.toml",  # bootstrap's stamp: .venv is current for it
    "generate_api_key.py",
    "tft_inference_daemon.py",
    "metrics_generator.py",
    "tft_dashboard_web.py",
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    skip_unless_venv_current()
    copy = tmp_path / "stack"
    for name in FILES:
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, copy / name)
    (copy / ".venv").symlink_to(REPO / ".venv")
    return copy


def script(root: Path, name: str, env: dict[str, str], timeout: float) -> str:
    done = subprocess.run(
        [f"./{name}"], cwd=root, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{name}: {done.stdout}{done.stderr}"
    return done.stdout


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def test_status_and_stop_find_the_ports_start_all_chose(root: Path) -> None:
    port, dashboard_port = free_port(), free_port()
    plain = {k: v for k, v in os.environ.items() if not k.startswith("TFTMON_")}
    started_env = {
        **plain,
        "TFTMON_PORT": str(port),
        "TFTMON_DASHBOARD_PORT": str(dashboard_port),
        "TFTMON_DEMO_SERVERS": "2",
        "TFTMON_DEMO_BACKFILL_HOURS": "0",
        "TFTMON_MODELS_DIR": str(root / "models"),  # none: the baseline serves at once
    }
    try:
        out = script(root, "start_all.sh", started_env, timeout=120)
        assert f"dashboard: http://127.0.0.1:{dashboard_port}" in out
        state = (root / "run" / "stack.env").read_text()
        assert state == f"TFTMON_PORT={port}\nTFTMON_DASHBOARD_PORT={dashboard_port}\n"
        daemon_pid = int((root / "run" / "daemon.pid").read_text())
        link = environ_of(daemon_pid)["TFTMON_DASHBOARD_URL"]
        assert link == f"http://127.0.0.1:{dashboard_port}"  # Alertmanager's generatorURL

        status = script(root, "status.sh", plain, timeout=30)  # no port variables now
        assert f"daemon     http://127.0.0.1:{port}: " in status
        assert f"dashboard  http://127.0.0.1:{dashboard_port}: up" in status
    finally:
        stopped = script(root, "stop_all.sh", plain, timeout=60)
    assert {"stopped daemon", "stopped generator", "stopped dashboard"} <= {
        " ".join(line.split()[:2]) for line in stopped.splitlines()
    }
    assert not list((root / "run").iterdir())  # no PID files, no stack.env
    assert (
        not Path(f"/proc/{daemon_pid}").exists()
        or "zombie" in Path(f"/proc/{daemon_pid}/status").read_text()
    )
