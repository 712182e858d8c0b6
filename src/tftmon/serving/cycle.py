"""One inference cycle: snapshot windows → forecaster → risk → cached predictions document.

The cycle's alert candidates go to ``alerting`` and its forecasts to the live monitor;
the served model comes from ``serving.models.ModelSlot``. Stale servers (``FleetStore``:
no data for ``TFTMON_STALE_AFTER_S``) are not forecast and their open alerts resolve;
deleting a server (``delete_server``) waits for the cycle, so no cycle forecasts it after.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

import numpy as np

from tftmon.alerting.flow import AlertFlow
from tftmon.forecast import Forecaster
from tftmon.monitoring.live import DriftMonitor
from tftmon.risk.exceedance import AlertPolicy, assess
from tftmon.risk.thresholds import Thresholds
from tftmon.serving.cache import CacheWriter, PredictionsCache
from tftmon.serving.document import ChunkInput, fleet_document, server_entries
from tftmon.serving.exposition import ExpositionBuilder, ExpositionSpec
from tftmon.serving.instrumentation import DaemonMetrics
from tftmon.serving.models import ModelSlot, ServedModel
from tftmon.store.fleet import FleetStore
from tftmon.store.fleet_results import ServerDeletion
from tftmon.timefmt import now_z

logger = logging.getLogger(__name__)

CHUNK_SIZE: Final = 512  # servers per forecast call: bounds the cycle's intermediate arrays
# the parts of a cycle timed in ``InferenceCycle.last_stages_ms`` (``/status``)
STAGES = ("snapshot", "forecast", "risk", "monitor", "document", "exposition")


class InferenceCycle:
    """Runs inference cycles over the whole fleet and keeps the latest result.

    Args:
        fleet: the windows to forecast.
        models: the served model (``ModelSlot``); a bare forecaster is served as is.
        metrics: the daemon's metrics; cycle times, errors, per-server risk gauges.
        thresholds, policy: per-profile thresholds and the alert policy of ``risk``.
        chunk_size: servers per forecast call (bounds intermediate memory).
        alerts: where each cycle's alert candidates go.
        monitor: live scoring and drift, fed by every cycle.
        exposition: what ``/metrics`` exports of the forecasts (``serving.exposition``).
    """

    def __init__(
        self,
        fleet: FleetStore,
        models: ModelSlot | Forecaster,
        metrics: DaemonMetrics,
        *,
        thresholds: Thresholds | None = None,
        policy: AlertPolicy | None = None,
        chunk_size: int = CHUNK_SIZE,
        alerts: AlertFlow | None = None,
        monitor: DriftMonitor | None = None,
        exposition: ExpositionSpec | None = None,
    ) -> None:
        if not isinstance(models, ModelSlot):
            models = ModelSlot(ServedModel.of(models), fleet, metrics)
        self.lock = models.lock  # held for a whole cycle; a model swap waits for it
        self.fleet = fleet
        self.models = models
        self.metrics = metrics
        self.monitor = monitor or DriftMonitor(models.forecaster)
        models.on_swap(self.monitor.use)
        self.thresholds = thresholds or Thresholds.defaults()
        self.policy = policy or AlertPolicy()
        self.chunk_size = chunk_size
        self.alerts = alerts or AlertFlow()
        self.latest: PredictionsCache | None = None
        self.cycles = 0
        self.last_error: str | None = None
        self.last_stages_ms: dict[str, float] | None = None
        self._monitor_failed = False
        self.exposition = exposition or ExpositionSpec()
        self._omitted = 0

    def run_cycle(self) -> PredictionsCache | None:
        """Forecast every server holding data in one batch; keeps the old result on error."""
        with self.lock:
            started = time.perf_counter()
            try:
                cache, candidates, stale = self._cycle(started)
            except Exception as exc:  # a failed cycle must never take the daemon down
                self.metrics.inference_errors.inc()
                self.last_error = f"{type(exc).__name__}: {exc}"
                logger.exception("inference cycle failed; serving the previous predictions")
                return None
            self.metrics.inference_seconds.observe(cache.inference_ms / 1000)
            self.latest = cache
            # every candidate, hold-only ones too: the document shows only opening ones
            self.alerts.apply(candidates, cache.time, stale)
            self.cycles += 1
            self.last_error = None
            gc.collect(1)
            return cache

    def delete_server(self, name: str) -> tuple[ServerDeletion, int] | None:
        """Delete a server between cycles and resolve its open alerts (reason ``deleted``);
        returns what was deleted and how many alerts resolved, None for an unknown name.

        Raises:
            StoreError: the store could not delete it; nothing changed.
        """
        with self.lock:
            deleted = self.fleet.delete(name)
            if deleted is None:
                return None
            events = self.alerts.resolve_servers({name}, "deleted", datetime.now(UTC))
        return deleted, len(events)

    def _cycle(self, started: float) -> tuple[PredictionsCache, list[dict[str, Any]], set[str]]:
        """One cycle's cache, its alert candidates (``serving.document._alert``) and the
        stale servers."""
        stages = dict.fromkeys(STAGES, 0.0)
        snap = self.fleet.snapshot()
        self.metrics.servers_stale.set(len(snap.stale))
        windows = snap.windows
        mark = time.perf_counter()
        stages["snapshot"] = mark - started
        self._monitor(self.monitor.score, windows)
        served = self.models.served  # one model for the whole cycle, swaps wait for the lock
        forecaster, info = served.forecaster, served.forecaster.info
        warning, critical = self.thresholds.arrays(snap.profiles)
        writer = CacheWriter()
        exposition = ExpositionBuilder(
            self.exposition, info.quantiles, info.horizon_steps, windows.step_seconds
        )
        exposition.omitted = self._omitted
        alerts: list[dict[str, Any]] = []
        levels, p30m, p8h = [], [], []
        counts: dict[str, int] = {}
        forecast_s = 0.0
        # chunks bound the memory of intermediate arrays, whatever the fleet size
        for start in range(0, len(windows), self.chunk_size):
            stop = start + self.chunk_size
            part = windows.part(start, stop)
            began = time.perf_counter()
            stages["monitor"] += began - mark
            output = forecaster.forecast(part)
            forecast_end = time.perf_counter()
            stages["forecast"] += forecast_end - began
            risk = assess(
                output.quantiles,
                info.quantiles,
                part.current,
                warning[start:stop],
                critical[start:stop],
                windows.step_seconds,
                served.calibration,
                self.policy,
                output.selected,
            )
            mark = time.perf_counter()
            forecast_s += mark - began
            stages["risk"] += mark - forecast_end
            self._monitor(self.monitor.record, part, output.quantiles, output.model_type)
            began = time.perf_counter()
            stages["monitor"] += began - mark
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
            exposition.add(chunk)
            mark = time.perf_counter()
            stages["exposition"] += mark - began
            for name, entry, server_alerts in server_entries(
                chunk, info, self.fleet.min_history_steps
            ):
                writer.add(name, entry)
                alerts.extend(server_alerts)
            levels.append(risk.level)
            p30m.append(risk.incident_probability_30m)
            p8h.append(risk.incident_probability_8h)
            for model_type in output.model_type:
                counts[model_type] = counts.get(model_type, 0) + 1
            began = time.perf_counter()
            stages["document"] += began - mark
            mark = began
        self._monitor(self.monitor.refresh, windows, snap.profiles, snap.names)
        began = time.perf_counter()
        stages["monitor"] += began - mark
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
        for model_type in {"TFT", "baseline", *counts}:
            self.metrics.servers_served.labels(model_type).set(counts.get(model_type, 0))
        mark = time.perf_counter()
        stages["document"] += mark - began
        text = exposition.render()
        self._omitted = exposition.omitted
        self.metrics.metrics_servers_omitted.set(exposition.omitted)
        ended = time.perf_counter()
        stages["exposition"] += ended - mark
        took_ms = (ended - started) * 1000
        self.last_stages_ms = {k: round(v * 1000, 2) for k, v in stages.items()}
        return writer.finish(rest, now, took_ms, text), alerts, set(snap.stale)

    def _monitor(self, step: Callable[..., None], *args: Any) -> None:
        """Live scoring must never fail a cycle: errors are logged (once) and skipped."""
        try:
            step(*args)
        except Exception as exc:
            if not self._monitor_failed:
                logger.exception("live scoring failed; forecasts are served regardless")
            self._monitor_failed = True
            self.monitor.error = f"{now_z()} {type(exc).__name__}: {exc}"  # in /drift/status
