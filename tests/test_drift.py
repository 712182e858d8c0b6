"""Drift signals: PSI against the training reference, and the thresholds' verdict."""

from __future__ import annotations

import numpy as np

from tftmon.monitoring.drift import (
    DriftThresholds,
    assess_drift,
    input_shift,
    psi,
    reference_distribution,
)
from tftmon.monitoring.scoring import MetricScore


def _reference(rng: np.random.Generator) -> dict:
    values = [rng.normal(50, 10, (500, 2)), rng.normal(20, 5, (500, 2))]
    return reference_distribution(["web", "db"], values, ("cpu", "mem"))


def test_psi_is_small_for_the_same_distribution_and_large_after_a_shift() -> None:
    rng = np.random.default_rng(0)
    ref = _reference(rng)
    assert set(ref) == {"web", "db"}
    assert abs(sum(ref["web"]["cpu"]["fractions"]) - 1) < 1e-6
    same = psi(ref["web"]["cpu"], rng.normal(50, 10, 2000))
    moved = psi(ref["web"]["cpu"], rng.normal(65, 10, 2000))
    assert same < 0.05
    assert moved > 0.5


def test_input_shift_per_profile_needs_enough_samples() -> None:
    rng = np.random.default_rng(1)
    ref = _reference(rng)
    values = np.stack([rng.normal(50, 10, (1000, 2)), rng.normal(40, 5, (1000, 2))]).astype(
        np.float32
    )  # [S=2, T=1000, M=2]: web as trained, db shifted
    shift = input_shift(ref, ["web", "db"], values, ("cpu", "mem"), min_samples=50)
    assert shift["web"]["cpu"] < 0.1
    assert shift["db"]["cpu"] > 1.0
    assert input_shift(ref, ["web", "db"], values, ("cpu", "mem"), min_samples=5000) == {}
    assert input_shift(None, ["web"], values, ("cpu", "mem"), 1) == {}


def test_input_shift_ignores_servers_with_part_of_the_window() -> None:
    rng = np.random.default_rng(2)
    ref = _reference(rng)
    values = np.full((2, 288, 2), np.nan, np.float32)
    values[0] = rng.normal(50, 10, (288, 2))  # a whole day, as trained
    values[1, -96:] = rng.normal(80, 5, (96, 2))  # a new server's last 8 h, its busy hours
    shift = input_shift(ref, ["web", "web"], values, ("cpu", "mem"), min_samples=50)
    assert shift["web"]["cpu"] < 0.1  # the 8-hour server does not make the profile drift
    only_new = input_shift(ref, ["db", "web"], values, ("cpu", "mem"), min_samples=50)
    assert "web" not in only_new


def _score(points: float, coverage: float, ratio: float) -> MetricScore:
    return MetricScore(points, 5, ratio, 1.0, ratio, coverage, 0.5)


def test_assess_drift_reasons() -> None:
    t = DriftThresholds(min_points=100)
    assert assess_drift({"cpu_pct": _score(500, 0.8, 0.9)}, {}, t) == []
    low = assess_drift({"cpu_pct": _score(500, 0.4, 0.9)}, {}, t)
    assert len(low) == 1 and "coverage" in low[0]
    worse = assess_drift({"cpu_pct": _score(500, 0.8, 1.5)}, {}, t)
    assert len(worse) == 1 and "seasonal naive" in worse[0]
    # too few points: no verdict from scores
    assert assess_drift({"cpu_pct": _score(10, 0.1, 9.0)}, {}, t) == []
    shifted = assess_drift({}, {"web_api": {"cpu_pct": 0.4, "mem_pct": 0.1}}, t)
    assert shifted == ["web_api/cpu_pct: input PSI 0.40 (limit 0.25)"]
