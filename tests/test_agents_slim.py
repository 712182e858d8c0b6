"""The agents (forwarder, adapter daemons) run without torch, pandas, a web server or a UI
library: each entry point runs under an import blocker that refuses those packages, and
pyproject's base install plus the agent extras do not list them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import API_KEY
from tests.servers import REPO, DaemonProcess, free_port

# what an agent must never need (the daemon's, the dashboard's and training's packages)
HEAVY = ("torch", "lightning", "pytorch_forecasting", "streamlit", "plotly", "pandas")
BLOCKED = (*HEAVY, "fastapi", "uvicorn")
AGENT_EXTRAS = ("mongodb", "elasticsearch")

BLOCKER = f"""
import sys

BLOCKED = {set(BLOCKED)!r}


class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"agent test: {{name}} is blocked", name=name)
        return None


sys.meta_path.insert(0, Blocker())
"""


@pytest.fixture
def blocked_env(tmp_path: Path) -> dict[str, str]:
    """The environment of an agent process in which the heavy packages cannot be imported."""
    folder = tmp_path / "blocker"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(BLOCKER)
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("TFTMON_")},
        "PYTHONPATH": str(folder),
        "TFTMON_API_KEY": API_KEY,
    }


def run(
    command: list[str], env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def test_the_blocker_blocks(blocked_env: dict[str, str], tmp_path: Path) -> None:
    probe = run([sys.executable, "-c", "import torch"], blocked_env, tmp_path)
    assert probe.returncode == 1 and "agent test: torch is blocked" in probe.stderr


@pytest.mark.parametrize(
    "script",
    [
        "production_metrics_forwarder_TEMPLATE.py",
        "adapters/mongodb_adapter.py",
        "adapters/elasticsearch_adapter.py",
        "adapters/prometheus_adapter.py",
    ],
)
def test_agent_entry_points_answer_help(
    script: str, blocked_env: dict[str, str], tmp_path: Path
) -> None:
    answer = run([sys.executable, str(REPO / script), "--help"], blocked_env, tmp_path)
    assert answer.returncode == 0, answer.stderr
    assert "usage:" in answer.stdout and "--once" in answer.stdout


def test_console_scripts_of_the_agents(blocked_env: dict[str, str], tmp_path: Path) -> None:
    scripts = Path(sys.executable).parent
    for name in ("mongodb", "elasticsearch", "prometheus"):
        script = scripts / f"tftmon-{name}-adapter"
        if not script.exists():
            pytest.skip("console scripts are not installed (pip install -e .)")
        answer = run([str(script), "--help"], blocked_env, tmp_path)
        assert answer.returncode == 0, answer.stderr


def test_daemon_parts_name_the_extra_they_need(blocked_env: dict[str, str], tmp_path: Path) -> None:
    daemon = run([sys.executable, str(REPO / "tft_inference_daemon.py")], blocked_env, tmp_path)
    assert daemon.returncode == 2
    assert daemon.stderr.strip() == (
        "tft_inference_daemon.py: needs the 'daemon' extra (fastapi is not installed): "
        "pip install 'tftmon[daemon]'"
    )
    code = "import sys; from tftmon.cli import dashboard_main, train_main; "
    code += "sys.exit(dashboard_main([]) + 10 * train_main([]))"
    ui = run([sys.executable, "-c", code], blocked_env, tmp_path)
    assert ui.returncode == 22
    assert "pip install 'tftmon[dashboard]'" in ui.stderr
    assert "(pandas is not installed): pip install 'tftmon[daemon]'" in ui.stderr


class FakePrometheus(BaseHTTPRequestHandler):
    """``/api/v1/query_range``: one server, the value 42 at every step."""

    def do_GET(self) -> None:
        query = parse_qs(urlsplit(self.path).query)
        start, end, step = (float(query[k][0]) for k in ("start", "end", "step"))
        values = [[start + i * step, "42"] for i in range(int((end - start) / step) + 1)]
        result = [{"metric": {"instance": "agent1:9100"}, "values": values}]
        body = json.dumps({"status": "success", "data": {"resultType": "matrix", "result": result}})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def prometheus() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakePrometheus)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.integration
def test_agents_send_to_a_real_daemon_without_the_heavy_packages(
    daemon: DaemonProcess, prometheus: str, blocked_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**blocked_env, "TFTMON_DAEMON_URL": daemon.url}
    forwarder = run(
        [
            sys.executable,
            str(REPO / "production_metrics_forwarder_TEMPLATE.py"),
            *("--local", "--once", "--spool-dir", str(tmp_path / "spool")),
        ],
        env,
        tmp_path,
    )
    assert forwarder.returncode == 0, forwarder.stderr
    assert "Sent 1 records" in forwarder.stderr
    config = tmp_path / "prometheus.json"
    cfg = str(config)
    config.write_text(
        json.dumps(
            {
                "backfill_hours": 0.5,
                "state_file": str(tmp_path / "prometheus.state.json"),
                "source": {"url": prometheus, "queries": {"cpu_pct": "x"}, "max_window_s": 900},
            }
        )
    )
    adapter = run(
        [sys.executable, str(REPO / "adapters/prometheus_adapter.py"), "--once", "--config", cfg],
        env,
        tmp_path,
    )
    assert adapter.returncode == 0, adapter.stderr
    with daemon.client() as http:
        servers = set(http.get("/status").json()["servers"])
    assert "agent1" in servers and len(servers) == 2  # this machine (forwarder) and agent1


def test_agents_read_the_daemons_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The port and key the daemon reads from ``.env`` are the ones agents use."""
    port = free_port()
    (tmp_path / ".env").write_text(f"TFTMON_PORT={port}\nTFTMON_API_KEYS=old-key,new-key\n")
    monkeypatch.chdir(tmp_path)
    from tftmon.client_config import client_settings

    assert client_settings(None) == (f"http://127.0.0.1:{port}", "new-key")


# ------------------------------------------------------------------ what pyproject lists


def requirement_names(requirements: list[str]) -> set[str]:
    return {
        re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements
    }


def test_agent_install_lists_none_of_the_heavy_packages() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    agent = requirement_names(project["dependencies"])
    for extra in AGENT_EXTRAS:
        agent |= requirement_names(extras[extra])
    heavy = {name.replace("_", "-") for name in BLOCKED}
    assert agent & heavy == set()
    # and nothing was lost: every heavy package is in an extra that "all" installs
    everything = set()
    for extra in re.findall(r"\[(.*)\]", extras["all"][0])[0].split(","):
        everything |= requirement_names(extras[extra])
    assert heavy <= everything
    assert {"protobuf", "cramjam", "pymongo", "elasticsearch"} <= everything
