"""``/status``: warm-up per server, the served model and its calibration, the inference loop."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tftmon.api.state import AppState
from tftmon.risk.calibration import WINDOWS, Calibration
from tftmon.schemas import ModelInfo, ServerWarmup, StatusResponse


def model_info(state: AppState) -> ModelInfo:
    """The served forecaster."""
    served = state.models.served
    info = served.forecaster.info
    calibration = served.calibration
    return ModelInfo(
        model_type=info.model_type,
        model_version=info.version,
        device=info.device,
        horizon_steps=info.horizon_steps,
        step_seconds=info.step_seconds,
        quantiles=list(info.quantiles),
        note=info.note,
        serving=getattr(served.forecaster, "serving_state", None),  # TFTs only
        validation=info.validation,
        training_data=info.training_data,
        calibration=_calibration(calibration),
    )


def _calibration(calibration: Calibration | None) -> dict[str, Any]:
    """What the probabilities are calibrated with, and for windows that are not, why."""
    if calibration is None:
        why = "the model has no calibration.json (tftmon-calibrate fits one)"
        return {"calibrated": False, "uncalibrated": dict.fromkeys(WINDOWS, why)}
    return {
        **calibration.meta,
        "calibrated": bool(calibration.maps),
        "uncalibrated": calibration.reasons,
        "maps": {
            window: {"x": x.round(4).tolist(), "y": y.round(4).tolist()}
            for window, (x, y) in calibration.maps.items()
        },
    }


def status(state: AppState) -> StatusResponse:
    """Warm-up per server and fleet, model, and inference state."""
    need = state.fleet.min_history_steps
    servers: dict[str, ServerWarmup] = {}
    for row in state.fleet.warmup():
        steps, last_ms = row.history_steps, row.last_ts_ms
        servers[row.name] = ServerWarmup(
            history_steps=steps,
            required_steps=need,
            progress_percent=round(100.0 * min(steps, need) / need, 1),
            is_ready=steps >= need,
            last_seen=None if last_ms < 0 else datetime.fromtimestamp(last_ms / 1000, UTC),
            stale=row.stale,
        )
    active = [s for s in servers.values() if not s.stale]  # stale servers: not warming up
    tracked = len(active)
    ready = sum(s.is_ready for s in active)
    progress = sum(s.progress_percent for s in active) / tracked if tracked else 0.0
    latest = state.cycle.latest
    return StatusResponse(
        status="empty" if tracked == 0 else ("ready" if ready == tracked else "warming_up"),
        is_warmed_up=tracked > 0 and ready == tracked,
        progress_percent=round(progress, 1),
        servers_tracked=tracked,
        servers_ready=ready,
        model=model_info(state),
        last_inference_time=latest.time if latest else None,
        last_inference_ms=round(latest.inference_ms, 2) if latest else None,
        last_cycle_stages_ms=state.cycle.last_stages_ms,
        inference_cycles=state.cycle.cycles,
        last_inference_error=state.cycle.last_error,
        records_ingested=state.fleet.records_total,
        restore_seconds=round(state.restore_seconds, 3),
        servers=servers,
        model_loaded_at=state.models.loaded_at,
        model_reload_error=state.models.reload_error,
    )
