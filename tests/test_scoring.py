"""Live scoring: forecasts logged per origin are scored once as their actuals close."""

from __future__ import annotations

import numpy as np
from pytest import approx

from tftmon.monitoring.scoring import LiveScorer
from tftmon.windows import WindowSnapshot

L, H, M = 12, 4, 2
QS = (0.1, 0.5, 0.9)


def snap(series: np.ndarray, end: int) -> WindowSnapshot:
    """Windows of every server ending at bucket ``end`` (``series[s, b]`` is bucket b)."""
    values = series[:, end - L + 1 : end + 1].astype(np.float32)
    s = series.shape[0]
    return WindowSnapshot(
        np.arange(s, dtype=np.int64),
        values,
        np.full(s, end, np.int64),
        np.full(s, L, np.int64),
        values[:, -1],
        np.full(s, end * 300_000, np.int64),
        300,
    )


def ramp(servers: int = 2, length: int = 40) -> np.ndarray:
    """Bucket b holds b (metric 0) and 2b (metric 1): one-step change 1 and 2."""
    b = np.arange(length, dtype=np.float64)
    return np.broadcast_to(np.stack([b, 2 * b], axis=-1), (servers, length, M)).copy()


def test_exact_forecast_scores_zero_error_and_full_coverage() -> None:
    series = ramp()
    scorer = LiveScorer(("a", "b"), QS, H, stride_steps=1, half_life_steps=1e9)
    origin = 20
    truth = series[:, origin + 1 : origin + 1 + H]  # [S, H, M]
    quantiles = np.stack([truth - 1, truth, truth + 1], axis=-1).astype(np.float32)
    naive = np.repeat(series[:, origin : origin + 1], H, axis=1).astype(np.float32)  # last value
    assert scorer.record(snap(series, origin), quantiles, naive) == 2
    assert scorer.score(snap(series, origin + 2)) == 2 * 2  # steps 1-2 of both servers
    assert scorer.score(snap(series, origin + 2)) == 0  # nothing scored twice
    scorer.score(snap(series, origin + H + 3))
    out = scorer.summary()
    assert out["a"].points == approx(2 * H) and out["b"].points == approx(2 * H)
    assert out["a"].mase == 0.0 and out["a"].coverage_80 == 1.0
    # last value misses by k steps of size 1 (metric a) or 2 (metric b): MASE mean(k) = 2.5
    assert out["a"].naive_mase == approx(2.5) and out["b"].naive_mase == approx(2.5)
    assert out["a"].error_ratio == 0.0
    assert scorer.logged_forecasts == 0  # fully scored forecasts are dropped


def test_biased_forecast_outside_its_interval() -> None:
    series = ramp()
    scorer = LiveScorer(("a", "b"), QS, H, stride_steps=1, half_life_steps=1e9)
    origin = 20
    truth = series[:, origin + 1 : origin + 1 + H]
    off = truth + 10  # every actual below p10
    quantiles = np.stack([off - 1, off, off + 1], axis=-1).astype(np.float32)
    naive = truth.astype(np.float32)  # a perfect naive
    scorer.record(snap(series, origin), quantiles, naive)
    scorer.score(snap(series, origin + H))
    a = scorer.summary()["a"]
    assert a.coverage_80 == 0.0
    assert a.mase == approx(10.0)  # |10| / scale 1
    assert a.error_ratio is None  # naive MASE 0: no ratio
    # pinball: actual 9, 10, 11 below p10, p50, p90: ((1 - q) x miss) averaged
    assert a.scaled_quantile_loss is not None
    assert abs(a.scaled_quantile_loss - (0.9 * 9 + 0.5 * 10 + 0.1 * 11) / 3) < 1e-2


def test_stride_bounds_what_is_logged_and_scores_decay() -> None:
    series = ramp(length=80)
    scorer = LiveScorer(("a", "b"), QS, H, stride_steps=5, half_life_steps=4)
    q = np.zeros((2, H, M, 3), np.float32)
    naive = np.zeros((2, H, M), np.float32)
    logged = [scorer.record(snap(series, end), q, naive) for end in range(20, 30)]
    assert sum(logged) == 2 * 2  # origins 20 and 25 only
    scorer.score(snap(series, 30))
    before = scorer.summary()["a"].points
    scorer.score(snap(series, 34))  # 4 buckets later, nothing new: half the weight
    assert abs(scorer.summary()["a"].points - before / 2) < 1e-9


def test_servers_past_the_cap_are_not_scored() -> None:
    series = ramp(servers=3)
    scorer = LiveScorer(("a", "b"), QS, H, stride_steps=1, max_servers=2)
    q = np.zeros((3, H, M, 3), np.float32)
    assert scorer.record(snap(series, 20), q, np.zeros((3, H, M), np.float32)) == 2
    scorer.score(snap(series, 30))
    assert scorer.summary()["a"].series == 2


def test_missing_actuals_are_not_scored() -> None:
    series = ramp()
    series[0, 21:30] = np.nan
    scorer = LiveScorer(("a", "b"), QS, H, stride_steps=1)
    q = np.zeros((2, H, M, 3), np.float32)
    scorer.record(snap(series, 20), q, np.zeros((2, H, M), np.float32))
    scorer.score(snap(series, 30))
    assert scorer.summary()["a"].series == 1


def test_worst_servers_rank_by_error_ratio() -> None:
    series = ramp()
    scorer = LiveScorer(("a", "b"), QS, H, stride_steps=1)
    origin = 20
    truth = series[:, origin + 1 : origin + 1 + H].copy()
    truth[1] += 3  # server 1 misses by 3 scale units, server 0 is exact
    quantiles = np.stack([truth - 1, truth, truth + 1], axis=-1).astype(np.float32)
    naive = np.repeat(series[:, origin : origin + 1], H, axis=1).astype(np.float32)
    scorer.record(snap(series, origin), quantiles, naive)
    scorer.score(snap(series, origin + H))
    worst = scorer.worst_servers(min_points=1)
    # server 1: MASE 3 (metric a, scale 1) and 1.5 (metric b, scale 2) vs naive 2.5
    assert [(w[0], w[1]) for w in worst[:2]] == [(1, 0), (1, 1)]
    assert worst[0][3] == approx(3.0) and worst[1][3] == approx(1.5)
    assert worst[-1][0] == 0 and worst[-1][3] == 0.0
    assert scorer.worst_servers(min_points=100) == []
