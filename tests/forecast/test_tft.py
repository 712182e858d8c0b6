"""TFT serving: the direct batched path equals pytorch-forecasting's predict(); artifacts."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from tests.conftest import API_KEY, hours_ago, make_settings, records
from tests.tiny_model import ENCODER, HORIZON, MIN_ENCODER
from tftmon.api import create_app
from tftmon.forecast.artifacts import ArtifactError, read_metadata
from tftmon.forecast.features import KNOWN_REALS, observed_name, time_features
from tftmon.forecast.tft import TFTForecaster
from tftmon.training.dataset import BucketedFleet, model_frame, time_series_dataset
from tftmon.windows import WindowSnapshot


def snapshot_of(fleet: BucketedFleet, history: list[int], window: int = 60) -> WindowSnapshot:
    """The last ``history[i]`` buckets of each server, ending at different times."""
    s = len(fleet.names)
    values = np.full((s, window, 4), np.nan, np.float32)
    end = np.zeros(s, np.int64)
    for i, series in enumerate(fleet.values):
        last = len(series) - 1 - 7 * i
        n = history[i]
        values[i, window - n :] = series[last - n + 1 : last + 1]
        end[i] = fleet.first[i] + last
    return WindowSnapshot(
        np.arange(s),
        values,
        end,
        np.asarray(history, np.int64),
        values[:, -1],
        np.ones(s, np.int64),
        300,
        list(fleet.profiles),
    )


@pytest.mark.parametrize("normalizer", ["last", "encoder", "identity"])
def test_direct_path_equals_pytorch_forecasting_predict(
    normalizer: str, request: pytest.FixtureRequest, tiny_fleet: BucketedFleet
) -> None:
    fixture = {"last": "tiny_model", "encoder": "tiny_encoder_model"}.get(
        normalizer, "tiny_identity_model"
    )
    models: Path = request.getfixturevalue(fixture)
    forecaster = TFTForecaster.load(models, device="cpu")
    assert forecaster.meta.target_normalizer == normalizer
    history = [60, 30, 10, 5, 48, 20]  # longer than the encoder, shorter, at the minimum
    snap = snapshot_of(tiny_fleet, history)
    direct = forecaster.forward_normalized(snap)

    frame = model_frame(tiny_fleet)
    dataset = time_series_dataset(
        frame,
        tiny_fleet.metrics,
        encoder_steps=ENCODER,
        horizon_steps=HORIZON,
        min_encoder_steps=MIN_ENCODER,
        target_normalizer=normalizer,
        relative_time_idx=forecaster.meta.relative_time_idx,
    )
    parts = []
    for i, name in enumerate(tiny_fleet.names):
        n = min(history[i], ENCODER)
        own = frame[frame.server_name == name]
        parts.append(
            own[(own.time_idx > snap.end_bucket[i] - n) & (own.time_idx <= snap.end_bucket[i])]
        )
        future = snap.end_bucket[i] + 1 + np.arange(HORIZON)
        rows = pd.DataFrame(
            {"server_name": name, "profile": tiny_fleet.profiles[i], "time_idx": future}
        )
        known = time_features(future * 300)
        for k, column in enumerate(KNOWN_REALS):
            rows[column] = known[:, k]
        for metric in tiny_fleet.metrics:
            rows[metric] = 0.0
            rows[observed_name(metric)] = 0.0
        parts.append(rows)
    predict_set = type(dataset).from_dataset(
        dataset, pd.concat(parts, ignore_index=True), predict=True, stop_randomization=True
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = forecaster.network.predict(
            predict_set,
            mode="quantiles",
            return_index=True,
            trainer_kwargs={"logger": False, "enable_progress_bar": False},
        )
    import torch

    reference = torch.stack(list(out.output), dim=2).numpy()
    order = [tiny_fleet.names.index(n) for n in out.index["server_name"]]
    assert reference.shape == direct.shape == (6, HORIZON, 4, 7)
    np.testing.assert_allclose(direct[order], reference, atol=1e-4, rtol=0)


def test_forecast_units_fallback_and_absent_metrics(
    tiny_model: Path, tiny_fleet: BucketedFleet
) -> None:
    forecaster = TFTForecaster.load(tiny_model, device="cpu")
    snap = snapshot_of(tiny_fleet, [60, 30, 2, 5, 48, 20])
    snap.values[1, :, 1] = np.nan  # server 1 never reported memory
    out = forecaster.forecast(snap)
    assert out.model_type == ["TFT", "TFT", "baseline", "TFT", "TFT", "TFT"]
    q = out.quantiles
    assert q.shape == (6, HORIZON, 4, 7)
    assert np.isnan(q[1, :, 1]).all()
    real = np.delete(q.reshape(-1, 7), np.isnan(q.reshape(-1, 7)).any(axis=1), axis=0)
    assert (np.diff(real, axis=1) >= 0).all()  # quantiles ordered
    assert np.nanmin(q) >= 0 and np.nanmax(q[..., :2, :]) <= 100
    assert forecaster.info.model_type == "TFT" and forecaster.info.version == "tiny"


def test_artifact_problems_are_clear_errors(tiny_model: Path, tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="LATEST"):
        TFTForecaster.load(tmp_path)
    with pytest.raises(ArtifactError, match="bad model version"):
        TFTForecaster.load(tiny_model, "../escape")
    with pytest.raises(ArtifactError, match="60-s steps"):
        TFTForecaster.load(tiny_model, step_seconds=60)
    broken = tmp_path / "models"
    shutil.copytree(tiny_model, broken)
    meta_path = broken / "tiny" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["format"] = 99
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="format 99"):
        read_metadata(broken, "tiny")
    meta["format"] = 1
    meta["hparams"]["hidden_size"] = 12  # the weights no longer fit the architecture
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="weights do not load"):
        TFTForecaster.load(broken)


def test_weights_must_be_finite_and_files_inside_the_models_folder(
    tiny_model: Path, tmp_path: Path
) -> None:
    import torch

    models = tmp_path / "models"
    shutil.copytree(tiny_model, models)
    weights = models / "tiny" / "weights.pt"
    good = torch.load(weights, weights_only=True)
    torch.save({k: v.float() * float("nan") for k, v in good.items()}, weights)
    with pytest.raises(ArtifactError, match=r"non-finite values \(NaN or infinity\)"):
        TFTForecaster.load(models)
    outside = tmp_path / "elsewhere.pt"
    torch.save(good, outside)
    weights.unlink()
    weights.symlink_to(outside)  # a good state dict, but not inside models/
    with pytest.raises(ArtifactError, match="outside the models folder") as refused:
        TFTForecaster.load(models)
    assert str(tmp_path) not in str(refused.value)  # named relative to the models folder
    meta_path = models / "tiny" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    del meta["reals"]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match=r"tiny/metadata\.json: missing \['reals'\]"):
        read_metadata(models, "tiny")


def test_daemon_serves_the_tft_and_says_why_not(tiny_model: Path, tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        models_dir=tiny_model,
        horizon_steps=HORIZON,
        min_history_steps=MIN_ENCODER,
        device="cpu",
    )
    with TestClient(create_app(settings), headers={"X-API-Key": API_KEY}) as c:
        c.post("/feed", json=records(["ppweb001", "ppdb001"], hours_ago(2), 200))
        c.post("/feed", json=records(["ppweb002"], hours_ago(0.2), 10))  # too short for the TFT
        c.app.state.daemon.cycle.run_cycle()
        doc = c.get("/predictions/current").json()
        assert doc["metadata"]["model_type"] == "TFT"
        assert doc["metadata"]["model_version"] == "tiny"
        assert doc["predictions"]["ppweb001"]["model_type"] == "TFT"
        assert doc["predictions"]["ppweb002"]["model_type"] == "baseline"
        assert len(doc["predictions"]["ppweb001"]["cpu_pct"]["p50"]) == HORIZON
        metrics = c.get("/metrics").text
        assert 'tftmon_servers_served{model_type="TFT"} 2.0' in metrics
        model = c.get("/status").json()["model"]
        assert model["validation"]["cpu_pct"]["mae_p50"] >= 0
        assert model["training_data"]["source"] == "tests"
        calibration = model["calibration"]  # the tiny model has none: raw, and /status says so
        assert calibration["calibrated"] is False
        assert "no calibration.json" in calibration["uncalibrated"]["critical_within_8h"]
    # a horizon the model does not have: the baseline is served and /status says why
    other = make_settings(tmp_path / "b", models_dir=tiny_model, device="cpu")
    with TestClient(create_app(other), headers={"X-API-Key": API_KEY}) as c:
        model = c.get("/status").json()["model"]
        assert model["model_type"] == "baseline"
        assert "forecasts 12 steps" in model["note"]
