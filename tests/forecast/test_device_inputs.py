"""The serving network's inputs built in torch equal the general path's numpy ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.forecast.test_serving_net import MODELS, same_end
from tftmon.forecast.device_inputs import device_inputs, fill_forward
from tftmon.forecast.features import fill_gaps
from tftmon.forecast.tft import TFTForecaster
from tftmon.training.dataset import BucketedFleet


def test_fill_forward_is_fill_gaps() -> None:
    rng = np.random.default_rng(4)
    values = rng.normal(size=(5, 30, 3)).astype(np.float32)
    values[rng.random(values.shape) < 0.3] = np.nan
    values[0, :12, 0] = np.nan  # leading gap
    values[1, :, 2] = np.nan  # never observed
    filled, observed = fill_forward(torch.from_numpy(values))
    expected, mask = fill_gaps(values)
    np.testing.assert_array_equal(filled.numpy(), expected)
    np.testing.assert_array_equal(observed.numpy(), mask)


@pytest.mark.parametrize("fixture", MODELS)
def test_device_inputs_equal_the_general_inputs(
    fixture: str, request: pytest.FixtureRequest, tiny_fleet: BucketedFleet
) -> None:
    forecaster = TFTForecaster.load(request.getfixturevalue(fixture), device="cpu")
    snap = same_end(tiny_fleet)
    snap.values[3, -40:-30, 0] = np.nan
    snap.values[4, :, 3] = np.nan  # a metric never reported
    e, h = forecaster.meta.encoder_steps, forecaster.meta.horizon_steps
    general = forecaster.inputs(snap)
    enc, enc_shared, dec_shared, codes, scale = device_inputs(
        forecaster.layout,
        snap.values[:, -e:, :][:, :, forecaster.metric_index],
        int(snap.end_bucket[0]),
        forecaster.profile_codes(snap),
        h,
        "cpu",
    )
    layout = forecaster.layout
    per_server = [*layout.target_cols, *layout.mask_cols]
    np.testing.assert_allclose(
        enc[..., per_server], general["encoder_cont"][..., per_server], atol=1e-6, rtol=0
    )
    shared = [*layout.known_cols] + ([layout.relative_time] if layout.relative_time else [])
    np.testing.assert_allclose(enc_shared[:, shared], general["encoder_cont"][0][:, shared])
    np.testing.assert_allclose(dec_shared[:, shared], general["decoder_cont"][0][:, shared])
    assert codes.tolist() == general["encoder_cat"][:, 0, 0].tolist()
    np.testing.assert_allclose(scale, torch.stack(general["target_scale"], dim=1), atol=1e-6)
