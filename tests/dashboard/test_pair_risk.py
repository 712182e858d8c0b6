"""The risk of one (server, metric) pair, from daemons with and without the newer keys."""

from __future__ import annotations

import math

from tests.dashboard.samples import metric, server
from tftmon.dashboard.pair_risk import fmt_value, pair_risk, pair_risks


def test_a_value_over_a_threshold_is_certain_whatever_the_daemon_says() -> None:
    over_critical = pair_risk("db1", "cpu_pct", metric([96.0], critical_p=0.1, warning_p=0.2))
    assert over_critical.over == "critical" and over_critical.cause == "current"
    assert over_critical.p_critical_30m == over_critical.p_warning_8h == 1.0
    assert over_critical.minutes_to_critical == over_critical.minutes_to_warning == 0
    assert over_critical.stake == "critical" and over_critical.probability == 1.0
    over_warning = pair_risk("db1", "cpu_pct", metric([80.0], critical_p=0.3))
    assert over_warning.over == "warning" and over_warning.stake == "warning"
    assert over_warning.p_warning_30m == 1.0 and over_warning.p_critical_8h == 0.3
    assert over_warning.minutes_to_warning == 0 and over_warning.minutes_to_critical is None


def test_minutes_zero_is_the_first_step_unless_the_value_is_over() -> None:
    # the daemon counts a crossing at the first forecast step as 0 minutes too
    risk = pair_risk("db1", "cpu_pct", metric([50.0], minutes_to_warning=0, warning_p=0.9))
    assert risk.over is None and risk.cause == "forecast" and risk.minutes_to_warning == 0
    unknown = pair_risk("db1", "cpu_pct", metric([90.0], minutes_to_warning=0) | {"current": None})
    assert unknown.over is None and unknown.current is None


def test_probabilities_are_made_consistent() -> None:
    # critical likelier than warning, 30 min likelier than 8 h: an older daemon's rounding
    risk = pair_risk("db1", "cpu_pct", metric([10.0], critical_30m=0.5, critical_p=0.4))
    assert risk.over is None
    assert (risk.p_critical_30m, risk.p_critical_8h) == (0.5, 0.5)
    assert (risk.p_warning_30m, risk.p_warning_8h) == (0.5, 0.5)
    assert risk.peak == 0.5 and risk.notable() and not risk.notable(0.6)


def test_stake_is_critical_when_at_least_half_as_likely_as_warning() -> None:
    assert pair_risk("s", "cpu_pct", metric([10.0], warning_p=0.8, critical_p=0.4)).stake == (
        "critical"
    )
    unlikely = pair_risk("s", "cpu_pct", metric([10.0], warning_p=0.8, critical_p=0.3))
    assert unlikely.stake == "warning" and unlikely.probability == 0.8


def test_excess_is_the_share_over_the_threshold_the_value_is_over() -> None:
    assert pair_risk("s", "cpu_pct", metric([90.0])).excess == 0.125  # warning 80
    assert pair_risk("s", "cpu_pct", metric([99.75])).excess == 0.05  # critical 95
    assert pair_risk("s", "cpu_pct", metric([79.0], warning_p=1.0)).excess == 0.0


def test_missing_or_odd_values_are_unknown_not_zero() -> None:
    entry = metric([10.0]) | {"current": math.nan, "minutes_to_critical": 12.6}
    del entry["exceed_critical_8h"]
    risk = pair_risk("s", "cpu_pct", entry)
    assert risk.current is None and risk.over is None
    assert risk.p_critical_8h == 0.0 and risk.minutes_to_critical == 13


def test_pair_risks_skip_metrics_a_server_did_not_report() -> None:
    predictions = {"a": server(cpu_pct=metric([1.0])), "b": server(mem_pct=metric([2.0]))}
    assert [(r.server, r.metric) for r in pair_risks(predictions)] == [
        ("a", "cpu_pct"),
        ("b", "mem_pct"),
    ]


def test_fmt_value() -> None:
    assert [fmt_value(v) for v in (97.1, 95.0, 0.04, 1234.567, None)] == [
        "97.1",
        "95",
        "0.04",
        "1,234.57",
        "?",
    ]
