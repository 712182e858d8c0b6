"""The daemon's drift monitor: live scores of the served model plus input shift, per cycle.

Called from the inference thread only: ``score`` before a cycle's forecasts (actuals that
arrived since), ``record`` for each chunk forecast, ``refresh`` after the cycle (at most
once per new bucket). ``document()`` is read by ``GET /drift/status`` and ``/metrics``
from other threads; it is replaced whole, never mutated.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from tftmon.forecast import Forecaster
from tftmon.forecast.baseline import BaselineForecaster
from tftmon.monitoring.drift import DriftThresholds, assess_drift, input_shift
from tftmon.monitoring.scoring import LiveScorer
from tftmon.schemas import METRICS
from tftmon.windows import WindowSnapshot

logger = logging.getLogger(__name__)


class DriftMonitor:
    """Live scoring and drift state of the served forecaster."""

    def __init__(
        self,
        forecaster: Forecaster,
        thresholds: DriftThresholds | None = None,
        *,
        stride_steps: int = 12,
        max_servers: int = 1000,
        half_life_hours: float = 24.0,
    ) -> None:
        self.thresholds = thresholds or DriftThresholds()
        self.error: str | None = None  # the last live-scoring failure, shown in the document
        self.stride_steps = stride_steps
        self.max_servers = max_servers
        self.half_life_hours = half_life_hours
        self._clock = -1
        self._doc: dict[str, Any] = {}
        self.use(forecaster)

    def use(self, forecaster: Forecaster) -> None:
        """Start over for ``forecaster`` (at start and after every model swap)."""
        info = forecaster.info
        self.version = info.version
        self.model_type = info.model_type
        self.step_seconds = info.step_seconds
        self.reference: dict[str, Any] | None = info.input_reference
        self.scorer = LiveScorer(
            METRICS,
            info.quantiles,
            info.horizon_steps,
            stride_steps=self.stride_steps,
            max_servers=self.max_servers,
            half_life_steps=self.half_life_hours * 3600 / info.step_seconds,
        )
        self._naive = BaselineForecaster(info.horizon_steps, info.step_seconds)
        self._clock = -1
        self.since = datetime.now(UTC)
        self._doc = self._document(datetime.now(UTC), {}, [])

    def score(self, snapshot: WindowSnapshot) -> None:
        """Score logged forecasts against the buckets closed since the last cycle."""
        self.scorer.score(snapshot)

    def record(
        self,
        snapshot: WindowSnapshot,
        quantiles: npt.NDArray[np.float32],
        model_type: npt.NDArray[np.str_] | list[str] | None = None,
    ) -> None:
        """Log a chunk's forecasts (with the seasonal-naive point made at the same origin).

        Only forecasts of the served model are scored: servers it hands to the baseline
        (too little history) would otherwise blend the baseline's errors into its scores.
        """
        rows = self.scorer.due(snapshot)
        if model_type is not None and rows.size:
            served = np.asarray(model_type)[rows] == self.model_type
            rows = rows[served]
        if rows.size == 0:
            return  # most cycles: nobody reached a new origin
        horizon = min(quantiles.shape[1], self.scorer.horizon)
        part = snapshot.rows(rows)
        naive = self._naive.point(part)[:, :horizon]
        self.scorer.record(part, quantiles[rows, :horizon], naive)

    def refresh(
        self, snapshot: WindowSnapshot, profiles: list[str], names: list[str] | None = None
    ) -> None:
        """Recompute the drift document once per new fleet bucket."""
        if len(snapshot) == 0:
            return
        clock = int(snapshot.end_bucket.max())
        if clock <= self._clock:
            return
        self._clock = clock
        recent = max(1, 86_400 // self.step_seconds)
        shift = input_shift(
            self.reference,
            profiles,
            snapshot.values[:, -recent:, :],
            METRICS,
            self.thresholds.psi_min_samples,
        )
        scores = self.scorer.summary()
        doc = self._document(datetime.now(UTC), shift, list(scores.items()))
        if names is not None:
            name_of = dict(zip(snapshot.server.tolist(), names, strict=True))
            per_server = self.scorer.worst_servers(self.thresholds.min_points / 10)
            doc["worst_servers"] = [
                {
                    "server": name_of[sid],
                    "metric": METRICS[col],
                    "points": round(points, 1),
                    "mase": round(mase, 4),
                    "naive_mase": round(base, 4),
                    "error_ratio": round(mase / base, 4),
                    "coverage_80": round(cov, 4),
                }
                for sid, col, points, mase, base, cov in per_server
                if sid in name_of
            ]
        self._doc = doc

    def _document(
        self, now: datetime, shift: dict[str, dict[str, float]], scores: list[Any]
    ) -> dict[str, Any]:
        by_metric = dict(scores)
        reasons = assess_drift(by_metric, shift, self.thresholds)
        return {
            "model_version": self.version,
            "model_type": self.model_type,
            "drifted": bool(reasons),
            "reasons": reasons,
            "updated": now,
            "scoring_since": self.since,
            "half_life_hours": self.half_life_hours,
            "logged_forecasts": self.scorer.logged_forecasts,
            "metrics": {m: s.as_dict() for m, s in by_metric.items()},
            "worst_servers": [],
            "input_psi": shift,
            "input_reference": self.reference is not None,
            "thresholds": self.thresholds.as_dict(),
        }

    def document(self) -> dict[str, Any]:
        """The latest drift document (a fresh dict each time)."""
        return {**self._doc, "scoring_error": self.error}
