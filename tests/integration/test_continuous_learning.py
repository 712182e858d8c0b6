"""The loop closed on a real daemon: a profile's load pattern changes → drift flagged →
``tftmon-retrain --when-drifted`` promotes a better model → the daemon serves it; a worse
candidate is refused; ``tftmon-rollback`` returns to the previous version."""

from __future__ import annotations

import signal
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.servers import API_KEY, DaemonProcess, wait_for
from tests.tiny_model import DRIFT_START, HORIZON, drift_frame, tiny_config
from tftmon.cli import retrain_main, rollback_main
from tftmon.forecast.artifacts import latest_version
from tftmon.forecast.registry import history
from tftmon.training.dataset import bucket_frame
from tftmon.training.train import train

# about a minute on an idle 2-core machine; the timeout leaves room for a loaded one
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]


def as_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = frame.copy()
    out["timestamp"] = (out["timestamp"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    out["server_name"] = out["server_name"].astype(str)
    out["profile"] = out["profile"].astype(str)
    out["state"] = out["state"].astype(str)
    return list(out.to_dict("records"))


def feed_and_wait(daemon: DaemonProcess, frame: pd.DataFrame) -> None:
    """POST in chunks, then wait for a cycle that saw the newest bucket."""
    rows = as_records(frame)
    with daemon.client() as http:
        for start in range(0, len(rows), 2000):
            answer = http.post("/feed", json=rows[start : start + 2000])
            assert answer.status_code == 200, answer.text
        before = http.get("/status").json()["inference_cycles"]
        wait_for(lambda: http.get("/status").json()["inference_cycles"] > before + 1, 30)


def served(daemon: DaemonProcess) -> str:
    with daemon.client() as http:
        return str(http.get("/status").json()["model"]["model_version"])


def drift(daemon: DaemonProcess) -> dict[str, Any]:
    with daemon.client() as http:
        answer = http.get("/drift/status")
        assert answer.status_code == 200
        return dict(answer.json())


def test_drift_retrain_promote_hot_swap_refuse_rollback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = time.perf_counter()
    marks: list[str] = []  # timings, shown at the end (capsys reads the output meanwhile)
    frame = drift_frame(days_after=2.0)
    changed = frame["timestamp"] >= pd.Timestamp(DRIFT_START, unit="s", tz="UTC")
    models = tmp_path / "models"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train(
            bucket_frame(frame[~changed], 300),
            models,
            "base",
            tiny_config(max_epochs=1, limit_train_batches=6, val_fraction=0.05),
            source="normal",
        )
    data = tmp_path / "data"
    data.mkdir()
    daemon = DaemonProcess(
        data_dir=data,
        log=tmp_path / "daemon.log",
        env={
            "TFTMON_MODELS_DIR": str(models),
            "TFTMON_HORIZON_STEPS": str(HORIZON),
            "TFTMON_DEVICE": "cpu",
            "TFTMON_INFERENCE_INTERVAL_S": "1",
            # the tiny model is not calibrated: only the input shift may flag drift here
            "TFTMON_DRIFT_COVERAGE_LOW": "0",
            "TFTMON_DRIFT_COVERAGE_HIGH": "1",
            "TFTMON_DRIFT_ERROR_RATIO": "100",
        },
    )
    monkeypatch.setenv("TFTMON_API_KEY", API_KEY)
    common = ["--data-dir", str(data), "--models-dir", str(models), "--url", daemon.url]
    train_args = ["--holdout-steps", "72", "--stride", "3", "--limit-train-batches", "6"]
    marks.append(f"base model: {time.perf_counter() - clock:.1f} s")
    daemon.start()
    marks.append(f"daemon up: {time.perf_counter() - clock:.1f} s")
    try:
        assert served(daemon) == "base"
        feed_and_wait(daemon, frame[~changed])
        status = drift(daemon)
        assert status["input_reference"] is True
        assert set(status["input_psi"]) == {"ml_compute", "database"}
        assert not status["drifted"], status["reasons"]
        # not drifted: nothing is trained
        assert retrain_main([*common, "--when-drifted"]) == 0
        assert "nothing to do" in capsys.readouterr().out
        assert latest_version(models) == "base"

        marks.append(f"normal days fed: {time.perf_counter() - clock:.1f} s")
        feed_and_wait(daemon, frame[changed])
        marks.append(f"drifted days fed: {time.perf_counter() - clock:.1f} s")
        status = drift(daemon)
        assert status["drifted"], status
        assert any(r.startswith("ml_compute/") for r in status["reasons"]), status["reasons"]
        assert not any(r.startswith("database/") for r in status["reasons"])

        started = time.perf_counter()
        code = retrain_main(
            [*common, *train_args, "--when-drifted", "--epochs", "1", "--learning-rate", "0.01"]
        )
        marks.append(f"incremental retrain: {time.perf_counter() - started:.1f} s")
        assert code == 0, capsys.readouterr()
        new = latest_version(models)
        assert new is not None and new != "base"
        assert history(models)[-1]["action"] == "promote"
        said = capsys.readouterr().out
        # calibrated on the held-out window before promotion, or told why not
        assert ("calibrated on the held-out window" in said) == (
            models / new / "calibration.json"
        ).is_file(), said
        assert "calibrat" in said
        wait_for(lambda: served(daemon) == new, 20)  # the daemon noticed LATEST

        # a fresh network (--full) wrecked by a huge learning rate is refused; nothing changes
        worse = [*common, *train_args, "--full", "--epochs", "1", "--learning-rate", "2.0"]
        code = retrain_main([*worse, "--limit-train-batches", "2"])
        assert code == 3
        assert "refused" in capsys.readouterr().out
        assert latest_version(models) == new
        assert sorted(p.name for p in models.iterdir() if p.is_dir()) == sorted(["base", new])
        assert served(daemon) == new

        marks.append(f"refused: {time.perf_counter() - clock:.1f} s")
        assert rollback_main(["--models-dir", str(models), "--url", daemon.url, "--reload"]) == 0
        assert latest_version(models) == "base"
        assert served(daemon) == "base"
    finally:
        daemon.kill(signal.SIGTERM)
        with capsys.disabled():
            print("; ".join(marks), file=sys.stderr)
