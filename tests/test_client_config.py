"""Where clients find the daemon and the key: flag, environment, then ``.env``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tftmon.client_config import client_settings


def test_defaults_without_any_setting() -> None:
    assert client_settings(None) == ("http://127.0.0.1:8000", None)


def test_flag_then_environment_then_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TFTMON_PORT", "9001")
    assert client_settings(None)[0] == "http://127.0.0.1:9001"
    monkeypatch.setenv("TFTMON_DAEMON_URL", "http://env:1")
    assert client_settings(None)[0] == "http://env:1"
    assert client_settings("http://flag:2")[0] == "http://flag:2"


def test_key_from_environment_then_newest_in_dotenv(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TFTMON_API_KEYS", "var-old,var-new")
    assert client_settings(None)[1] == "var-new"
    (tmp_path / ".env").write_text("TFTMON_API_KEYS=old,new\n")
    assert client_settings(None)[1] == "new"
    monkeypatch.setenv("TFTMON_API_KEY", "explicit")
    assert client_settings(None)[1] == "explicit"


def test_a_scoped_key_is_sent_without_its_scope(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TFTMON_API_KEYS", "var-old,var-new:ingest")
    assert client_settings(None)[1] == "var-new"
    (tmp_path / ".env").write_text("TFTMON_API_KEYS=old:read,new:ingest+read\n")
    assert client_settings(None)[1] == "new"
