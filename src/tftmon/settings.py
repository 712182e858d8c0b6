"""Typed settings of the daemon (``TFTMON_*`` variables and ``.env``), validated at start."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from tftmon.errors import ConfigError, field_problems
from tftmon.keys import check_spec
from tftmon.schemas import DEFAULT_PROFILE_RULES


def _split_keys(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Settings of ``tft_inference_daemon.py``; every field is ``TFTMON_<NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix="TFTMON_",
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
    )

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    data_dir: Path = Path("data")
    # "key" (every scope) or "key:ingest+read+admin"; re-read on SIGHUP or a change of
    # .env or api_keys_file (one key per line there, added to api_keys)
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    api_keys_file: Path | None = None
    allow_no_auth: bool = False
    # requests per second and burst per API key (api/deps.py): ingest routers, and the
    # read and admin routers; 0 per second: no limit
    rate_limit_ingest_per_s: float = Field(1000.0, ge=0)
    rate_limit_ingest_burst: int = Field(2000, ge=1)
    rate_limit_read_per_s: float = Field(50.0, ge=0)
    rate_limit_read_burst: int = Field(100, ge=1)
    # HTTP limits (cli/http_limits.py): request head size, seconds to send the head (also
    # between requests) and the body, open connections plus requests in progress (0: none)
    http_max_head_bytes: int = Field(64 * 1024, ge=4096)
    http_head_timeout_s: float = Field(10.0, gt=0)
    http_body_timeout_s: float = Field(60.0, gt=0)
    http_max_connections: int = Field(2048, ge=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    step_seconds: int = Field(300, ge=1, le=86400)
    encoder_steps: int = Field(288, ge=8, le=10000)
    horizon_steps: int = Field(96, ge=1, le=2000)
    min_history_steps: int = Field(6, ge=1)
    # forecast selection: candidates are judged on this many newest steps (0: TFT only);
    # the windows hold encoder_steps + 4 x selection_steps (forecast.selection)
    selection_steps: int = Field(24, ge=0, le=288)
    raw_samples_per_server: int = Field(64, ge=1, le=100000)

    max_batch: int = Field(10_000, ge=1)
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    max_future_seconds: float = Field(300.0, ge=0)

    inference_interval_s: float = Field(30.0, gt=0)
    inference_min_gap_s: float = Field(2.0, ge=0)
    inference_threads: int = Field(2, ge=1, le=256)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # torch.compile of the serving network in the background (forecast.compiled): auto
    # compiles on CUDA, and on the CPU when a C++ compiler is installed
    compile: Literal["auto", "on", "off"] = "auto"
    compile_mode: Literal[
        "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"
    ] = "default"
    models_dir: Path = Path("models")
    thresholds_file: Path | None = None
    webhook_url: str | None = None
    alertmanager_url: str | None = None
    model_version: str | None = None
    # alert policy (risk.AlertPolicy): calibrated probabilities that open an alert, a lower
    # "watch" level, and the value hysteresis that keeps an open alert from flapping
    alert_warning_probability: float = Field(0.25, gt=0, le=1)
    alert_critical_probability: float = Field(0.3, gt=0, le=1)
    alert_watch_probability: float = Field(0.1, gt=0, le=1)
    alert_hold_ratio: float = Field(0.6, gt=0, le=1)
    alert_value_band: float = Field(0.03, ge=0, lt=1)
    # time hysteresis: an open alert keeps a level at least this long before it may
    # de-escalate or resolve (escalation is immediate)
    alert_min_hold_s: float = Field(600.0, ge=0)
    # the dashboard's base URL, for Alertmanager's generatorURL (empty: http://127.0.0.1:8501)
    dashboard_url: str = ""
    model_watch: bool = True

    scoring_stride_steps: int = Field(12, ge=1)
    scoring_max_servers: int = Field(1000, ge=0)
    drift_half_life_hours: float = Field(24.0, gt=0)
    drift_min_points: float = Field(200.0, ge=0)
    drift_coverage_low: float = Field(0.65, ge=0, le=1)
    drift_coverage_high: float = Field(0.92, ge=0, le=1)
    drift_error_ratio: float = Field(1.1, gt=0)
    drift_psi: float = Field(0.25, gt=0)
    drift_psi_min_samples: int = Field(100, ge=1)

    retrain_holdout_steps: int = Field(288, ge=1)
    retrain_min_improvement: float = Field(0.02, ge=0, lt=1)
    retrain_keep_versions: int = Field(5, ge=2)

    retention_days: float = Field(30.0, gt=0)
    bucket_retention_days: float = Field(400.0, gt=0)
    db_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    # new servers past this many are refused per record (reason server_limit)
    max_servers: int = Field(100_000, ge=1)
    # a server with no sample this long before the fleet's newest is stale: not forecast,
    # its alerts resolved, left out of the warm-up counts (0: never stale)
    stale_after_s: float = Field(3600.0, ge=0)
    # a background loop that raised restarts after this wait, doubling up to the most
    task_restart_backoff_s: float = Field(1.0, gt=0)
    task_restart_backoff_max_s: float = Field(60.0, gt=0)

    profile_rules: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_PROFILE_RULES))

    # forecasts on /metrics (serving.exposition): quantiles and horizons exported per server
    # and metric, and the most servers exported (the highest risk first past the cap)
    metrics_quantiles: Annotated[list[float], NoDecode] = Field(default_factory=lambda: [0.5, 0.9])
    metrics_horizons: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["30m", "1h", "4h", "8h"]
    )
    metrics_max_servers: int = Field(10_000, ge=0)
    # POST /api/v1/write: the file that maps Prometheus series to records (empty: the
    # shipped node_exporter mapping)
    remote_write_mapping: Path | None = None

    @field_validator("api_keys", mode="before")
    @classmethod
    def _parse_keys(cls, value: object) -> object:
        return _split_keys(value)

    @field_validator("metrics_quantiles", "metrics_horizons", mode="before")
    @classmethod
    def _parse_lists(cls, value: object) -> object:
        return _split_keys(value)

    @field_validator("metrics_quantiles")
    @classmethod
    def _quantiles_in_range(cls, value: list[float]) -> list[float]:
        if not value or any(not 0 < q < 1 for q in value):
            raise ValueError("metrics_quantiles must be levels between 0 and 1, e.g. 0.5,0.9")
        return sorted(set(value))

    @field_validator("metrics_horizons")
    @classmethod
    def _horizons_are_durations(cls, value: list[str]) -> list[str]:
        for text in value:
            duration_seconds(text)
        return list(dict.fromkeys(value))

    @field_validator("profile_rules", mode="before")
    @classmethod
    def _parse_rules(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"profile_rules must be a JSON object: {exc}") from exc
        return value

    @model_validator(mode="before")
    @classmethod
    def _add_key_file(cls, data: object) -> object:
        if not isinstance(data, dict) or not data.get("api_keys_file"):
            return data
        path = Path(str(data["api_keys_file"]))
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ValueError(f"TFTMON_API_KEYS_FILE {path} cannot be read: {exc}") from exc
        from_file = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
        listed = _split_keys(data.get("api_keys") or [])
        return {**data, "api_keys": [*(listed if isinstance(listed, list) else []), *from_file]}

    @field_validator("api_keys")
    @classmethod
    def _keys_are_strong(cls, value: list[str]) -> list[str]:
        for spec in value:
            check_spec(spec)
        return value

    @model_validator(mode="after")
    def _check_windows(self) -> Settings:
        if self.min_history_steps > self.encoder_steps:
            raise ValueError("min_history_steps cannot exceed encoder_steps")
        if self.drift_coverage_low >= self.drift_coverage_high:
            raise ValueError("drift_coverage_low must be below drift_coverage_high")
        return self

    @property
    def db_path(self) -> Path:
        """The SQLite history file."""
        return self.data_dir / "history.sqlite3"

    def require_auth_configured(self) -> None:
        """Refuse to serve without a key unless running open was asked for explicitly."""
        if not self.api_keys and not self.allow_no_auth:
            raise ConfigError(
                "no API key configured: run `python generate_api_key.py` (writes TFTMON_API_KEYS "
                "to .env) or set TFTMON_ALLOW_NO_AUTH=true for local development only"
            )


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_seconds(text: str) -> int:
    """``"30m"`` → 1800: a positive whole number followed by s, m, h or d.

    Raises:
        ValueError: not such a duration.
    """
    number, unit = text[:-1], text[-1:]
    if unit not in _UNITS or not number.isdigit() or int(number) <= 0:
        raise ValueError(f"{text!r} is not a duration such as 30m, 1h or 8h")
    return int(number) * _UNITS[unit]


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment and ``.env``; invalid values are a ``ConfigError``."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"TFTMON_{field.upper()}: {message}" if field else message
            for field, message in field_problems(exc.errors())
        )
        raise ConfigError(f"invalid settings: {problems}") from exc
