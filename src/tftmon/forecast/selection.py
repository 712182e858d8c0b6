"""Per-series choice between the TFT and two classical forecasts, judged on the last hours.

Each cycle every candidate also forecasts from ``steps`` steps ago (the window without its
newest ``steps`` buckets), and its median is compared with what then happened (the
*short* judge). Seasonal naive and the damped trend are also judged from ``4 × steps``
steps ago over the whole span (the *long* judge, cheap for them): a series whose yesterday
predicts today better than any trend is seasonal. Per server and metric:

* seasonal naive serves a seasonal series (long judge: its error below ``1 - margin``
  times the damped trend's) unless the TFT was clearly better in the short judge;
* on a series that is not seasonal, the damped trend serves where its short-judge error
  is below ``1 - TREND_MARGIN`` times the TFT's;
* otherwise the TFT serves (also wherever a candidate could not be judged);
* a *young* series (a day of history, too little for the long judge) whose day closes on
  itself like a cycle (``young_cycle``: it ends where it began, with a swing far above its
  noise) is served by seasonal naive, unless the TFT was clearly better in a short judge:
  one day of a clean cycle is better evidence of a cycle than of a trend, and the network
  flattens it.

The candidates:

* ``tft``: the network;
* ``damped_trend``: ETS(A,Ad,N) (``forecast.damped``), which carries a climb or a new level
  on, damped, and is the last value when that fits best;
* ``seasonal_naive``: the same time yesterday (only where a day plus ``steps`` is held).

A memory leak climbing for hours makes the TFT, which reverts towards its window, miss the
last hours while the damped trend follows them: the trend serves. A clean daily cycle is
served by seasonal naive. Everywhere else the TFT serves.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import Final

import numpy as np
import numpy.typing as npt

from tftmon.forecast.baseline import nan_quantiles
from tftmon.windows import WindowSnapshot

CANDIDATES: Final = ("tft", "damped_trend", "seasonal_naive")
DEFAULT_STEPS: Final = 24  # two hours of 5-minute steps
DEFAULT_MARGIN: Final = 0.2
# the damped trend must beat the TFT by more: a wrong trend costs most over 8 hours
# (demo fleet, 5 days: 1-8 h cpu MASE 1.354 at 0.2, 1.295 at 0.35; battery unchanged)
TREND_MARGIN: Final = 0.35


def earlier(snapshot: WindowSnapshot, steps: int) -> WindowSnapshot:
    """The snapshot as it was ``steps`` buckets ago (the newest ``steps`` dropped)."""
    values = snapshot.values[:, :-steps]
    return replace(
        snapshot,
        values=values,
        end_bucket=snapshot.end_bucket - steps,
        history_steps=np.maximum(snapshot.history_steps - steps, 0),
        current=values[:, -1].copy(),
    )


def median_errors(
    medians: npt.NDArray[np.floating], actual: npt.NDArray[np.floating]
) -> npt.NDArray[np.float64]:
    """Mean absolute error ``[S, M]`` of medians ``[S, V, M]`` against actuals (NaN gaps)."""
    diff = np.abs(np.asarray(medians, np.float64) - np.asarray(actual, np.float64))
    count = (~np.isnan(diff)).sum(axis=1)
    total = np.nansum(diff, axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def window_extra(steps: int) -> int:
    """Steps the windows must hold beyond the encoder for the long judge."""
    return 4 * steps


def young_cycle(
    values: npt.NDArray[np.floating],
    history_steps: npt.NDArray[np.integer],
    season: int,
    *,
    swing: float = 8.0,
    closure: float = 0.15,
    slack: int = 12,
) -> npt.NDArray[np.bool_]:
    """``[S, M]``: series holding a day whose newest day looks like one turn of a cycle.

    "A day" is ``season`` steps less ``slack`` (a day of samples holds one step less when
    the newest bucket is still open; seasonal naive accepts the same, ``SEASON_SLACK``).

    Over the newest ``season`` steps: the interquartile range is at least ``swing`` times
    the noise (median absolute step change), so a quiet series or a one-off spike does not
    count; and the day ends where it began (the mean of its first and last three steps
    differ by at most ``closure`` × that range), so a ramp or a step does not either.
    """
    history = np.asarray(history_steps)
    held = history >= season - slack
    if values.shape[1] < season:
        return np.zeros((values.shape[0], values.shape[2]), bool)
    day = np.asarray(values[:, -season:, :], np.float64)
    # the three oldest steps held of the day (a day less ``slack`` may be all there is)
    start = np.clip(season - history, 0, slack)[:, None, None] + np.arange(3)[None, :, None]
    oldest = np.take_along_axis(day, np.broadcast_to(start, (day.shape[0], 3, day.shape[2])), 1)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN series
        quartiles = nan_quantiles(day, np.array([0.25, 0.75]))  # [S, M, 2]; NaN-free rows fast
        spread = quartiles[..., 1] - quartiles[..., 0]
        noise = np.nanmedian(np.abs(np.diff(day, axis=1)), axis=1)
        gap = np.abs(np.nanmean(day[:, -3:], axis=1) - np.nanmean(oldest, axis=1))
        out = (spread >= swing * np.maximum(noise, 1e-9)) & (gap <= closure * spread)
    return np.asarray(out & held[:, None], bool)


def choose(
    short: dict[str, npt.NDArray[np.float64]],
    long: dict[str, npt.NDArray[np.float64]],
    margin: float = DEFAULT_MARGIN,
) -> npt.NDArray[np.int64]:
    """Index into ``CANDIDATES`` per (server, metric), by the rules of the module docstring.

    ``short`` holds the short-judge errors of every candidate, ``long`` those of
    ``damped_trend`` and ``seasonal_naive``; each ``[S, M]``, NaN where not judged
    (comparisons with NaN are false, so an unjudged candidate is never chosen).
    """
    tft, damped, seasonal = (short[name] for name in CANDIDATES)
    with np.errstate(invalid="ignore"):
        yesterday_fits = long["seasonal_naive"] < (1 - margin) * long["damped_trend"]
        is_seasonal = yesterday_fits & ~(tft < (1 - margin) * seasonal)
        # a trend only where the day does not repeat, and only when clearly better
        trending = ~yesterday_fits & (damped < (1 - TREND_MARGIN) * tft)
    judged = np.isfinite(tft)  # where the TFT could not be judged, it serves
    return np.where(judged & is_seasonal, 2, np.where(judged & trending, 1, 0)).astype(np.int64)
