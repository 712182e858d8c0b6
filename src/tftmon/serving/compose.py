"""The composition root: every long-lived part of the daemon, built from settings in one place.

``build_daemon`` opens the stores, loads the model, and wires the inference cycle to the
live monitor, the alert flow and the notifiers. The API's lifespan calls it once and hands
the routes the narrow parts they need (``api.state``); nothing else constructs these parts.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass

from tftmon.alerting.flow import AlertFlow
from tftmon.alerting.lifecycle import AlertTracker
from tftmon.alerting.notifiers import (
    DEFAULT_DASHBOARD_URL,
    AlertmanagerNotifier,
    NotificationDispatcher,
    Notifier,
    WebhookNotifier,
)
from tftmon.forecast import Forecaster
from tftmon.forecast.artifacts import ArtifactError, latest_version
from tftmon.forecast.baseline import BaselineForecaster
from tftmon.forecast.selection import window_extra
from tftmon.monitoring.drift import DriftThresholds
from tftmon.monitoring.live import DriftMonitor
from tftmon.risk.exceedance import AlertPolicy
from tftmon.risk.thresholds import Thresholds
from tftmon.schemas import METRICS
from tftmon.serving.cycle import InferenceCycle
from tftmon.serving.data_dir import prepare_data_dir
from tftmon.serving.exposition import ExpositionSpec
from tftmon.serving.instrumentation import DaemonMetrics
from tftmon.serving.models import ModelSlot, ModelSource, ServedModel, load_served
from tftmon.serving.remote_write import RemoteWriteConverter
from tftmon.serving.remote_write_mapping import load_mapping
from tftmon.settings import Settings, duration_seconds
from tftmon.store.alerts import AlertStore
from tftmon.store.fleet import FleetStore
from tftmon.store.history import HistoryStore

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Daemon:
    """The daemon's long-lived parts; ``close()`` releases them."""

    fleet: FleetStore
    metrics: DaemonMetrics
    models: ModelSlot
    cycle: InferenceCycle
    monitor: DriftMonitor
    alerts: AlertFlow
    alert_store: AlertStore
    restore_seconds: float
    remote_write: RemoteWriteConverter | None = None  # POST /api/v1/write

    def close(self) -> None:
        """Stop delivery and close the stores (after the loops have stopped)."""
        self.alerts.dispatcher.close()
        self.alert_store.close()
        self.fleet.close()


def build_daemon(settings: Settings, forecaster: Forecaster | None = None) -> Daemon:
    """Open the stores, load the model (or serve ``forecaster``) and wire the parts.

    Blocking (stores are restored from disk): call it off the event loop.
    """
    remote_write = RemoteWriteConverter(
        load_mapping(settings.remote_write_mapping), max_future_s=settings.max_future_seconds
    )
    prepare_data_dir(settings.data_dir, settings.db_path)  # 0700 folder, 0600 files
    history = HistoryStore(
        settings.db_path, METRICS, settings.step_seconds, synchronous=settings.db_synchronous
    )
    fleet = FleetStore(
        history,
        step_seconds=settings.step_seconds,
        # the window holds the encoder plus what the forecast selection judges on
        encoder_steps=settings.encoder_steps + window_extra(settings.selection_steps),
        raw_samples=settings.raw_samples_per_server,
        min_history_steps=settings.min_history_steps,
        profile_rules=settings.profile_rules,
        max_servers=settings.max_servers,
        stale_after_s=settings.stale_after_s or None,
    )
    restore_seconds = fleet.open()
    metrics = DaemonMetrics()
    served = ServedModel.of(forecaster) if forecaster else default_model(settings, fleet)
    models = ModelSlot(served, fleet, metrics, source=model_source(settings))
    # open alerts, their history and notifier cursors share the history file
    alert_store = AlertStore(settings.db_path, synchronous=settings.db_synchronous)
    alert_store.open()
    tracker = AlertTracker(alert_store, min_hold_s=settings.alert_min_hold_s)
    dispatcher = NotificationDispatcher(notifiers(settings), log=alert_store)
    dispatcher.resume(tracker.active())
    monitor = DriftMonitor(
        served.forecaster,
        drift_thresholds(settings),
        stride_steps=settings.scoring_stride_steps,
        max_servers=settings.scoring_max_servers,
        half_life_hours=settings.drift_half_life_hours,
    )
    alerts = AlertFlow(tracker, dispatcher)
    cycle = InferenceCycle(
        fleet,
        models,
        metrics,
        thresholds=Thresholds.load(settings.thresholds_file),
        policy=alert_policy(settings),
        alerts=alerts,
        monitor=monitor,
        exposition=exposition_spec(settings),
    )
    metrics.watch_drift(monitor.document)
    return Daemon(
        fleet, metrics, models, cycle, monitor, alerts, alert_store, restore_seconds, remote_write
    )


def default_model(settings: Settings, fleet: FleetStore) -> ServedModel:
    """The TFT of ``models/LATEST`` (or ``TFTMON_MODEL_VERSION``), loaded and checked as a
    reload is (``serving.models.load_served``); if it cannot be served, the baseline, with
    the reason logged once and shown in ``/status`` (``model.note``)."""
    try:
        return load_served(
            lambda: load_model(settings),
            models_dir=settings.models_dir,
            fleet=fleet,
            horizon_steps=settings.horizon_steps,
            step_seconds=settings.step_seconds,
        )
    except ArtifactError as exc:
        logger.error("TFT not served, falling back to the baseline: %s", exc)
        note = f"TFT not served: {exc}"
    baseline = BaselineForecaster(
        settings.horizon_steps,
        settings.step_seconds,
        min_history_steps=settings.min_history_steps,
        note=note,
    )
    return ServedModel(baseline, None)


def load_model(settings: Settings) -> Forecaster:
    """The TFT named by ``TFTMON_MODEL_VERSION`` or ``models/LATEST``; raises on failure."""
    from tftmon.forecast.tft import TFTForecaster

    forecaster = TFTForecaster.load(
        settings.models_dir,
        settings.model_version or None,
        device=settings.device,
        step_seconds=settings.step_seconds,
        horizon_steps=settings.horizon_steps,
        selection_steps=settings.selection_steps,
    )
    if compiles(settings.compile, forecaster.device):
        forecaster.start_compile(
            mode=settings.compile_mode, cache_dir=settings.data_dir / "compile-cache"
        )
    return forecaster


def compiles(setting: str, device: str) -> bool:
    """Whether ``TFTMON_COMPILE`` asks for a compiled serving network on ``device``: ``auto``
    compiles on CUDA, and on the CPU where inductor finds a C++ compiler to build with."""
    if setting != "auto":
        return setting == "on"
    return device == "cuda" or any(shutil.which(cc) for cc in ("g++", "c++", "clang++"))


def model_source(settings: Settings) -> ModelSource:
    """Reloads follow ``models/LATEST`` (watched unless a version is pinned or
    ``TFTMON_MODEL_WATCH=false``)."""
    pinned = settings.model_version or None

    def marker() -> str | None:
        return pinned or latest_version(settings.models_dir)

    return ModelSource(
        marker,
        lambda: load_model(settings),
        watch=settings.model_watch and pinned is None,
        models_dir=settings.models_dir,
    )


def notifiers(settings: Settings) -> list[Notifier]:
    """The webhook and Alertmanager notifiers the settings name."""
    found: list[Notifier] = []
    if settings.webhook_url:
        found.append(WebhookNotifier(settings.webhook_url))
    if settings.alertmanager_url:
        dashboard_url = settings.dashboard_url or DEFAULT_DASHBOARD_URL
        found.append(AlertmanagerNotifier(settings.alertmanager_url, dashboard_url=dashboard_url))
    return found


def drift_thresholds(settings: Settings) -> DriftThresholds:
    """The drift thresholds of the settings (``TFTMON_DRIFT_*``)."""
    return DriftThresholds(
        coverage_low=settings.drift_coverage_low,
        coverage_high=settings.drift_coverage_high,
        error_ratio=settings.drift_error_ratio,
        psi=settings.drift_psi,
        min_points=settings.drift_min_points,
        psi_min_samples=settings.drift_psi_min_samples,
    )


def exposition_spec(settings: Settings) -> ExpositionSpec:
    """What ``/metrics`` exports of the forecasts (``TFTMON_METRICS_*``)."""
    return ExpositionSpec(
        quantiles=tuple(settings.metrics_quantiles),
        horizons=tuple((h, duration_seconds(h)) for h in settings.metrics_horizons),
        max_servers=settings.metrics_max_servers,
    )


def alert_policy(settings: Settings) -> AlertPolicy:
    """The alert policy of the settings (``TFTMON_ALERT_*``)."""
    return AlertPolicy(
        warning_probability=settings.alert_warning_probability,
        critical_probability=settings.alert_critical_probability,
        watch_probability=settings.alert_watch_probability,
        hold_ratio=settings.alert_hold_ratio,
        value_band=settings.alert_value_band,
    )
