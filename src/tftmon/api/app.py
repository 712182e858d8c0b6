"""``create_app()``: the daemon's FastAPI application; its parts are built in the lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from tftmon import __version__
from tftmon.api.errors import install_error_handlers
from tftmon.api.routes import (
    admin,
    alerts,
    drift,
    feed,
    metrics,
    predictions,
    remote_write,
    servers,
    status,
)
from tftmon.api.state import AppState
from tftmon.forecast import Forecaster
from tftmon.serving.compose import build_daemon
from tftmon.serving.loops import Supervisor, inference_loop, retention_loop
from tftmon.settings import Settings, load_settings

logger = logging.getLogger(__name__)


def _cycle_problem(last_error: str | None) -> str | None:
    return None if last_error is None else f"the last cycle failed: {last_error}"


def create_app(
    settings: Settings | None = None,
    *,
    forecaster: Forecaster | None = None,
    on_started: Callable[[], None] | None = None,
) -> FastAPI:
    """Build the daemon's app; nothing is opened until the lifespan starts.

    Args:
        settings: the daemon's settings (default: from the environment and ``.env``).
        forecaster: serve this instead of the model ``models/`` names (tests, benches).
        on_started: called once every part is built, before the first request (the entry
            point tunes the process there, e.g. ``gc.freeze``).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        cfg = settings if settings is not None else load_settings()
        cfg.require_auth_configured()
        if not cfg.api_keys:
            logger.warning("TFTMON_ALLOW_NO_AUTH=true: the API is open to anyone who can reach it")
        daemon = await run_in_threadpool(build_daemon, cfg, forecaster)
        supervisor = Supervisor(
            lambda name: daemon.metrics.task_restarts.labels(name).inc(),
            backoff_s=cfg.task_restart_backoff_s,
            max_backoff_s=cfg.task_restart_backoff_max_s,
        )
        state = AppState(
            settings=cfg,
            fleet=daemon.fleet,
            cycle=daemon.cycle,
            models=daemon.models,
            alerts=daemon.alerts,
            drift=daemon.monitor,
            metrics=daemon.metrics,
            wake_inference=asyncio.Event(),
            loop=asyncio.get_running_loop(),
            restore_seconds=daemon.restore_seconds,
            remote_write=daemon.remote_write,
            health=supervisor,  # /health reads why the daemon is degraded
        )
        app.state.tftmon = state
        app.state.daemon = daemon  # for tests and benches; routes reach only ``state``
        if on_started is not None:
            on_started()
        for store in (daemon.fleet.history, daemon.alert_store):
            store.on_error(lambda label, op: daemon.metrics.store_errors.labels(label, op).inc())
            supervisor.watch_store(store)
        supervisor.watch("inference", lambda: _cycle_problem(daemon.cycle.last_error))
        supervisor.start(
            "inference",
            lambda beat: inference_loop(
                daemon.cycle,
                cfg.inference_interval_s,
                cfg.inference_min_gap_s,
                state.wake_inference,
                beat=beat,
            ),
        )
        supervisor.start(
            "retention",
            lambda beat: retention_loop(
                daemon.fleet, cfg.retention_days, cfg.bucket_retention_days, beat
            ),
        )
        logger.info(
            "tftmon %s serving %s forecasts for %d servers",
            __version__,
            daemon.models.forecaster.info.model_type,
            len(daemon.fleet.names),
        )
        try:
            yield
        finally:
            await supervisor.stop()
            await run_in_threadpool(remote_write.store_held, state)
            daemon.close()

    app = FastAPI(
        title="tftmon inference daemon",
        version=__version__,
        summary="Forecasts every metric of a server fleet 8 hours ahead, with risk and alerts.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(status.open_router)
    for module in (feed, predictions, status, alerts, servers, metrics, drift, admin, remote_write):
        app.include_router(module.router)
    app.include_router(servers.admin_router)  # DELETE /servers/{name}
    return app
