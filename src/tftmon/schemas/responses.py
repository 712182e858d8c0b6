"""Outbound documents: status, health, predictions, alerts, server history, drift, reload."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tftmon.schemas.metrics import AlertLevel

# ---------------------------------------------------------------- outbound: status, health


class ServerWarmup(BaseModel):
    """Warm-up of one server: closed model steps held against the minimum needed."""

    history_steps: int
    required_steps: int
    progress_percent: float
    is_ready: bool
    last_seen: datetime | None
    stale: bool = Field(
        False,
        description="no data for TFTMON_STALE_AFTER_S: not forecast, not counted in "
        "servers_tracked/servers_ready, until it sends again",
    )


class ServerDeleted(BaseModel):
    """What ``DELETE /servers/{name}`` removed."""

    server_name: str
    samples_deleted: int = Field(description="raw samples")
    buckets_deleted: int = Field(description="closed model-step buckets")
    alerts_resolved: int = Field(description="open alerts resolved with reason 'deleted'")


class ModelInfo(BaseModel):
    """The forecaster the daemon serves."""

    model_type: str
    model_version: str
    device: str
    horizon_steps: int
    step_seconds: int
    quantiles: list[float]
    note: str | None = None
    serving: str | None = Field(
        None,
        description="how the TFT's full windows are served: 'compiled', 'compiling' (the "
        "eager network serves meanwhile), 'eager', 'failed: …' (eager serves) or 'general' "
        "(the network's own forward)",
    )
    validation: dict[str, Any] | None = Field(
        None, description="validation scores recorded at training (TFT artifacts)"
    )
    training_data: dict[str, Any] | None = None
    calibration: dict[str, Any] | None = Field(
        None,
        description="the probability calibration: 'calibrated', what it was fitted on, its "
        "maps per window, and 'uncalibrated': each window served raw and why",
    )


class StatusResponse(BaseModel):
    """``GET /status``: warm-up, model and inference state."""

    status: Literal["warming_up", "ready", "empty"]
    is_warmed_up: bool
    progress_percent: float
    servers_tracked: int
    servers_ready: int
    model: ModelInfo
    last_inference_time: datetime | None
    last_inference_ms: float | None
    last_cycle_stages_ms: dict[str, float] | None = Field(
        None,
        description="milliseconds of each part of the last cycle: snapshot, forecast, risk, "
        "monitor (live scoring and drift), document (the predictions JSON and alerts), "
        "exposition (/metrics)",
    )
    inference_cycles: int
    last_inference_error: str | None
    records_ingested: int = Field(description="records accepted since the daemon started")
    restore_seconds: float = Field(description="time taken to rebuild windows at start")
    servers: dict[str, ServerWarmup]
    model_loaded_at: datetime | None = Field(None, description="when the served model came in")
    model_reload_error: str | None = Field(
        None, description="why the last model reload failed (the old model is still served)"
    )


class HealthResponse(BaseModel):
    """``GET /health``: liveness, open to all; ``degraded`` (still HTTP 200) while a store
    write or a background loop fails, with the ``reasons``."""

    status: Literal["ok", "degraded"]
    reasons: list[str] = Field(default_factory=list)
    forecaster_loaded: bool
    model_type: str
    version: str


# ---------------------------------------------------------------- outbound: predictions


class MetricForecast(BaseModel):
    """One metric's forecast for one server; list index k-1 is step k."""

    p10: list[float]
    p50: list[float]
    p90: list[float]
    current: float | None
    trend: float = Field(description="change of the median per hour over the first hour")
    quantiles: dict[str, list[float]] = Field(description="every quantile, e.g. 'p02'")
    level: AlertLevel = Field(description="this metric's level under the alert policy")
    exceed_warning_30m: float = Field(
        description="probability of being at or above warning at some step within 30 min "
        "(1 when already there); calibrated where the model has a calibration"
    )
    exceed_warning_8h: float = Field(description="the same within 8 h")
    exceed_critical_30m: float = Field(description="the same for critical, within 30 min")
    exceed_critical_8h: float = Field(description="the same for critical, within 8 h")
    warning_threshold: float = Field(description="this server's warning threshold")
    critical_threshold: float = Field(description="this server's critical threshold")
    minutes_to_warning: int | None = Field(
        description="expected minutes until warning is reached (median path, else p90 "
        "path); 0: already there; null: not within the horizon"
    )
    minutes_to_critical: int | None = Field(description="the same for critical")


class Alert(BaseModel):
    """A predicted or current threshold crossing for one server and metric."""

    server: str
    metric: str
    level: AlertLevel
    severity: AlertLevel = Field(description="same as level (kept for older consumers)")
    probability: float
    predicted_value: float = Field(description="highest median over the horizon")
    predicted_p90: float = Field(description="highest p90 over the horizon")
    threshold: float
    minutes_ahead: int | None
    current_value: float | None = Field(None, description="the newest closed-step value")
    cause: Literal["current", "forecast"] = Field(
        "forecast",
        description="'current': the newest value is already at the threshold; "
        "'forecast': the forecast crosses it (minutes_ahead says when)",
    )


class TrackedAlert(Alert):
    """An alert with its lifecycle (``/alerts/active``, ``/alerts/history``).

    While the tracker keeps a level the latest forecast no longer meets (time or value
    hysteresis), ``threshold``, ``probability`` and ``cause`` still describe that level;
    ``current_value``, ``predicted_value`` and ``predicted_p90`` follow every cycle.
    """

    id: int = Field(description="stable over level changes and daemon restarts")
    status: Literal["active", "resolved"]
    opened_at: datetime
    level_since: datetime = Field(description="when the alert reached its current level")
    updated_at: datetime
    resolved_at: datetime | None
    resolved_reason: Literal["cleared", "stale", "deleted"] | None = Field(
        None,
        description="why a resolved alert ended: its pair fell below its level, its server "
        "went stale (no data for TFTMON_STALE_AFTER_S), or was deleted",
    )


class AlertEvent(BaseModel):
    """An alert opened, changed level, or resolved."""

    id: int = Field(description="increasing; pass the first id of a page as before_id")
    event: Literal["opened", "level_changed", "resolved"]
    at: datetime
    alert: TrackedAlert = Field(description="the alert as the event left it")
    previous_level: AlertLevel | None = Field(None, description="level_changed: the level it left")
    previous_level_since: datetime | None = Field(
        None, description="level_changed: since when it had held that level"
    )


class Environment(BaseModel):
    """Fleet-wide summary."""

    incident_probability_30m: float
    incident_probability_8h: float
    fleet_health: AlertLevel
    high_risk_servers: int
    total_servers: int
    level_counts: dict[str, int]


class PredictionsMetadata(BaseModel):
    """What produced the predictions and when."""

    model_type: str
    model_version: str
    prediction_time: datetime | None
    horizon_steps: int
    step_seconds: int
    quantiles: list[float]
    device: str
    inference_ms: float | None


class ServerPrediction(BaseModel):
    """Forecasts and risk of one server (metrics it never reported are absent)."""

    model_config = ConfigDict(extra="allow")

    forecast_start: datetime
    profile: str
    model_type: str
    risk_score: float
    alert: AlertLevel
    incident_probability: float
    incident_probability_30m: float
    incident_probability_8h: float
    history_steps: int
    warming_up: bool


class PredictionsResponse(BaseModel):
    """``GET /predictions/current``: the latest cached result of the inference loop.

    ``predictions.<server>`` holds ``ServerPrediction`` fields plus one ``MetricForecast``
    per metric the server reports, keyed by metric name.
    """

    predictions: dict[str, dict[str, Any]] = Field(
        description="per server; with view=summary the metrics hold no forecast lists"
    )
    alerts: list[Alert]
    environment: Environment
    metadata: PredictionsMetadata


class ServerHistoryResponse(BaseModel):
    """``GET /servers/{name}/history``."""

    server_name: str
    profile: str
    step_seconds: int
    metrics: list[str]
    timestamps: list[datetime]
    values: dict[str, list[float | None]]


class LiveMetricScore(BaseModel):
    """Rolling live scores of one metric over the fleet (decaying with the fleet clock)."""

    points: float = Field(description="effective (decayed) scored forecast steps")
    series: int
    mase: float | None
    naive_mase: float | None = Field(description="the seasonal-naive MASE on the same points")
    error_ratio: float | None = Field(description="mase / naive_mase")
    coverage_80: float | None = Field(description="share of actuals inside p10-p90")
    scaled_quantile_loss: float | None


class ServerScore(BaseModel):
    """Rolling live scores of one server and metric."""

    server: str
    metric: str
    points: float
    mase: float
    naive_mase: float
    error_ratio: float
    coverage_80: float


class DriftStatusResponse(BaseModel):
    """``GET /drift/status``: how the served model does on live data, and whether it drifted."""

    model_version: str
    model_type: str
    drifted: bool
    reasons: list[str]
    updated: datetime
    scoring_since: datetime = Field(description="when the served model came in")
    half_life_hours: float
    logged_forecasts: int = Field(description="server forecasts kept for scoring")
    metrics: dict[str, LiveMetricScore]
    worst_servers: list[ServerScore] = Field(
        description="up to 10 (server, metric) with the highest error ratio, with at least a "
        "tenth of TFTMON_DRIFT_MIN_POINTS scored steps"
    )
    input_psi: dict[str, dict[str, float]] = Field(
        description="PSI per profile and metric of the last day of inputs vs the training data"
    )
    input_reference: bool = Field(
        description="whether the served model carries a training-data reference for PSI"
    )
    thresholds: dict[str, float]
    scoring_error: str | None = Field(
        None, description="the last live-scoring failure (when, what); scores may be stale"
    )


class ReloadResponse(BaseModel):
    """``POST /admin/reload``: the model served after the reload."""

    reloaded: bool
    model_version: str
    previous_version: str
    error: str | None = None
