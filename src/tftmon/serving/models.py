"""The served model: a forecaster with its calibration, and its hot swap.

``load_served`` is the one way a trained model gets served, at start (``compose``) and on
every reload (``ModelSlot.reload``): load and check the artifact (metadata keys and types,
weights a dict of finite tensors of the network's shapes, files regular and inside the
models folder; ``forecast.artifacts``), its calibration (absent or well-formed;
``risk.calibration``), and a trial forecast on real windows. Whatever fails becomes one
``ArtifactError`` whose reason names files relative to the models folder.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from tftmon.forecast import Forecaster
from tftmon.forecast.artifacts import ArtifactError
from tftmon.risk.calibration import Calibration, model_calibration
from tftmon.serving.instrumentation import DaemonMetrics
from tftmon.store.fleet import FleetStore
from tftmon.windows import WindowSnapshot

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServedModel:
    """What one cycle forecasts with: the forecaster and the calibration stored with it."""

    forecaster: Forecaster
    calibration: Calibration | None

    @classmethod
    def of(cls, forecaster: Forecaster) -> ServedModel:
        """``forecaster`` with the calibration of its artifact (None for classical ones)."""
        calibration = model_calibration(forecaster.info.artifact_dir)
        if forecaster.info.artifact_dir is not None:
            state = "calibrated" if calibration else "no calibration"
            logger.info("model %s: %s", forecaster.info.version, state)
        return cls(forecaster, calibration)


def load_served(
    load: Callable[[], Forecaster],
    *,
    models_dir: Path | None,
    fleet: FleetStore,
    horizon_steps: int,
    step_seconds: int,
) -> ServedModel:
    """Load a model with its calibration and check it forecasts ``horizon_steps`` x
    ``step_seconds`` finite numbers on real windows of ``fleet``.

    Raises:
        ArtifactError: any failure, with a reason that names no absolute path.
    """
    try:
        served = ServedModel.of(load())
        check_forecasts(served.forecaster, fleet, horizon_steps, step_seconds)
    except Exception as exc:  # every failure must leave the daemon serving something
        raise ArtifactError(model_problem(exc, models_dir)) from exc
    return served


def model_problem(exc: BaseException, models_dir: Path | None) -> str:
    """Why a model was refused, in words fit for ``/status`` and the API: the models
    folder's absolute path, wherever a message from below carries it, is cut away."""
    if isinstance(exc, ArtifactError):
        text = str(exc)
    elif isinstance(exc, ImportError):
        text = f"missing dependency ({exc})"
    else:
        text = f"{type(exc).__name__}: {exc}"
    if models_dir is not None:
        roots = {str(models_dir.resolve()), str(models_dir.absolute())}
        # the longer first: one may hold the other
        for root in sorted(roots, key=len, reverse=True):
            text = text.replace(root + os.sep, "").replace(root, "<models>")
    return text


def check_forecasts(
    candidate: Forecaster, fleet: FleetStore, horizon_steps: int, step_seconds: int
) -> None:
    """A model must forecast the daemon's shape, with finite numbers, on real windows."""
    new = candidate.info
    if (new.horizon_steps, new.step_seconds) != (horizon_steps, step_seconds):
        raise ArtifactError(
            f"model {new.version} forecasts {new.horizon_steps} x {new.step_seconds}-s "
            f"steps, the daemon serves {horizon_steps} x {step_seconds}-s"
        )
    windows = fleet.snapshot().windows
    sample: WindowSnapshot = windows.part(0, min(8, len(windows)))
    if len(sample) == 0:
        return
    out = candidate.forecast(sample).quantiles
    expected = (len(sample), new.horizon_steps, len(fleet.metrics), len(new.quantiles))
    if out.shape != expected:
        raise ArtifactError(f"model {new.version} returned shape {out.shape}, not {expected}")
    if np.isinf(out).any():
        raise ArtifactError(f"model {new.version} returned infinite forecasts")
    inputs_finite = np.isfinite(sample.values).all(axis=(1, 2))
    if inputs_finite.any() and np.isnan(out[inputs_finite]).all():
        raise ArtifactError(f"model {new.version} returned no number for complete windows")


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """What a model reload did."""

    reloaded: bool
    model_version: str
    previous_version: str
    error: str | None = None


class ModelSource:
    """Where the served model comes from: ``load()`` loads what ``marker()`` names.

    Args:
        marker: the current content of ``models/LATEST`` (or the pinned version); cheap.
        load: loads a forecaster; raises on failure.
        watch: whether a changed marker triggers a reload between cycles.
        models_dir: the models folder, cut from the reasons a model is refused for.
    """

    def __init__(
        self,
        marker: Callable[[], str | None],
        load: Callable[[], Forecaster],
        *,
        watch: bool = True,
        models_dir: Path | None = None,
    ) -> None:
        self.marker = marker
        self.load = load
        self.watch = watch
        self.models_dir = models_dir
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


class ModelSlot:
    """Holds the served model and swaps in new ones between cycles.

    Args:
        served: the model served at start.
        fleet: real windows to validate a candidate on.
        metrics: counts reloads by outcome.
        source: where new models come from (None: no reloads).

    ``lock`` is held by a running cycle for its whole length; a swap waits for it, so no
    cycle ever sees half a swap.
    """

    def __init__(
        self,
        served: ServedModel,
        fleet: FleetStore,
        metrics: DaemonMetrics,
        source: ModelSource | None = None,
    ) -> None:
        self.served = served
        self.fleet = fleet
        self.metrics = metrics
        self.source = source
        self.reload_error: str | None = None
        self.loaded_at = datetime.now(UTC)
        self.lock = threading.Lock()
        self._reload_lock = threading.Lock()
        self._listeners: list[Callable[[Forecaster], None]] = []

    @property
    def forecaster(self) -> Forecaster:
        """The served forecaster."""
        return self.served.forecaster

    def on_swap(self, listener: Callable[[Forecaster], None]) -> None:
        """Call ``listener`` with each newly served forecaster, under the swap lock."""
        self._listeners.append(listener)

    def check(self) -> bool:
        """Between cycles: reload when ``models/LATEST`` changed; True if a new model is in.

        Never raises: the inference loop that calls it must outlive any model problem.
        """
        try:
            if self.source is None or not self.source.changed():
                return False
            before = self.served
            return self.reload().reloaded and self.served is not before
        except Exception:
            logger.exception("checking for a new model failed; still serving the old one")
            return False

    def reload(self) -> ReloadResult:
        """Load the model the source names and swap it in between two cycles.

        Loading and validation happen while cycles go on with the old model; only the
        swap itself waits for a running cycle to end. On failure the old model stays and
        the reason is kept in ``reload_error`` (shown in ``/status``).
        """
        previous = self.forecaster.info.version
        if self.source is None:
            return ReloadResult(False, previous, previous, "this daemon has no model source")
        with self._reload_lock:
            self.source.seen = self.source.current()
            if self.source.seen == previous and self.reload_error is None:
                # already served: a watcher and an explicit reload of one promotion load once
                return ReloadResult(True, previous, previous)
            old = self.forecaster.info
            try:
                candidate = load_served(
                    self.source.load,
                    models_dir=self.source.models_dir,
                    fleet=self.fleet,
                    horizon_steps=old.horizon_steps,
                    step_seconds=old.step_seconds,
                )
            except ArtifactError as exc:
                self.reload_error = str(exc)
                self.metrics.model_reloads.labels("failed").inc()
                logger.error("model reload failed; still serving %s: %s", previous, exc)
                return ReloadResult(False, previous, previous, self.reload_error)
            with self.lock:
                self.served = candidate
                for listener in self._listeners:
                    listener(candidate.forecaster)
            self.reload_error = None
            self.loaded_at = datetime.now(UTC)
            self.metrics.model_reloads.labels("ok").inc()
            info = candidate.forecaster.info
            logger.info("now serving %s %s (was %s)", info.model_type, info.version, previous)
            return ReloadResult(True, info.version, previous)
