"""The inference cycle: chunking changes nothing; a failing forecaster keeps old results."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import orjson

from tests.conftest import hours_ago, records
from tftmon.forecast.baseline import BaselineForecaster
from tftmon.schemas import DEFAULT_PROFILE_RULES, METRICS
from tftmon.serving.cycle import InferenceCycle
from tftmon.serving.ingest import ingest
from tftmon.serving.instrumentation import DaemonMetrics
from tftmon.serving.models import ServedModel
from tftmon.store.fleet import FleetStore
from tftmon.store.history import HistoryStore


def fleet_with_data(tmp_path: Path) -> FleetStore:
    fleet = FleetStore(
        HistoryStore(tmp_path / "h.sqlite3", METRICS, 300),
        step_seconds=300,
        encoder_steps=288,
        raw_samples=16,
        min_history_steps=6,
        profile_rules=DEFAULT_PROFILE_RULES,
    )
    fleet.open()
    rng = np.random.default_rng(0)
    batch = records([f"ppweb{i:03d}" for i in range(7)], hours_ago(3), 300)
    for rec in batch:
        rec["cpu_pct"] = float(rng.uniform(60, 99))
    from datetime import UTC, datetime

    ingest(batch, fleet, datetime.now(UTC), 300)
    return fleet


def test_chunked_cycle_equals_one_batch(tmp_path: Path) -> None:
    fleet = fleet_with_data(tmp_path)
    forecaster = BaselineForecaster(96, 300)
    whole = InferenceCycle(fleet, forecaster, DaemonMetrics()).run_cycle()
    chunked = InferenceCycle(fleet, forecaster, DaemonMetrics(), chunk_size=2).run_cycle()
    assert whole is not None and chunked is not None
    a = orjson.loads(whole.body)
    b = orjson.loads(chunked.body)
    for doc in (a, b):
        doc["metadata"].pop("prediction_time")
        doc["metadata"].pop("inference_ms")
    assert a == b
    assert len(a["predictions"]) == 7


class Broken(BaselineForecaster):
    def forecast(self, snapshot):  # type: ignore[no-untyped-def]
        raise RuntimeError("model exploded")


def test_a_cycle_times_each_of_its_stages(tmp_path: Path) -> None:
    fleet = fleet_with_data(tmp_path)
    service = InferenceCycle(fleet, BaselineForecaster(96, 300), DaemonMetrics(), chunk_size=3)
    assert service.last_stages_ms is None
    started = time.perf_counter()
    assert service.run_cycle() is not None
    took_ms = (time.perf_counter() - started) * 1000
    stages = service.last_stages_ms
    assert stages is not None
    assert list(stages) == ["snapshot", "forecast", "risk", "monitor", "document", "exposition"]
    assert all(v > 0 for v in stages.values()), stages
    assert sum(stages.values()) <= took_ms  # parts of the cycle, none counted twice


def test_failed_cycle_keeps_the_previous_result(tmp_path: Path) -> None:
    fleet = fleet_with_data(tmp_path)
    service = InferenceCycle(fleet, BaselineForecaster(96, 300), DaemonMetrics())
    first = service.run_cycle()
    service.models.served = ServedModel.of(Broken(96, 300))
    assert service.run_cycle() is None
    assert service.latest is first
    assert service.last_error == "RuntimeError: model exploded"


def test_cache_body_and_selection() -> None:
    from datetime import UTC, datetime

    from tftmon.serving.cache import CacheWriter

    entry = {k: 1 for k in ("risk_score", "incident_probability_30m", "incident_probability_8h")}
    entry |= {"alert": "healthy", "model_type": "baseline"}
    predictions = {"a": {**entry, "x": np.arange(3, dtype=np.float32)}, "b": {**entry, "y": 1}}
    rest = {"alerts": [{"server": "b", "level": "warning"}], "metadata": {"m": "TFT"}}
    writer = CacheWriter()
    for name, value in predictions.items():
        writer.add(name, value)
    cache = writer.finish(rest, datetime.now(UTC), 1.0)
    doc = {"predictions": predictions, **rest}
    assert orjson.loads(cache.body) == orjson.loads(
        orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
    )
    only_b = orjson.loads(cache.select(["b", "nope"]))
    assert list(only_b["predictions"]) == ["b"]
    assert only_b["alerts"] == rest["alerts"]
    assert orjson.loads(cache.select(["a"]))["alerts"] == []
    empty = CacheWriter().finish({}, datetime.now(UTC), 1.0)
    assert orjson.loads(empty.body) == {"predictions": {}}
    assert orjson.loads(empty.compact) == {"predictions": {}}


def test_compact_body_drops_forecast_lists_only() -> None:
    from datetime import UTC, datetime

    from tftmon.serving.cache import CacheWriter

    entry = {k: 1 for k in ("risk_score", "incident_probability_30m", "incident_probability_8h")}
    entry |= {"alert": "warning", "model_type": "tft"}
    metric = {"p10": np.arange(3.0), "p50": np.arange(3.0), "p90": np.arange(3.0)}
    metric |= {"quantiles": {"p02": np.arange(3.0)}, "current": 5.0, "exceed_critical_8h": 0.5}
    writer = CacheWriter()
    writer.add("a", {**entry, "cpu_pct": metric})
    writer.add("b", {**entry, "cpu_pct": metric})
    rest = {"alerts": [{"server": "b", "level": "warning"}], "metadata": {"m": "TFT"}}
    cache = writer.finish(rest, datetime.now(UTC), 1.0)
    doc = orjson.loads(cache.select(compact=True))
    assert doc["predictions"]["a"] == {
        **entry,
        "cpu_pct": {"current": 5.0, "exceed_critical_8h": 0.5},
    }
    assert doc["alerts"] == rest["alerts"] and doc["metadata"] == rest["metadata"]
    only_a = orjson.loads(cache.select(["a"], compact=True))
    assert list(only_a["predictions"]) == ["a"] and only_a["alerts"] == []
    assert "p50" in orjson.loads(cache.select(["a"]))["predictions"]["a"]["cpu_pct"]
