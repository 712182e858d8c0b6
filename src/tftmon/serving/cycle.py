"""The inference loop: snapshot windows → forecaster → risk → cached predictions document."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from tftmon.alerting.lifecycle import AlertTracker
from tftmon.alerting.notifiers import NotificationDispatcher
from tftmon.forecast import Forecaster
from tftmon.monitoring.live import DriftMonitor
from tftmon.risk.exceedance import AlertPolicy, Thresholds, assess
from tftmon.serving.cache import CacheWriter, PredictionsCache
from tftmon.serving.document import ChunkInput, fleet_document, server_entries
from tftmon.serving.instrumentation import DaemonMetrics, PerServerRows
from tftmon.store.fleet import FleetStore
from tftmon.store.window import WindowSnapshot

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """What a model reload did."""

    reloaded: bool
    model_version: str
    previous_version: str
    error: str | None = None


class ModelSource:
    """Where the served model comes from: ``load(None)`` loads what ``marker()`` names.

    Args:
        marker: the current content of ``models/LATEST`` (or the pinned version); cheap.
        load: loads a forecaster; raises on failure.
        watch: whether a changed marker triggers a reload between cycles.
    """

    def __init__(
        self,
        marker: Callable[[], str | None],
        load: Callable[[], Forecaster],
        *,
        watch: bool = True,
    ) -> None:
        self.marker = marker
        self.load = load
        self.watch = watch
        self.seen = self.current()

    def current(self) -> str | None:
        """The marker now (None when it cannot be read)."""
        try:
            return self.marker()
        except (OSError, ValueError):  # unreadable, or not text: like no LATEST at all
            return None

    def changed(self) -> bool:
        """Whether the marker moved since the last load (or attempt)."""
        return self.watch and self.current() != self.seen


class InferenceService:
    """Runs inference cycles over the whole fleet and keeps the latest result."""

    def __init__(
        self,
        fleet: FleetStore,
        forecaster: Forecaster,
        metrics: DaemonMetrics,
        *,
        thresholds: Thresholds | None = None,
        policy: AlertPolicy | None = None,
        chunk_size: int = 512,
        notifications: NotificationDispatcher | None = None,
        alerts: AlertTracker | None = None,
        monitor: DriftMonitor | None = None,
        source: ModelSource | None = None,
    ) -> None:
        self.fleet = fleet
        self.forecaster = forecaster
        self.monitor = monitor or DriftMonitor(forecaster)
        self.source = source
        self.reload_error: str | None = None
        self.model_loaded_at = datetime.now(UTC)
        self._reload_lock = threading.Lock()
        self._monitor_failed = False
        self.metrics = metrics
        self.thresholds = thresholds or Thresholds.defaults()
        self.policy = policy or AlertPolicy()
        self.chunk_size = chunk_size
        self.alerts = alerts or AlertTracker()
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
                cache, candidates = self._cycle(started)
            except Exception as exc:  # a failed cycle must never take the daemon down
                self.metrics.inference_errors.inc()
                self.last_error = f"{type(exc).__name__}: {exc}"
                logger.exception("inference cycle failed; serving the previous predictions")
                return None
            self.metrics.inference_seconds.observe(cache.inference_ms / 1000)
            self.latest = cache
            # every candidate, hold-only ones too: the document shows only opening ones
            events = self.alerts.update(candidates, cache.time)
            self.notifications.submit(events, self.alerts.active())
            self.cycles += 1
            self.last_error = None
            gc.collect(1)
            return cache

    def _cycle(self, started: float) -> tuple[PredictionsCache, list[dict[str, Any]]]:
        """One cycle's cache and its alert candidates (``predictions._alert``)."""
        snap = self.fleet.snapshot()
        windows = snap.windows
        self._monitor(self.monitor.score, windows)
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
                self.policy,
                output.selected,
            )
            forecast_s += time.perf_counter() - began
            self._monitor(self.monitor.record, part, output.quantiles, output.model_type)
            chunk = ChunkInput(
                snap.names[start:stop],
                snap.profiles[start:stop],
                part,
                output,
                risk,
                warning[start:stop],
                critical[start:stop],
                self.policy,
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
        self._monitor(self.monitor.refresh, windows, snap.profiles, snap.names)
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
        return writer.finish(rest, now, (time.perf_counter() - started) * 1000), alerts

    def _monitor(self, step: Callable[..., None], *args: Any) -> None:
        """Live scoring must never fail a cycle: errors are logged (once) and skipped."""
        try:
            step(*args)
        except Exception as exc:
            if not self._monitor_failed:
                logger.exception("live scoring failed; forecasts are served regardless")
            self._monitor_failed = True
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            self.monitor.error = f"{stamp} {type(exc).__name__}: {exc}"  # in /drift/status

    def check_model(self) -> bool:
        """Between cycles: reload when ``models/LATEST`` changed; True if a new model is in.

        Never raises: the inference loop that calls it must outlive any model problem.
        """
        try:
            if self.source is None or not self.source.changed():
                return False
            before = self.forecaster
            return self.reload().reloaded and self.forecaster is not before
        except Exception:
            logger.exception("checking for a new model failed; still serving the old one")
            return False

    def reload(self) -> ReloadResult:
        """Load the model the source names and swap it in between two cycles.

        Loading and validation happen while cycles go on with the old model; only the
        swap itself waits for a running cycle to end. On failure the old model stays and
        the reason is kept in ``reload_error`` (shown in ``/status``).
        """
        if self.source is None:
            version = self.forecaster.info.version
            return ReloadResult(False, version, version, "this daemon has no model source")
        with self._reload_lock:
            previous = self.forecaster.info.version
            self.source.seen = self.source.current()
            if self.source.seen == previous and self.reload_error is None:
                # already served: a watcher and an explicit reload of one promotion load once
                return ReloadResult(True, previous, previous)
            try:
                candidate = self.source.load()
                self._validate(candidate)
            except Exception as exc:
                self.reload_error = f"{type(exc).__name__}: {exc}"
                self.metrics.model_reloads.labels("failed").inc()
                logger.error("model reload failed; still serving %s: %s", previous, exc)
                return ReloadResult(False, previous, previous, self.reload_error)
            with self._cycle_lock:
                self.forecaster = candidate
                self.monitor.use(candidate)
            self.reload_error = None
            self.model_loaded_at = datetime.now(UTC)
            self.metrics.model_reloads.labels("ok").inc()
            version = candidate.info.version
            logger.info("now serving %s %s (was %s)", candidate.info.model_type, version, previous)
            return ReloadResult(True, version, previous)

    def _validate(self, candidate: Forecaster) -> None:
        """A candidate must forecast the daemon's shape, with finite numbers, on real windows."""
        old, new = self.forecaster.info, candidate.info
        if (new.horizon_steps, new.step_seconds) != (old.horizon_steps, old.step_seconds):
            raise ValueError(
                f"model {new.version} forecasts {new.horizon_steps} x {new.step_seconds}-s "
                f"steps, the daemon serves {old.horizon_steps} x {old.step_seconds}-s"
            )
        windows = self.fleet.snapshot().windows
        sample: WindowSnapshot = windows.part(0, min(8, len(windows)))
        if len(sample) == 0:
            return
        out = candidate.forecast(sample).quantiles
        expected = (len(sample), new.horizon_steps, len(self.fleet.metrics), len(new.quantiles))
        if out.shape != expected:
            raise ValueError(f"model {new.version} returned shape {out.shape}, not {expected}")
        if np.isinf(out).any():
            raise ValueError(f"model {new.version} returned infinite forecasts")
        inputs_finite = np.isfinite(sample.values).all(axis=(1, 2))
        if inputs_finite.any() and np.isnan(out[inputs_finite]).all():
            raise ValueError(f"model {new.version} returned no number for complete windows")

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
    service: InferenceService,
    interval_s: float,
    min_gap_s: float,
    wake: asyncio.Event,
    model_poll_s: float = 2.0,
) -> None:
    """Run a cycle every ``interval_s``, or sooner when ``wake`` is set, off the event loop.

    Between cycles, every ``model_poll_s``, the model source is checked (``models/LATEST``);
    a new model is swapped in by the same thread that runs cycles, and used at once.
    """
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(1, thread_name_prefix="tftmon-inference") as executor:
        while True:
            await loop.run_in_executor(executor, service.run_cycle)
            await asyncio.sleep(min_gap_s)
            deadline = loop.time() + max(0.0, interval_s - min_gap_s)
            while not wake.is_set():
                if await loop.run_in_executor(executor, service.check_model):
                    break  # a new model: forecast with it at once
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=min(remaining, model_poll_s))
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
