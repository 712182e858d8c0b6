"""Generated fleet dynamics: labelled regimes that persist (shifts, leaks), bounded values."""

from __future__ import annotations

import numpy as np

from tftmon.generator.regimes import regime_fleet
from tftmon.schemas import METRICS


def test_regimes_are_labelled_reproducible_and_in_range() -> None:
    fleet = regime_fleet(12, 10, seed=3)
    again = regime_fleet(12, 10, seed=3)
    np.testing.assert_array_equal(fleet.values, again.values)
    assert fleet.values.shape == (12, 10 * 288, len(METRICS))
    assert {r.kind for r in fleet.regimes} == {"leak", "level_shift", "spike", "incident"}
    assert np.nanmin(fleet.values) >= 0 and np.nanmax(fleet.values[..., :2]) <= 100
    shifts = [r for r in fleet.regimes if r.kind == "level_shift"]
    assert all(r.end == fleet.values.shape[1] for r in shifts)  # a deploy's level lasts
    leaks = [r for r in fleet.regimes if r.kind == "leak" and r.end - r.start >= 24]
    assert leaks
    rises = [
        fleet.values[r.server, r.end - 1, METRICS.index(r.metric)]
        - fleet.values[r.server, r.start, METRICS.index(r.metric)]
        for r in leaks
    ]
    assert np.median(rises) > 0  # leaks climb
