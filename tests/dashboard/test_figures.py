"""Pure figure builders of the dashboard, from API-shaped documents (no servers)."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.dashboard.samples import metric, server
from tftmon.dashboard import figures


def test_forecast_times_start_at_forecast_start() -> None:
    times = figures.forecast_times("2026-11-27T00:00:00Z", 3, 300)
    assert times == [datetime(2026, 11, 27, 0, m, tzinfo=UTC) for m in (0, 5, 10)]


def test_predicted_crossings_of_median_and_p90() -> None:
    # median 65, 75, 87, 97: p90 (+10) reaches warning 80 at step 1, critical 95 at step 2;
    # the median reaches warning at step 2 and critical at step 3
    m = metric([65.0, 75.0, 87.0, 97.0])
    crossings = figures.predicted_crossings(m, "2026-11-27T00:00:00Z", 300)
    found = {(c.threshold, c.quantile): c for c in crossings}
    assert found[("warning", "p90")].minutes_ahead == 5
    assert found[("critical", "p90")].minutes_ahead == 10
    assert found[("warning", "p50")].minutes_ahead == 10
    assert found[("critical", "p50")].minutes_ahead == 15
    assert found[("critical", "p50")].value == 95.0
    assert figures.predicted_crossings(metric([10.0, 20.0]), "2026-11-27T00:00:00Z", 300) == []


def test_forecast_figure_has_history_bands_median_thresholds_and_crossings() -> None:
    entry = server("critical", 90.0, cpu_pct=metric([65.0, 75.0, 87.0, 97.0]))
    history = {
        "timestamps": ["2026-11-26T23:50:00Z", "2026-11-26T23:55:00Z"],
        "values": {"cpu_pct": [60.0, None]},
    }
    fig = figures.forecast_figure(entry, "cpu_pct", 300, history)
    names = [t.name for t in fig.data]
    assert names[0] == "history" and list(fig.data[0].y) == [60.0, None]
    assert "p02–p98" in names and "p10–p90" in names and "forecast p50" in names
    outer_low = next(t for t in fig.data if t.name == "p02–p98")
    assert list(outer_low.y) == [45.0, 55.0, 67.0, 77.0]
    assert outer_low.fill == "tonexty"
    median = next(t for t in fig.data if t.name == "forecast p50")
    assert list(median.y) == [65.0, 75.0, 87.0, 97.0]
    assert median.x[0] == datetime(2026, 11, 27, tzinfo=UTC)
    crossings = next(t for t in fig.data if t.name == "predicted crossing")
    assert len(crossings.x) == 4
    lines = [s.y0 for s in fig.layout.shapes if s.y0 is not None and s.y0 == s.y1]
    assert 80.0 in lines and 95.0 in lines


def test_forecast_figure_of_an_absent_metric_is_empty_not_invented() -> None:
    fig = figures.forecast_figure(server(cpu_pct=metric([1.0])), "mem_pct", 300)
    assert len(fig.data) == 0


def test_risk_heatmap_shows_where_the_risk_is() -> None:
    predictions = {
        "calm": server(risk=5.0, cpu_pct=metric([1.0], critical_p=0.05)),
        # a high risk score, but only a likely warning: no critical probability to show
        "warm": server(
            "warning", 80.0, cpu_pct=metric([1.0], warning_p=0.6), latency_ms=metric([1.0])
        ),
        # a low risk score, but memory already over critical (an older daemon's P 0.1)
        "hot": server("healthy", 2.0, cpu_pct=metric([1.0]), mem_pct=metric([97.0])),
    }
    heat = figures.risk_heatmap(predictions, max_servers=2).data[0]
    assert list(heat.y) == ["hot", "warm"]
    assert list(heat.x) == ["cpu_pct", "mem_pct", "disk_io_mb_s", "latency_ms"]
    assert list(heat.z[0]) == [0.0, 1.0, None, None]
    assert list(heat.z[1]) == [0.6, None, None, 0.0]
    assert list(heat.text[0]) == ["0%", "critical now", "", ""]
    assert heat.text[1][0] == "60%"
    assert heat.customdata[0][1] == "at 97 now, over critical 95"
    assert heat.customdata[0][2] == "not reported"
    assert "P warning 8 h 60%" in heat.customdata[1][0]
    everyone = figures.risk_heatmap(predictions).data[0]
    assert list(everyone.y) == ["hot", "warm", "calm"]


def test_level_counts_figure() -> None:
    env = {"level_counts": {"healthy": 7, "watch": 0, "warning": 2, "critical": 1}}
    bar = figures.level_counts_figure(env).data[0]
    assert list(bar.y) == ["healthy", "watch", "warning", "critical"]
    assert list(bar.x) == [7, 0, 2, 1]


def test_calibration_and_validation_figures() -> None:
    calibration = {"maps": {"critical_within_8h": {"x": [0.0, 0.5, 1.0], "y": [0.1, 0.3, 0.9]}}}
    fig = figures.calibration_figure(calibration)
    assert [t.name for t in fig.data] == ["identity", "critical_within_8h"]
    validation = {"cpu_pct": {"mae_p50": 4.4, "mae_last_value": 9.6}, "epochs_run": 10}
    fig = figures.validation_figure(validation)
    assert [list(t.x) for t in fig.data] == [["cpu_pct"], ["cpu_pct"]]
    assert list(fig.data[0].y) == [4.4] and list(fig.data[1].y) == [9.6]
