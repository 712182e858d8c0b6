"""Fit a model's probability calibration on a replay: raw probabilities → observed frequency.

Shared by ``tftmon-calibrate`` (a data file or the history store) and ``tftmon-retrain``,
which calibrates a model it promotes on the held-out window it was judged on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from tftmon import calibration
from tftmon.risk import Thresholds
from tftmon.training.dataset import BucketedFleet
from tftmon.training.evaluate import BacktestConfig
from tftmon.training.incidents import reliability, run_risk

if TYPE_CHECKING:
    from tftmon.forecast.tft import TFTForecaster


MIN_CROSSINGS: Final = 10


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

    Raises:
        ValueError: fewer than ``MIN_CROSSINGS`` critical crossings in a window.
    """
    meta = model.meta
    config = BacktestConfig(
        stride_steps=stride_steps,
        min_history_steps=meta.min_encoder_steps,
        encoder_steps=max(meta.encoder_steps, 86_400 // meta.step_seconds),
        eval_from_bucket=eval_from_bucket,
    )
    rows = run_risk(fleet, model, thresholds, config, calibrated=False)
    raw = {"critical_within_30m": rows["p30"], "critical_within_8h": rows["p8"]}
    seen = {"critical_within_30m": rows["o30"], "critical_within_8h": rows["o8"]}
    positives = {window: int(seen[window].sum()) for window in calibration.WINDOWS}
    about = {"fitted_on": fitted_on, "stride_steps": stride_steps, "crossings": positives}
    if min(positives.values(), default=0) < MIN_CROSSINGS:
        raise ValueError(
            f"{positives} critical crossings in the replay: at least {MIN_CROSSINGS} per window "
            "are needed, or the maps would push every probability towards zero"
        )
    fitted = calibration.fit(raw, seen, about)
    briers = {
        window: (
            reliability(raw[window], seen[window])["brier"],
            reliability(fitted.apply(window, raw[window]), seen[window])["brier"],
        )
        for window in calibration.WINDOWS
    }
    return fitted, briers
