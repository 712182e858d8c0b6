"""``serving.exposition``: base units, absent metrics and the server cap, on hand-made arrays."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from tftmon.serving.exposition import ExpositionBuilder, ExpositionSpec

LEVELS = [0.1, 0.5, 0.9]


def _chunk(names: list[str], risk: list[float], latency_ms: float = 250.0) -> Any:
    s, h, m = len(names), 96, 4
    q = np.empty((s, h, m, len(LEVELS)), np.float32)
    q[..., :] = [40.0, 50.0, 60.0]  # every metric, every step
    q[:, :, 2] = [10.0, 20.0, 30.0]  # disk, MB/s
    q[:, :, 3] = latency_ms
    q[0, :, 1] = np.nan  # the first server never sent memory
    zeros = np.zeros((s, m))
    steps = np.full((s, m), -1)
    steps[:, 0] = 7  # CPU expected to cross its warning line at the 7th step
    return SimpleNamespace(
        names=names,
        profiles=["web_api"] * s,
        output=SimpleNamespace(quantiles=q, model_type=["TFT"] * s),
        risk=SimpleNamespace(
            warning_step=steps,
            critical_step=np.full((s, m), -1),
            p_warning_30m=zeros,
            p_warning_8h=zeros + 0.25,
            p_critical_30m=zeros,
            p_critical_8h=zeros,
            risk_score=np.asarray(risk),
            incident_probability_30m=np.zeros(s),
            incident_probability_8h=np.zeros(s),
        ),
        warning=np.full((s, m), 80.0),
        critical=np.full((s, m), 90.0),
        windows=SimpleNamespace(current=np.full((s, m), 45.0), end_bucket=np.full(s, 100)),
    )


def _families(builder: ExpositionBuilder) -> dict[str, list[Any]]:
    text = builder.render().decode()
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def test_values_are_in_base_units() -> None:
    builder = ExpositionBuilder(ExpositionSpec(), LEVELS, 96, 300)
    builder.add(_chunk(["a", "b"], [1.0, 2.0]))
    families = _families(builder)
    values = {
        (f, s.labels["server"], s.labels["q"], s.labels["horizon"]): s.value
        for f in ("tftmon_forecast_latency_seconds", "tftmon_forecast_disk_io_bytes_per_second")
        for s in families[f]
    }
    assert values["tftmon_forecast_latency_seconds", "b", "0.9", "30m"] == 0.25
    assert values["tftmon_forecast_disk_io_bytes_per_second", "a", "0.5", "8h"] == 20e6
    assert {s.value for s in families["tftmon_observed_cpu_usage_ratio"]} == {0.45}
    thresholds = {s.labels["level"]: s.value for s in families["tftmon_threshold_cpu_usage_ratio"]}
    assert thresholds == {"warning": 0.8, "critical": 0.9}
    # step 7 of 5-minute steps starts 30 minutes after the forecast start
    eta = families["tftmon_threshold_crossing_seconds"]
    assert {(s.labels["server"], s.labels["metric"], s.value) for s in eta} == {
        ("a", "cpu_pct", 1800),
        ("b", "cpu_pct", 1800),
    }
    assert {s.value for s in families["tftmon_forecast_start_timestamp_seconds"]} == {101 * 300}


def test_a_metric_never_sent_has_no_line() -> None:
    builder = ExpositionBuilder(ExpositionSpec(), LEVELS, 96, 300)
    builder.add(_chunk(["a", "b"], [1.0, 2.0]))
    families = _families(builder)
    memory = {s.labels["server"] for s in families["tftmon_forecast_memory_usage_ratio"]}
    assert memory == {"b"}
    warned = {
        s.labels["server"]
        for s in families["tftmon_warning_probability_ratio"]
        if s.labels["metric"] == "mem_pct"
    }
    assert warned == {"b"}


def test_the_cap_keeps_the_riskiest_across_chunks() -> None:
    builder = ExpositionBuilder(ExpositionSpec(max_servers=2), LEVELS, 96, 300)
    builder.add(_chunk(["a", "b"], [10.0, 90.0]))
    builder.add(_chunk(["c", "d"], [50.0, 5.0]))
    families = _families(builder)
    assert [s.labels["server"] for s in families["tftmon_server_risk_score"]] == ["b", "c"]
    assert builder.omitted == 2


def test_horizons_past_the_model_are_left_out_and_nearest_levels_named() -> None:
    spec = ExpositionSpec(quantiles=(0.45, 0.95), horizons=(("1h", 3600), ("2d", 172800)))
    builder = ExpositionBuilder(spec, LEVELS, 96, 300)
    builder.add(_chunk(["a"], [1.0]))
    samples = _families(builder)["tftmon_forecast_cpu_usage_ratio"]
    assert {(s.labels["q"], s.labels["horizon"]) for s in samples} == {("0.5", "1h"), ("0.9", "1h")}


def test_nothing_to_export_is_empty() -> None:
    assert ExpositionBuilder(ExpositionSpec(), LEVELS, 96, 300).render() == b""
