"""Settings from the environment and .env, validated at start; the import stays light."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tftmon.errors import ConfigError
from tftmon.schemas import profile_for
from tftmon.settings import load_settings


def test_keys_and_rules_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TFTMON_API_KEYS", "first-key-0123456789abc, second-key-0123456789abc")
    monkeypatch.setenv("TFTMON_PROFILE_RULES", '{"db-": "database"}')
    monkeypatch.setenv("TFTMON_PORT", "9001")
    s = load_settings()
    assert s.api_keys == ["first-key-0123456789abc", "second-key-0123456789abc"]
    assert s.profile_rules == {"db-": "database"}
    assert s.port == 9001


def test_dotenv_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TFTMON_API_KEYS=third-key-0123456789\nTFTMON_STEP_SECONDS=60\n")
    s = load_settings()
    assert s.api_keys == ["third-key-0123456789"]
    assert s.step_seconds == 60


def test_bad_values_are_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TFTMON_PORT", "not-a-port")
    with pytest.raises(ConfigError, match="TFTMON_PORT"):
        load_settings()


def test_profile_rules() -> None:
    rules = {"ppml": "ml_compute", "ppdb": "database", "ppdbx": "special"}
    assert profile_for("ppml0003", rules) == "ml_compute"
    assert profile_for("PPDB001", rules) == "database"
    assert profile_for("ppdbx1", rules) == "special"
    assert profile_for("web-1", rules) == "generic"


def test_import_is_light() -> None:
    code = (
        "import sys, tftmon, tftmon.schemas, tftmon.settings\n"
        "heavy = {'torch', 'streamlit', 'plotly', 'pymongo', 'elasticsearch', 'fastapi'}\n"
        "heavy &= set(sys.modules)\n"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_drift_coverage_band_must_be_a_band() -> None:
    with pytest.raises(ConfigError, match="drift_coverage_low"):
        load_settings(_env_file=None, drift_coverage_low=0.9, drift_coverage_high=0.8)
