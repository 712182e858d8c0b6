"""Real processes for tests: the daemon (uvicorn) on 127.0.0.1, started and stopped by PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
API_KEY = "test-key-0123456789abcdefghij"
OTHER_KEY = "other-key-0123456789abcdefghij"


def wait_for(condition: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    """Poll ``condition`` every 0.1 s until it holds; fail the test after ``timeout`` s,
    naming ``what`` was awaited."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not met within {timeout} s")
        time.sleep(0.1)


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    """Wait until ``url`` answers 200; fail early with the log tail if ``proc`` exits."""

    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited: {log.read_text()[-2000:]}")
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(ready, timeout)


def run_script(
    script: str,
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run a script of the repository (``script`` relative to it) as a user would, with this
    Python; its output comes back as text."""
    return subprocess.run(
        [sys.executable, str(REPO / script), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


def daemon_refusal(env: dict[str, str], cwd: Path) -> str:
    """Run ``tft_inference_daemon.py`` expecting it to refuse to start: exit 2 with one line
    on stderr, which is returned."""
    out = subprocess.run(
        [sys.executable, str(REPO / "tft_inference_daemon.py"), "--port", "1"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    return lines[0]


def skip_unless_venv_current() -> None:
    """Skip a test that runs the repo's scripts when ``.venv`` was installed from another
    ``pyproject.toml`` (``./run_tests.sh`` brings it up to date first)."""
    import hashlib

    import pytest

    stamp = REPO / ".venv" / ".tftmon-installed"
    want = hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()
    if not stamp.exists() or stamp.read_text().strip() != want:
        pytest.skip(".venv is not current; ./run_tests.sh brings it up to date first")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class DaemonProcess:
    """One daemon subprocess; ``start``/``kill`` may be called again (restart)."""

    data_dir: Path
    log: Path
    port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"X-API-Key": API_KEY}, timeout=30)

    def start(self, timeout: float = 60) -> None:
        env = {
            **os.environ,
            "TFTMON_COMPILE": "off",  # a test that wants the compiled network sets it
            "TFTMON_API_KEYS": API_KEY,
            "TFTMON_DATA_DIR": str(self.data_dir),
            "TFTMON_INFERENCE_MIN_GAP_S": "0.2",
            **self.env,
        }
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(REPO / "tft_inference_daemon.py"), "--port", str(self.port)],
                cwd=self.data_dir.parent,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_ready(f"{self.url}/health", self.proc, timeout, self.log)

    def records_ingested(self) -> int:
        """Records it accepted since it started (duplicates not counted)."""
        with self.client() as http:
            return int(http.get("/status").json()["records_ingested"])

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)
        self.proc = None


def model_daemon(tmp: Path) -> DaemonProcess:
    """A daemon (not started) serving the shipped model of ``models/`` on the CPU."""
    return DaemonProcess(
        data_dir=tmp / "data",
        log=tmp / "daemon.log",
        env={"TFTMON_MODELS_DIR": str(REPO / "models"), "TFTMON_DEVICE": "cpu"},
    )


@dataclass
class ServerProcess:
    """A real server binary on a loopback port with its own work dir, stopped by its PID.

    Subclasses give the command line and how to tell it is ready.
    """

    workdir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.workdir / "server.log"

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        """Whether the server answers; the default asks ``ready_path`` over HTTP."""
        try:
            return httpx.get(self.url + self.ready_path, timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    ready_path = "/"

    def start(self, timeout: float = 30) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)

        def up() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.command()[0]} exited: {self.log.read_text()[-2000:]}")
            return self.ready()

        wait_for(up, timeout)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self.proc = None


@dataclass
class Alertmanager(ServerProcess):
    """Debian's prometheus-alertmanager."""

    ready_path = "/-/ready"

    def command(self) -> list[str]:
        config = self.workdir / "alertmanager.yml"
        config.write_text(
            'route:\n  receiver: "null"\n  group_wait: 1s\nreceivers:\n  - name: "null"\n'
        )
        return [
            "/usr/bin/prometheus-alertmanager",
            f"--config.file={config}",
            f"--storage.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",
        ]


@dataclass
class MongoServer(ServerProcess):
    """SecantusDB (MongoDB wire protocol); its data survives a stop and a start."""

    def command(self) -> list[str]:
        binary = Path(sys.executable).with_name("secantusd-py")
        return [
            str(binary),
            *("--host", "127.0.0.1", "--port", str(self.port)),
            *("--storage-path", str(self.workdir / "db"), "--standalone"),
            *("--log-level", "WARNING"),
        ]

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False


@dataclass
class ElasticServer(ServerProcess):
    """noida-db's Elasticsearch API, the binary itself (its wrapper would orphan it)."""

    def command(self) -> list[str]:
        import noida_db

        binary = Path(noida_db.__file__).parent / "noida-db"
        return [
            str(binary),
            *("start", "--data-dir", str(self.workdir / "data"), "--host", "127.0.0.1"),
            *("--only", "elasticsearch", "--elasticsearch-port", str(self.port)),
        ]


@dataclass
class NodeExporter(ServerProcess):
    """Debian's prometheus-node-exporter: this machine's real metrics."""

    ready_path = "/metrics"

    def command(self) -> list[str]:
        return [
            "/usr/bin/prometheus-node-exporter",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]


@dataclass
class PrometheusServer(ServerProcess):
    """Debian's Prometheus scraping ``targets`` every second."""

    targets: list[str] = field(default_factory=list)
    ready_path = "/-/ready"

    def command(self) -> list[str]:
        config = self.workdir / "prometheus.yml"
        listed = ", ".join(f'"{t}"' for t in self.targets)
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            f"scrape_configs:\n  - job_name: node\n    static_configs:\n"
            f"      - targets: [{listed}]\n"
        )
        return [
            "/usr/bin/prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={self.workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
