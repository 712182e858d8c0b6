"""The inference loop: snapshot windows → forecaster → risk → cached predictions document."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import numpy as np

from tftmon.alerts import AlertTracker
from tftmon.cache import CacheWriter, PredictionsCache
from tftmon.forecast import Forecaster
from tftmon.instrumentation import DaemonMetrics, PerServerRows
from tftmon.notify import NotificationDispatcher
from tftmon.predictions import ChunkInput, fleet_document, server_entries
from tftmon.risk import Thresholds, assess
from tftmon.store.fleet import FleetStore

logger = logging.getLogger(__name__)


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
        notifications: NotificationDispatcher | None = None,
    ) -> None:
        self.fleet = fleet
        self.forecaster = forecaster
        self.metrics = metrics
        self.thresholds = thresholds or Thresholds.defaults()
        self.chunk_size = chunk_size
        self.alerts = AlertTracker()
        self.notifications = notifications or NotificationDispatcher([])
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
            events = self.alerts.update(cache.alerts, cache.time)
            self.notifications.submit(events, self.alerts.active())
            self.cycles += 1
            self.last_error = None
            gc.collect(1)
            return cache

    def _cycle(self, started: float) -> PredictionsCache:
        snap = self.fleet.snapshot()
        windows = snap.windows
        info = self.forecaster.info
        warning, critical = self.thresholds.arrays(snap.profiles)
        writer = CacheWriter()
        alerts: list[dict[str, Any]] = []
        levels, p30m, p8h = [], [], []
        served: dict[str, int] = {}
        forecast_s = 0.0
        # chunks bound the memory of intermediate arrays, whatever the fleet size
        for start in range(0, len(windows), self.chunk_size):
            stop = start + self.chunk_size
            part = windows.part(start, stop)
            began = time.perf_counter()
            output = self.forecaster.forecast(part)
            risk = assess(
                output.quantiles,
                info.quantiles,
                part.current,
                warning[start:stop],
                critical[start:stop],
                windows.step_seconds,
                self.forecaster.calibration,
            )
            forecast_s += time.perf_counter() - began
            chunk = ChunkInput(
                snap.names[start:stop],
                snap.profiles[start:stop],
                part,
                output,
                risk,
                warning[start:stop],
                critical[start:stop],
            )
            for name, entry, server_alerts in server_entries(
                chunk, info, self.fleet.min_history_steps
            ):
                writer.add(name, entry)
                alerts.extend(server_alerts)
            levels.append(risk.level)
            p30m.append(risk.incident_probability_30m)
            p8h.append(risk.incident_probability_8h)
            for model_type in output.model_type:
                served[model_type] = served.get(model_type, 0) + 1
        now = datetime.now(UTC)
        rest = fleet_document(
            np.concatenate(levels) if levels else np.zeros(0, np.int64),
            np.concatenate(p30m) if p30m else np.zeros(0),
            np.concatenate(p8h) if p8h else np.zeros(0),
            alerts,
            info,
            step_seconds=windows.step_seconds,
            prediction_time=now,
            inference_ms=forecast_s * 1000,
        )
        for model_type in {"TFT", "baseline", *served}:
            self.metrics.servers_served.labels(model_type).set(served.get(model_type, 0))
        return writer.finish(rest, now, (time.perf_counter() - started) * 1000)

    def server_rows(self) -> PerServerRows:
        """Per-server risk gauges for ``/metrics``."""
        latest = self.latest
        if latest is None:
            return []
        return [
            (name, p["risk_score"], p["incident_probability_30m"], p["incident_probability_8h"])
            for name, p in latest.summary.items()
        ]


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
