"""Gap filling with a mask."""

from __future__ import annotations

import numpy as np

from tftmon.forecast.features import fill_gaps


def test_fill_gaps_carries_forward_and_masks() -> None:
    nan = np.nan
    values = np.array([[[nan, nan], [1.0, nan], [nan, nan], [3.0, nan]]])
    filled, observed = fill_gaps(values)
    assert filled[0, :, 0].tolist() == [1.0, 1.0, 1.0, 3.0]
    assert np.isnan(filled[0, :, 1]).all()
    assert observed[0, :, 0].tolist() == [False, True, False, True]
