"""Fit a model's probability calibration on a replay: raw probabilities → observed frequency.

Shared by ``tftmon-calibrate`` (a data file or the history store) and ``tftmon-retrain``,
which calibrates a model it promotes on the held-out window it was judged on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tftmon.forecast.selection import window_extra
from tftmon.risk import calibration
from tftmon.risk.thresholds import Thresholds
from tftmon.training.dataset import BucketedFleet
from tftmon.training.evaluate import BacktestConfig
from tftmon.training.incidents import WINDOW_STEPS, reliability, run_risk

if TYPE_CHECKING:
    from tftmon.forecast.tft import TFTForecaster


def fit_calibration(
    model: TFTForecaster,
    fleet: BucketedFleet,
    thresholds: Thresholds,
    *,
    stride_steps: int = 3,
    eval_from_bucket: int | None = None,
    fitted_on: str = "",
) -> tuple[calibration.Calibration, dict[str, tuple[float | None, float | None]]]:
    """Replay ``fleet`` through ``model`` and the risk engine and fit the isotonic maps.

    Returns the calibration (not yet saved) and, per window, the Brier score of the raw and
    of the calibrated probabilities on the same replay (in-sample; None with no origin).

    Each (origin, server, metric) is one case per window, left out where the newest value
    is already over that window's threshold. Windows with too few crossings stay raw
    (``Calibration.reasons``).

    Raises:
        ValueError: no window had enough crossings to fit.
    """
    meta = model.meta
    config = BacktestConfig(
        stride_steps=stride_steps,
        min_history_steps=meta.min_encoder_steps,
        # the windows the daemon keeps: a day for seasonal naive, plus the selection's judge
        encoder_steps=max(meta.encoder_steps, 86_400 // meta.step_seconds)
        + window_extra(model.selection_steps),
        eval_from_bucket=eval_from_bucket,
    )
    rows = run_risk(fleet, model, thresholds, config)  # raw probabilities
    if "origin" not in rows:
        raise ValueError("the replay has no origin: the data is too short for the model")
    raw, seen, served = {}, {}, {}
    for window, (which, _) in WINDOW_STEPS.items():
        # a value already over the threshold has probability 1 whatever the map says
        fit_on = ~rows[f"over_{which}"] & ~np.isnan(rows[f"raw:{window}"])
        raw[window] = rows[f"raw:{window}"][fit_on]
        seen[window] = rows[f"seen:{window}"][fit_on]
        served[window] = rows["selected"][fit_on]
    about = {"fitted_on": fitted_on, "stride_steps": stride_steps}
    fitted = calibration.fit(raw, seen, about, served=served)
    if not fitted.maps:
        raise ValueError(
            "too few crossings in the replay to calibrate any window: "
            f"{fitted.meta['uncalibrated']}"
        )
    briers = {
        window: (
            reliability(raw[window], seen[window])["brier"],
            reliability(fitted.apply(window, raw[window], served[window]), seen[window])["brier"],
        )
        for window in calibration.WINDOWS
    }
    return fitted, briers
