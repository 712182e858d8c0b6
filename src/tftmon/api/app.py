"""``create_app()``: the daemon's FastAPI application; stores and model open in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from tftmon import __version__
from tftmon.alerting.lifecycle import AlertTracker
from tftmon.alerting.notifiers import (
    DEFAULT_DASHBOARD_URL,
    AlertmanagerNotifier,
    NotificationDispatcher,
    Notifier,
    WebhookNotifier,
)
from tftmon.api.errors import install_error_handlers
from tftmon.api.routes import admin, alerts, drift, feed, metrics, predictions, servers, status
from tftmon.api.state import AppState
from tftmon.forecast import Forecaster
from tftmon.forecast.artifacts import ArtifactError, latest_version
from tftmon.forecast.baseline import BaselineForecaster
from tftmon.forecast.selection import window_extra
from tftmon.monitoring.live import DriftMonitor
from tftmon.risk.exceedance import Thresholds
from tftmon.schemas import METRICS
from tftmon.serving.cycle import InferenceService, ModelSource, inference_loop, retention_loop
from tftmon.serving.instrumentation import DaemonMetrics
from tftmon.settings import Settings, load_settings
from tftmon.store.alerts import AlertStore
from tftmon.store.fleet import FleetStore
from tftmon.store.history import HistoryStore

logger = logging.getLogger(__name__)


def default_forecaster(settings: Settings) -> Forecaster:
    """The TFT of ``models/LATEST`` (or ``TFTMON_MODEL_VERSION``); the baseline if it cannot
    be loaded, with the reason in ``/status``."""
    try:
        return load_model(settings)
    except ArtifactError as exc:
        logger.error("TFT not served, falling back to the baseline: %s", exc)
        note = f"TFT not served: {exc}"
    except ImportError as exc:
        logger.error("TFT not served (missing dependency): %s", exc)
        note = f"TFT not served: missing dependency ({exc})"
    return BaselineForecaster(
        settings.horizon_steps,
        settings.step_seconds,
        min_history_steps=settings.min_history_steps,
        note=note,
    )


def load_model(settings: Settings) -> Forecaster:
    """The TFT named by ``TFTMON_MODEL_VERSION`` or ``models/LATEST``; raises on failure."""
    from tftmon.forecast.tft import TFTForecaster

    return TFTForecaster.load(
        settings.models_dir,
        settings.model_version or None,
        device=settings.device,
        threads=settings.inference_threads,
        step_seconds=settings.step_seconds,
        horizon_steps=settings.horizon_steps,
        selection_steps=settings.selection_steps,
    )


def model_source(settings: Settings) -> ModelSource:
    """Reloads follow ``models/LATEST`` (watched unless a version is pinned or
    ``TFTMON_MODEL_WATCH=false``)."""
    pinned = settings.model_version or None

    def marker() -> str | None:
        return pinned or latest_version(settings.models_dir)

    return ModelSource(
        marker, lambda: load_model(settings), watch=settings.model_watch and pinned is None
    )


def create_app(
    settings: Settings | None = None, *, forecaster: Forecaster | None = None
) -> FastAPI:
    """Build the daemon's app; nothing is opened until the lifespan starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        cfg = settings if settings is not None else load_settings()
        cfg.require_auth_configured()
        if not cfg.api_keys:
            logger.warning("TFTMON_ALLOW_NO_AUTH=true: the API is open to anyone who can reach it")
        history = HistoryStore(
            cfg.db_path, METRICS, cfg.step_seconds, synchronous=cfg.db_synchronous
        )
        fleet = FleetStore(
            history,
            step_seconds=cfg.step_seconds,
            encoder_steps=cfg.encoder_steps + window_extra(cfg.selection_steps),  # window held
            raw_samples=cfg.raw_samples_per_server,
            min_history_steps=cfg.min_history_steps,
            profile_rules=cfg.profile_rules,
        )
        restore_seconds = await run_in_threadpool(fleet.open)
        metrics_ = DaemonMetrics()
        served = forecaster
        if served is None:
            served = await run_in_threadpool(default_forecaster, cfg)
        thresholds = Thresholds.load(cfg.thresholds_file)
        notifiers: list[Notifier] = []
        if cfg.webhook_url:
            notifiers.append(WebhookNotifier(cfg.webhook_url))
        if cfg.alertmanager_url:
            dashboard_url = cfg.dashboard_url or DEFAULT_DASHBOARD_URL
            notifiers.append(
                AlertmanagerNotifier(cfg.alertmanager_url, dashboard_url=dashboard_url)
            )
        # open alerts, their history and notifier cursors share the history file
        alert_store = AlertStore(cfg.db_path, synchronous=cfg.db_synchronous)
        await run_in_threadpool(alert_store.open)
        tracker = await run_in_threadpool(
            lambda: AlertTracker(alert_store, min_hold_s=cfg.alert_min_hold_s)
        )
        dispatcher = NotificationDispatcher(notifiers, log=alert_store)
        dispatcher.resume(tracker.active())
        monitor = DriftMonitor(
            served,
            cfg.drift_thresholds(),
            stride_steps=cfg.scoring_stride_steps,
            max_servers=cfg.scoring_max_servers,
            half_life_hours=cfg.drift_half_life_hours,
        )
        service = InferenceService(
            fleet,
            served,
            metrics_,
            thresholds=thresholds,
            policy=cfg.alert_policy(),
            notifications=dispatcher,
            alerts=tracker,
            monitor=monitor,
            source=model_source(cfg),
        )
        metrics_.watch_drift(lambda: service.monitor.document())
        state = AppState(
            settings=cfg,
            fleet=fleet,
            service=service,
            metrics=metrics_,
            wake_inference=asyncio.Event(),
            loop=asyncio.get_running_loop(),
            restore_seconds=restore_seconds,
        )
        app.state.tftmon = state
        # long-lived start-up objects leave the collector's view: a full collection then
        # walks only what inference cycles create, so it cannot stall requests for long
        gc.collect()
        gc.freeze()
        tasks = [
            asyncio.create_task(
                inference_loop(
                    service, cfg.inference_interval_s, cfg.inference_min_gap_s, state.wake_inference
                ),
                name="tftmon-inference",
            ),
            asyncio.create_task(
                retention_loop(fleet, cfg.retention_days, cfg.bucket_retention_days),
                name="tftmon-retention",
            ),
        ]
        logger.info(
            "tftmon %s serving %s forecasts for %d servers",
            __version__,
            service.forecaster.info.model_type,
            len(fleet.names),
        )
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            dispatcher.close()
            alert_store.close()
            fleet.close()

    app = FastAPI(
        title="tftmon inference daemon",
        version=__version__,
        summary="Forecasts every metric of a server fleet 8 hours ahead, with risk and alerts.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(status.open_router)
    for module in (feed, predictions, status, alerts, servers, metrics, drift, admin):
        app.include_router(module.router)
    return app
