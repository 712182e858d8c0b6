"""Training series with the dynamics of real fleets, generated at model steps, with labels.

The demo simulator (``simulator.py``) models a fleet whose every excursion reverts to its
profile's level; a forecaster trained only on it learns to revert. This module generates
what real fleets also do, per server and metric, on the model scale of
``features.normalize`` (so one recipe serves percentages and log-scaled rates):

* daily cycles peaking at any hour (sine or office-hours shape), weaker at weekends;
* AR(1) noise, and on some servers a random-walk drift or a slow growth trend;
* **leaks and fills**, linear or accelerating, 30 minutes to 2 days long, ending in a
  restart drop or holding at saturation for a while;
* **level shifts** that last (a deploy);
* **spikes** that revert and **short incidents** (a fast rise, a plateau, a return).

Every regime is labelled (``Regime``): what happened, on which metric, from which step to
which. Vectorised over time; the loop is over events (a few per server-day).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from tftmon.forecast.features import denormalize
from tftmon.schemas import METRICS, check_covers_metrics

FloatArray = npt.NDArray[np.float64]

KINDS: Final = ("leak", "level_shift", "spike", "incident")
PROFILES: Final = (
    "generic",
    "web_api",
    "database",
    "ml_compute",
    "data_ingest",
    "conductor",
    "risk_analytics",
)
# base level ranges on the model scale: cpu/mem percent / 100, disk/latency log-scaled
BASE: Final = {
    "cpu_pct": (0.03, 0.6),
    "mem_pct": (0.15, 0.8),
    "disk_io_mb_s": (0.05, 0.55),
    "latency_ms": (0.2, 0.55),
}
check_covers_metrics(BASE, "generator.regimes.BASE")
STEPS_PER_HOUR: Final = 12


@dataclass(frozen=True, slots=True)
class Regime:
    """One labelled regime: ``kind`` on ``metric`` of ``server`` over steps [start, end)."""

    server: int
    metric: str
    kind: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class RegimeFleet:
    """Generated series in metric units ``values[S, T, M]`` (``METRICS`` order) and labels."""

    names: list[str]
    profiles: list[str]
    first_bucket: int
    values: npt.NDArray[np.float64]
    regimes: list[Regime]


def _daily(rng: np.random.Generator, steps: npt.NDArray[np.int64]) -> FloatArray:
    """A daily shape in [0, 1] with a random peak hour, sine or office hours, weekend dip."""
    hours = (steps / STEPS_PER_HOUR) % 24
    peak = rng.uniform(0, 24)
    if rng.random() < 0.5:
        shape = 0.5 + 0.5 * np.cos(2 * np.pi * (hours - peak) / 24)
    else:  # office hours: a smooth plateau of 6-12 h around the peak
        width = rng.uniform(6, 12)
        distance = np.abs(((hours - peak + 12) % 24) - 12)
        shape = 1 / (1 + np.exp((distance - width / 2) * 1.5))
    day = (steps // (24 * STEPS_PER_HOUR) + 3) % 7
    weekend = np.where(day >= 5, rng.uniform(0.3, 1.0), 1.0)
    return shape * weekend


def _ar1(rng: np.random.Generator, n: int, sigma: float, phi: float) -> FloatArray:
    """AR(1) noise with stationary standard deviation ``sigma`` (vectorised recursion)."""
    from scipy.signal import lfilter  # type: ignore[import-untyped]

    shocks = rng.standard_normal(n) * sigma * np.sqrt(1 - phi**2)
    return np.asarray(lfilter([1.0], [1.0, -phi], shocks), np.float64)


def _events(
    rng: np.random.Generator, n: int, server: int, metric: str, top: float
) -> tuple[FloatArray, list[Regime]]:
    """The overlay of leaks, shifts, spikes and incidents for one series, with labels."""
    overlay = np.zeros(n)
    labels: list[Regime] = []
    t = int(rng.exponential(1.5 * 24 * STEPS_PER_HOUR))
    while t < n:
        kind = str(rng.choice(KINDS, p=[0.4, 0.25, 0.2, 0.15]))
        if kind == "leak":
            length = int(np.exp(rng.uniform(np.log(6), np.log(48 * STEPS_PER_HOUR))))
            rise = rng.uniform(0.1, 0.7) * top
            power = 1.0 if rng.random() < 0.5 else rng.uniform(1.3, 2.5)
            ramp = rise * (np.arange(1, length + 1) / length) ** power
            hold = int(rng.uniform(0, 12 * STEPS_PER_HOUR)) if rng.random() < 0.4 else 0
            shape = np.concatenate([ramp, np.full(hold, rise)])
            end = min(n, t + shape.size)
            overlay[t:end] += shape[: end - t]  # then the restart drop
        elif kind == "level_shift":
            end = n
            overlay[t:] += rng.choice([-1, 1]) * rng.uniform(0.05, 0.3) * top
        elif kind == "spike":
            length = int(rng.integers(1, 7))
            end = min(n, t + length)
            overlay[t:end] += rng.uniform(0.1, 0.5) * top
        else:  # incident: fast rise, a plateau, back
            rise_steps = int(rng.integers(2, 7))
            plateau = int(rng.integers(6, 36))
            height = rng.uniform(0.2, 0.6) * top
            shape = np.concatenate(
                [height * np.arange(1, rise_steps + 1) / rise_steps, np.full(plateau, height)]
            )
            end = min(n, t + shape.size)
            overlay[t:end] += shape[: end - t]
        labels.append(Regime(server, metric, kind, t, end))
        t = max(end, t + 1) + int(rng.exponential(1.5 * 24 * STEPS_PER_HOUR))
    return overlay, labels


def regime_fleet(
    servers: int, days: float, seed: int = 0, first_bucket: int = 5_889_600
) -> RegimeFleet:
    """``servers`` series of ``days`` at 5-minute steps (first bucket: 2026-01-05 00:00 UTC).

    Args:
        servers: how many servers.
        days: how long each series is.
        seed: makes the output reproducible.
        first_bucket: bucket number (5-minute steps since the epoch) of the first step.
    """
    rng = np.random.default_rng(seed)
    n = int(days * 24 * STEPS_PER_HOUR)
    steps = first_bucket + np.arange(n, dtype=np.int64)
    z = np.empty((servers, n, len(METRICS)))
    regimes: list[Regime] = []
    profiles = [str(rng.choice(PROFILES)) for _ in range(servers)]
    for s in range(servers):
        daily = _daily(rng, steps)
        for j, metric in enumerate(METRICS):
            lo, hi = BASE[metric]
            base = rng.uniform(lo, hi)
            amplitude = rng.uniform(0, 0.3) * (rng.random() < 0.7)
            own = daily if rng.random() < 0.7 else _daily(rng, steps)
            series = base + amplitude * (own - 0.5)
            series += _ar1(rng, n, rng.uniform(0.002, 0.04), rng.uniform(0.3, 0.97))
            if rng.random() < 0.3:  # random-walk drift
                series += np.cumsum(rng.standard_normal(n)) * rng.uniform(3e-4, 2e-3)
            if rng.random() < 0.2:  # growth (or decline) over days
                series += rng.uniform(-0.01, 0.03) * np.arange(n) / (24 * STEPS_PER_HOUR)
            overlay, labels = _events(rng, n, s, metric, 1.0 - base)
            regimes += labels
            z[s, :, j] = series + overlay
    z = np.clip(z, 0.0, 1.0)  # cpu and mem saturate at 100 %, rates at their reference
    values = denormalize(z[..., None])[..., 0].astype(np.float64)
    return RegimeFleet(
        [f"synth-{s:04d}" for s in range(servers)], profiles, first_bucket, values, regimes
    )
