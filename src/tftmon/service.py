"""The inference loop: snapshot windows → forecaster → risk → cached predictions document."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson

from tftmon.forecast import Forecaster, ForecastOutput
from tftmon.instrumentation import DaemonMetrics, PerServerRows
from tftmon.predictions import build_predictions
from tftmon.risk import RiskAssessment, Thresholds, assess, concat_assessments
from tftmon.store.fleet import FleetStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PredictionsCache:
    """The latest predictions: the document and its JSON bytes (served as they are)."""

    document: dict[str, Any]
    body: bytes
    time: datetime
    inference_ms: float


class InferenceService:
    """Runs inference cycles over the whole fleet and keeps the latest result."""

    def __init__(
        self,
        fleet: FleetStore,
        forecaster: Forecaster,
        metrics: DaemonMetrics,
        *,
        thresholds: Thresholds | None = None,
        chunk_size: int = 512,
    ) -> None:
        self.fleet = fleet
        self.forecaster = forecaster
        self.metrics = metrics
        self.thresholds = thresholds or Thresholds.defaults()
        self.chunk_size = chunk_size
        self.latest: PredictionsCache | None = None
        self.cycles = 0
        self.last_error: str | None = None
        self._cycle_lock = threading.Lock()
        metrics.watch_servers(self.server_rows)

    def run_cycle(self) -> PredictionsCache | None:
        """Forecast every server holding data in one batch; keeps the old result on error."""
        with self._cycle_lock:
            started = time.perf_counter()
            try:
                cache = self._cycle(started)
            except Exception as exc:  # a failed cycle must never take the daemon down
                self.metrics.inference_errors.inc()
                self.last_error = f"{type(exc).__name__}: {exc}"
                logger.exception("inference cycle failed; serving the previous predictions")
                return None
            self.metrics.inference_seconds.observe(cache.inference_ms / 1000)
            self.latest = cache
            self.cycles += 1
            self.last_error = None
            gc.collect(1)
            return cache

    def _cycle(self, started: float) -> PredictionsCache:
        snap = self.fleet.snapshot()
        info = self.forecaster.info
        warning, critical = self.thresholds.arrays(snap.profiles)
        outputs: list[ForecastOutput] = []
        risks: list[RiskAssessment] = []
        # chunks bound the memory of intermediate arrays, whatever the fleet size
        for start in range(0, max(len(snap.windows), 1), self.chunk_size):
            stop = start + self.chunk_size
            part = snap.windows.part(start, stop)
            out = self.forecaster.forecast(part)
            outputs.append(out)
            risks.append(
                assess(
                    out.quantiles,
                    info.quantiles,
                    part.current,
                    warning[start:stop],
                    critical[start:stop],
                    snap.windows.step_seconds,
                )
            )
        output = ForecastOutput(
            np.concatenate([o.quantiles for o in outputs]),
            [m for o in outputs for m in o.model_type],
        )
        risk = concat_assessments(risks)
        now = datetime.now(UTC)
        inference_ms = (time.perf_counter() - started) * 1000
        document = build_predictions(
            snap,
            output,
            risk,
            warning,
            critical,
            info,
            min_history_steps=self.fleet.min_history_steps,
            prediction_time=now,
            inference_ms=inference_ms,
        )
        served: dict[str, int] = {}
        for model_type in output.model_type:
            served[model_type] = served.get(model_type, 0) + 1
        for model_type in {"TFT", "baseline", *served}:
            self.metrics.servers_served.labels(model_type).set(served.get(model_type, 0))
        return PredictionsCache(document, serialize(document), now, inference_ms)

    def server_rows(self) -> PerServerRows:
        """Per-server risk gauges for ``/metrics``."""
        latest = self.latest
        if latest is None:
            return []
        return [
            (name, p["risk_score"], p["incident_probability_30m"], p["incident_probability_8h"])
            for name, p in latest.document["predictions"].items()
        ]


def serialize(document: dict[str, Any]) -> bytes:
    """The predictions document as JSON, one server at a time.

    orjson holds the GIL while it writes; one call over a large fleet would stall request
    threads for tens of milliseconds, so each server is written separately.
    """
    opt = orjson.OPT_SERIALIZE_NUMPY
    parts = [b'{"predictions":{']
    for i, (name, entry) in enumerate(document["predictions"].items()):
        parts.append(
            (b"," if i else b"") + orjson.dumps(name) + b":" + orjson.dumps(entry, option=opt)
        )
    parts.append(b"}")
    rest = orjson.dumps({k: v for k, v in document.items() if k != "predictions"}, option=opt)
    parts.append(b"}" if rest == b"{}" else b"," + rest[1:])
    return b"".join(parts)


async def inference_loop(
    service: InferenceService, interval_s: float, min_gap_s: float, wake: asyncio.Event
) -> None:
    """Run a cycle every ``interval_s``, or sooner when ``wake`` is set, off the event loop."""
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(1, thread_name_prefix="tftmon-inference") as executor:
        while True:
            await loop.run_in_executor(executor, service.run_cycle)
            await asyncio.sleep(min_gap_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=max(0.0, interval_s - min_gap_s))
            wake.clear()


async def retention_loop(fleet: FleetStore, retention_days: float, bucket_days: float) -> None:
    """Prune the history store once an hour (the first time at start)."""
    loop = asyncio.get_running_loop()
    while True:
        newest = await loop.run_in_executor(None, fleet.history.newest_ts_ms)
        if newest is not None:
            try:
                await loop.run_in_executor(
                    None, fleet.history.prune, newest, retention_days, bucket_days
                )
            except Exception:
                logger.exception("retention pruning failed; will retry in an hour")
        await asyncio.sleep(3600)
