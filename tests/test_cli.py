"""The daemon's entry point refuses to start without a key, with a message that says why."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.servers import run_script


def test_daemon_refuses_to_start_without_a_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TFTMON_")}
    result = run_script("tft_inference_daemon.py", "--port", "1", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "no API key configured" in result.stderr
    assert "generate_api_key.py" in result.stderr


def test_daemon_reports_bad_settings(tmp_path: Path) -> None:
    env = {**os.environ, "TFTMON_API_KEYS": "k" * 20, "TFTMON_STEP_SECONDS": "zero"}
    result = run_script("tft_inference_daemon.py", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "TFTMON_STEP_SECONDS" in result.stderr


def test_dashboard_main_runs_the_app_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.web import cli as streamlit_cli

    from tftmon.cli import dashboard_main

    seen: dict[str, object] = {}

    def fake_main(args: list[str], prog_name: str) -> None:
        seen["args"] = args
        raise SystemExit(0)

    monkeypatch.setattr(streamlit_cli, "main", fake_main)
    assert dashboard_main(["--server.port", "8600"]) == 0
    args = seen["args"]
    assert args[0] == "run" and str(args[1]).endswith("tftmon/dashboard/app.py")
    assert args[2:] == ["--server.address", "127.0.0.1", "--server.port", "8600"]


def test_generator_help_documents_incidents_scenarios_and_control_api(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tftmon.cli import generator_main
    from tftmon.generator.simulator import KINDS, SCENARIOS

    with pytest.raises(SystemExit) as done:
        generator_main(["--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for name in (*KINDS, *SCENARIOS):
        assert f"\n  {name} " in text, name
    assert "GET  /scenario" in text and "POST /scenario" in text and "X-API-Key" in text
    assert (
        "--control-port PORT" in text and "curl -s -X POST http://127.0.0.1:8502/scenario" in text
    )
