"""Risk functions: exceedance probabilities, score and levels."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pytest

from tftmon.risk.exceedance import (
    CRITICAL,
    HEALTHY,
    WARNING,
    WATCH,
    AlertPolicy,
    assess,
    exceedance_probability,
    fleet_level,
)
from tftmon.risk.thresholds import Thresholds

LEVELS = (0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.98)


def normal_quantiles(mu: float, sigma: float) -> np.ndarray:
    return np.array([NormalDist(mu, sigma).inv_cdf(q) for q in LEVELS])


@pytest.mark.parametrize("threshold", [40.0, 48.0, 50.0, 53.0, 60.0])
def test_exceedance_close_to_the_true_distribution(threshold: float) -> None:
    q = normal_quantiles(50, 5)
    got = float(exceedance_probability(q, LEVELS, threshold))
    true = 1 - NormalDist(50, 5).cdf(threshold)
    assert abs(got - true) < 0.03


def test_exceedance_is_monotone_and_bounded() -> None:
    q = normal_quantiles(50, 5)
    thresholds = np.linspace(20, 80, 200)
    p = exceedance_probability(np.tile(q, (200, 1)), LEVELS, thresholds)
    assert (np.diff(p) <= 1e-12).all()
    assert p[0] == 1.0
    assert p[-1] == 0.0


def test_nan_forecast_gives_nan() -> None:
    assert np.isnan(exceedance_probability(np.full(7, np.nan), LEVELS, 1.0))


def _forecast(level: float, s: int = 1) -> np.ndarray:
    q = normal_quantiles(level, 2)
    return np.tile(q, (s, 96, 4, 1))


def test_levels_and_scores() -> None:
    warn, crit = Thresholds.defaults().arrays(["generic"] * 3)
    quantiles = np.concatenate([_forecast(30), _forecast(88), _forecast(99)])
    current = np.array([[30.0] * 4, [30.0] * 4, [99.0] * 4])
    risk = assess(quantiles, LEVELS, current, warn, crit, 300)
    assert risk.level.tolist() == [HEALTHY, WARNING, CRITICAL]
    assert risk.risk_score[0] < risk.risk_score[1] < risk.risk_score[2] == 100.0
    assert risk.incident_probability_8h[2] > 0.9
    assert risk.critical_step[2, 0] == 0  # already there
    assert risk.warning_step[1, 0] == 1  # the median path is at 88 from the first step
    assert risk.critical_step[0, 0] == -1


def test_values_over_a_threshold_have_crossed_it() -> None:
    """A server at critical now has P = 1 for every window, whatever its forecast says."""
    warn, crit = Thresholds.defaults().arrays(["generic"])
    quantiles = _forecast(30)  # the forecast expects an immediate fall back to 30
    current = np.array([[97.0, 30.0, 30.0, 30.0]])
    risk = assess(quantiles, LEVELS, current, warn, crit, 300)
    for p in (risk.p_warning_30m, risk.p_warning_8h, risk.p_critical_30m, risk.p_critical_8h):
        assert p[0, 0] == 1.0
        assert p[0, 1] < 0.01
    assert risk.metric_level[0].tolist() == [CRITICAL, HEALTHY, HEALTHY, HEALTHY]


def test_critical_never_above_warning_nor_30m_above_8h() -> None:
    """A calibration that maps critical higher than warning cannot break the order."""
    from tftmon.risk.calibration import Calibration

    grid = np.linspace(0, 1, 11)
    skew = Calibration(
        {
            "warning_within_30m": (grid, grid * 0.1),
            "warning_within_8h": (grid, grid * 0.2),
            "critical_within_30m": (grid, np.minimum(grid * 3, 1)),
            "critical_within_8h": (grid, np.minimum(grid * 2, 1)),
        },
        {},
    )
    warn, crit = Thresholds.defaults().arrays(["generic"] * 2)
    quantiles = np.concatenate([_forecast(93), _forecast(80)])
    current = np.full((2, 4), 50.0)
    risk = assess(quantiles, LEVELS, current, warn, crit, 300, skew)
    assert (risk.p_critical_30m <= risk.p_critical_8h).all()
    assert (risk.p_critical_8h <= risk.p_warning_8h).all()
    assert (risk.p_warning_30m <= risk.p_warning_8h).all()
    assert (risk.p_critical_30m <= risk.p_warning_30m).all()
    assert risk.p_critical_30m[0, 0] > 0.5  # the map did apply


def test_policy_levels_and_hold_band() -> None:
    """Opening needs the policy's probability; holding takes less, or a value near the line."""
    warn, crit = Thresholds.defaults().arrays(["generic"] * 3)
    # cpu warning 85: P(warning within 8 h) about 0.4 / 0.02 / ~0 for these medians
    quantiles = np.concatenate([_forecast(84.5), _forecast(81), _forecast(60)])
    current = np.array([[84.5] * 4, [83.0] * 4, [60.0] * 4])
    policy = AlertPolicy(warning_probability=0.6, hold_ratio=0.6, value_band=0.03)
    risk = assess(quantiles, LEVELS, current, warn, crit, 300, policy=policy)
    assert risk.metric_level[:, 0].tolist() == [WATCH, HEALTHY, HEALTHY]
    # 84.5 holds by probability (0.4 >= 0.36); 83.0 is within 3 % of 85 (82.45)
    assert risk.hold_level[:, 0].tolist() == [WARNING, WARNING, HEALTHY]
    strict = AlertPolicy(warning_probability=0.3)
    assert (
        assess(quantiles, LEVELS, current, warn, crit, 300, policy=strict).metric_level[0, 0]
        == WARNING
    )


def test_profile_overrides() -> None:
    thresholds = Thresholds(
        {"cpu_pct": (1, 2), "mem_pct": (85, 95), "disk_io_mb_s": (1, 2), "latency_ms": (1, 2)},
        {"database": {"mem_pct": (95, 99)}},
    )
    warn, crit = thresholds.arrays(["generic", "database"])
    assert warn[:, 1].tolist() == [85, 95]
    assert crit[:, 1].tolist() == [95, 99]


def test_fleet_level() -> None:
    assert fleet_level(np.array([0] * 19 + [3])) == "healthy"
    assert fleet_level(np.array([0] * 18 + [3, 3])) == "critical"
    assert fleet_level(np.array([3])) == "critical"
    assert fleet_level(np.array([], np.int64)) == "healthy"


def test_shipped_thresholds_and_user_overrides(tmp_path) -> None:
    shipped = Thresholds.load()
    assert shipped.default["cpu_pct"] == (85.0, 95.0)
    assert shipped.by_profile["database"]["mem_pct"] == (95.0, 99.0)
    mine = tmp_path / "t.toml"
    mine.write_text(
        "[default]\nlatency_ms = { warning = 100, critical = 300 }\n"
        "[profile.web_api]\ncpu_pct = { warning = 70, critical = 90 }\n"
    )
    merged = Thresholds.load(mine)
    assert merged.default["latency_ms"] == (100.0, 300.0)
    assert merged.default["cpu_pct"] == (85.0, 95.0)  # untouched defaults stay
    assert merged.by_profile["database"]["mem_pct"] == (95.0, 99.0)
    warn, _ = merged.arrays(["web_api", "generic"])
    assert warn[:, 0].tolist() == [70.0, 85.0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[default]\nnetwork = { warning = 1, critical = 2 }\n", "unknown metric"),
        ("[default]\ncpu_pct = { warning = 99, critical = 90 }\n", "below critical"),
        ("[default]\ncpu_pct = { warning = 99 }\n", "needs warning and critical"),
        ("not toml [", "thresholds file"),
    ],
)
def test_bad_threshold_files_are_clear_errors(tmp_path, text: str, message: str) -> None:
    from tftmon.errors import ConfigError

    path = tmp_path / "t.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        Thresholds.load(path)
