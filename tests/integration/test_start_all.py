"""``./start_all.sh`` in a temporary copy of the repository with non-default ports: the
daemon forecasts every generated server with the TFT, the dashboard answers, and
``./stop_all.sh`` leaves no process behind."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.servers import REPO, free_port, skip_unless_venv_current, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SERVERS = 5


def copy_repo(target: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    # the set-up step itself is ./run_tests.sh's first step; share its result
    (target / ".venv").symlink_to(REPO / ".venv")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A copy of the repository sharing this checkout's current ``.venv``."""
    skip_unless_venv_current()
    copy = tmp_path / "tftmon"
    copy_repo(copy)
    return copy


def processes_in(folder: Path) -> list[int]:
    """PIDs of live processes whose working directory is ``folder``."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if Path(os.readlink(proc / "cwd")) == folder:
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


def test_start_all_runs_the_demo_stack_and_stop_all_ends_it(root: Path) -> None:
    port, dashboard_port = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TFTMON_")},
        "TFTMON_PORT": str(port),
        "TFTMON_DASHBOARD_PORT": str(dashboard_port),
        "TFTMON_DEMO_SERVERS": str(SERVERS),
        "TFTMON_DEMO_BACKFILL_HOURS": "2",
    }
    try:
        started = subprocess.run(
            ["./start_all.sh"], cwd=root, env=env, capture_output=True, text=True, timeout=300
        )
        assert started.returncode == 0, started.stdout + started.stderr
        assert f"http://127.0.0.1:{dashboard_port}" in started.stdout
        again = subprocess.run(
            ["./start_all.sh"], cwd=root, env=env, capture_output=True, text=True, timeout=300
        )
        assert again.returncode == 0 and "daemon already running" in again.stdout
        key = subprocess.run(
            [str(root / ".venv/bin/python"), "generate_api_key.py", "--show"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

        def all_tft() -> bool:
            answer = httpx.get(
                f"http://127.0.0.1:{port}/predictions/current",
                headers={"X-API-Key": key},
                timeout=10,
            ).json()["predictions"]
            return len(answer) == SERVERS and all(p["model_type"] == "TFT" for p in answer.values())

        wait_for(all_tft, timeout=120)
        assert httpx.get(f"http://127.0.0.1:{dashboard_port}/", timeout=10).status_code == 200
        status = subprocess.run(["./status.sh"], cwd=root, env=env, capture_output=True, text=True)
        assert status.returncode == 0, status.stdout + status.stderr
        assert f"{SERVERS}/{SERVERS} servers ready" in status.stdout
    finally:
        pids = [int(p.read_text()) for p in (root / "run").glob("*.pid")]
        stopped = subprocess.run(
            ["./stop_all.sh"], cwd=root, env=env, capture_output=True, text=True, timeout=120
        )
    assert stopped.returncode == 0, stopped.stderr
    assert len(pids) == 3
    for pid in pids:
        assert (
            not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
        )
    assert processes_in(root) == []
    assert not list((root / "run").glob("*.pid"))


def test_stale_pid_files_and_taken_ports_are_recognised(root: Path) -> None:
    (root / "run").mkdir()
    bystander = subprocess.Popen(["sleep", "60"])  # the PID a reboot gave to someone else
    try:
        (root / "run" / "daemon.pid").write_text(f"{bystander.pid}\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("TFTMON_")}
        status = subprocess.run(["./status.sh"], cwd=root, env=env, capture_output=True, text=True)
        assert "daemon     not running" in status.stdout
        subprocess.run(["./stop_all.sh"], cwd=root, env=env, check=True, timeout=60)
        assert bystander.poll() is None  # not killed
        assert not (root / "run" / "daemon.pid").exists()
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            env["TFTMON_PORT"] = str(taken.getsockname()[1])
            started = subprocess.run(
                ["./start_all.sh"], cwd=root, env=env, capture_output=True, text=True, timeout=120
            )
        assert started.returncode == 1
        assert "is taken by another process" in started.stderr
        assert not list((root / "run").glob("*.pid"))
    finally:
        bystander.kill()
        bystander.wait()
