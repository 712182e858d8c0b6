"""``tftmon-retrain`` / ``tftmon-rollback`` refuse clearly; the promotion score's rule.

The whole loop (drift → retrain → promote → hot swap → refuse → rollback) is in
``tests/integration/test_continuous_learning.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.servers import free_port
from tftmon.cli import retrain_main, rollback_main
from tftmon.training.retrain import promotion_score


def test_promotion_score_is_the_mean_scaled_quantile_loss() -> None:
    row = {"scaled_quantile_loss": 0.0}
    report = {
        "metrics": {
            "cpu_pct": {"a": {"0-1h": {**row, "scaled_quantile_loss": 0.2}, "1-8h": {**row}}},
            "mem_pct": {"a": {"0-1h": {**row, "scaled_quantile_loss": 0.6}}, "b": {}},
        }
    }
    assert promotion_score(report, "a") == pytest.approx(0.8 / 3)
    with pytest.raises(Exception, match="no point"):
        promotion_score(report, "b")


def test_when_drifted_without_a_daemon_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TFTMON_API_KEY", "k" * 20)
    url = f"http://127.0.0.1:{free_port()}"
    assert retrain_main(["--when-drifted", "--url", url, "--data-dir", str(tmp_path)]) == 1
    assert "cannot read drift status" in capsys.readouterr().err


def test_missing_history_or_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert retrain_main(["--data-dir", str(tmp_path), "--models-dir", str(tmp_path)]) == 2
    assert "no history store" in capsys.readouterr().err
    assert rollback_main(["--models-dir", str(tmp_path)]) == 2
    assert "no previous version" in capsys.readouterr().err


def test_stale_staging_folders_are_cleared_and_young_ones_kept(tmp_path: Path) -> None:
    import os
    import time

    from tftmon.training.retrain import _clear_stale_staging

    old, young = tmp_path / ".staging-old", tmp_path / ".staging-young"
    for folder in (old, young):
        (folder / "v").mkdir(parents=True)
    two_days_ago = time.time() - 2 * 86_400
    os.utime(old, (two_days_ago, two_days_ago))
    _clear_stale_staging(tmp_path)
    assert not old.exists() and young.is_dir()
