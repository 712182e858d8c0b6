"""Training settings for the accelerator: loader processes and mixed precision."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from tests.forecast.test_serving_net import same_end
from tests.tiny_model import tiny_config
from tftmon.cli.training import loader_settings
from tftmon.forecast.tft import TFTForecaster
from tftmon.training.dataset import BucketedFleet
from tftmon.training.train import train


def test_a_gpu_gets_loader_processes_and_bf16_the_cpu_neither(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert loader_settings("gpu", None, "auto") == (8, "bf16-mixed")
    assert loader_settings("cpu", None, "auto") == (0, "32-true")
    assert loader_settings("gpu", 2, "32-true") == (2, "32-true")  # what was asked for
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert loader_settings("gpu", None, "auto") == (1, "bf16-mixed")


@pytest.mark.slow
def test_bf16_mixed_precision_trains_a_model_that_serves(
    tmp_path: Path, tiny_fleet: BucketedFleet
) -> None:
    config = tiny_config(max_epochs=1, limit_train_batches=3, precision="bf16-mixed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = train(tiny_fleet, tmp_path, "bf16", config, source="tests")
    assert result.folder == tmp_path / "bf16"
    forecaster = TFTForecaster.load(tmp_path, "bf16", device="cpu")
    out = forecaster.forecast(same_end(tiny_fleet))
    assert np.isfinite(out.quantiles).all()
    assert out.model_type == ["TFT"] * len(tiny_fleet.names)
