"""The static-shape serving network computes what the TFT's own forward computes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.forecast.test_tft import snapshot_of
from tests.tiny_model import ENCODER, HORIZON
from tftmon.forecast.serving_net import ServingNetwork
from tftmon.forecast.serving_selection import UnsupportedNetworkError
from tftmon.forecast.tft import TFTForecaster
from tftmon.training.dataset import BucketedFleet
from tftmon.windows import WindowSnapshot

MODELS = ("tiny_model", "tiny_encoder_model", "tiny_identity_model")


def same_end(fleet: BucketedFleet, window: int = 60) -> WindowSnapshot:
    """Every server's last ``window`` buckets, all ending at the same bucket."""
    last = min(len(series) for series in fleet.values) - 1
    values = np.stack([series[last - window + 1 : last + 1] for series in fleet.values])
    values = values.astype(np.float32)
    values[2, -20:-15, 1] = np.nan  # a gap: observed flags of 0
    s = len(fleet.names)
    return WindowSnapshot(
        np.arange(s),
        values,
        np.full(s, fleet.first[0] + last, np.int64),
        np.full(s, window, np.int64),
        values[:, -1],
        np.ones(s, np.int64),
        300,
        list(fleet.profiles),
    )


def own_forward(forecaster: TFTForecaster, snap: WindowSnapshot) -> np.ndarray:
    """The network's own forward (pytorch-forecasting's), ``[B, H, Mm, Q]``."""
    with torch.inference_mode():
        prediction = forecaster.network(forecaster.inputs(snap))["prediction"]
        return torch.stack(list(prediction), dim=2).numpy()


@pytest.mark.parametrize("fixture", MODELS)
def test_serving_network_equals_the_networks_own_forward(
    fixture: str, request: pytest.FixtureRequest, tiny_fleet: BucketedFleet
) -> None:
    forecaster = TFTForecaster.load(request.getfixturevalue(fixture), device="cpu")
    assert forecaster.serving is not None
    snap = same_end(tiny_fleet)
    reference = own_forward(forecaster, snap)
    served = forecaster.forward_normalized(snap)
    assert served.shape == reference.shape == (len(snap), HORIZON, 4, 7)
    np.testing.assert_allclose(served, reference, atol=1e-5, rtol=0)


def test_windows_of_every_length_and_end_are_served_the_same(
    tiny_model: Path, tiny_fleet: BucketedFleet
) -> None:
    """Full windows ending at different buckets and warming-up ones, in one batch."""
    forecaster = TFTForecaster.load(tiny_model, device="cpu")
    snap = snapshot_of(tiny_fleet, [60, 30, 10, 5, 48, 60])
    assert len(forecaster._full_groups(snap)) == 3  # 60, 48 and 60 held, ends differ
    served = forecaster.forward_normalized(snap)
    forecaster.serving = None
    np.testing.assert_allclose(served, forecaster.forward_normalized(snap), atol=1e-5, rtol=0)


def test_the_first_steps_alone_equal_the_first_steps_of_the_whole_horizon(
    tiny_model: Path, tiny_fleet: BucketedFleet
) -> None:
    forecaster = TFTForecaster.load(tiny_model, device="cpu")
    snap = snapshot_of(tiny_fleet, [60, 30, 10, 5, 48, 60])
    whole = forecaster.forward_normalized(snap)
    first = forecaster.forward_normalized(snap, steps=5)
    assert first.shape == (len(snap), 5, 4, 7)
    np.testing.assert_allclose(first, whole[:, :5], atol=1e-5, rtol=0)
    forecast = forecaster.network_forecast(snap, steps=5).quantiles
    np.testing.assert_allclose(
        forecast[:, :5], forecaster.network_forecast(snap).quantiles[:, :5], atol=1e-4
    )


def test_the_shipped_model_is_served_by_the_serving_network() -> None:
    models = Path(__file__).resolve().parents[2] / "models"
    forecaster = TFTForecaster.load(models, device="cpu")
    assert forecaster.serving is not None
    assert forecaster.meta.encoder_steps > ENCODER


def test_a_network_with_static_reals_is_refused(tiny_model: Path) -> None:
    forecaster = TFTForecaster.load(tiny_model, device="cpu")
    forecaster.network.hparams.static_reals = ["size"]
    with pytest.raises(UnsupportedNetworkError, match="static categorical"):
        ServingNetwork(forecaster.network, reals=forecaster._reals, dense=[], binary=[])
