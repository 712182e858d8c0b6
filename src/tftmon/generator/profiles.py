"""How each profile behaves: daily and weekly load shapes and metric levels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ProfileSpec:
    """Levels of one profile; load in [0, 1] drives cpu, disk and latency."""

    peak_hours: tuple[float, float]  # busy window (hours, may wrap midnight)
    idle_load: float  # load outside the busy window
    busy_load: float  # extra load at the centre of the busy window
    weekend: float  # load factor on Saturday and Sunday
    cpu_idle: float  # cpu % at zero load
    cpu_span: float  # extra cpu % at full load
    mem_base: float  # memory %
    mem_load: float  # extra memory % at full load
    disk_base: float  # MB/s at full load
    latency_base: float  # ms at low load
    morning_spike: bool = False  # a short burst at the start of the working day


PROFILES: Final[dict[str, ProfileSpec]] = {
    "ml_compute": ProfileSpec((21, 6), 0.35, 0.5, 1.0, 8, 80, 58, 15, 60, 40),
    "database": ProfileSpec((8, 20), 0.3, 0.4, 0.6, 6, 55, 72, 10, 90, 8),
    "web_api": ProfileSpec((9, 18), 0.2, 0.55, 0.45, 5, 60, 45, 8, 15, 60),
    "conductor": ProfileSpec((8, 18), 0.25, 0.25, 0.7, 4, 45, 40, 5, 10, 25),
    "data_ingest": ProfileSpec((0, 4), 0.2, 0.65, 1.0, 5, 70, 50, 12, 120, 30),
    "risk_analytics": ProfileSpec((7, 17), 0.15, 0.45, 0.3, 6, 65, 55, 10, 35, 45, True),
    "generic": ProfileSpec((9, 17), 0.25, 0.25, 0.7, 5, 50, 45, 6, 20, 30),
}


def _window(hour: FloatArray, start: float, end: float) -> FloatArray:
    """A smooth bump, 1 at the centre of [start, end) hours (wrapping midnight), 0 outside."""
    length = (end - start) % 24 or 24
    pos = (hour - start) % 24
    inside = pos < length
    return np.where(inside, np.sin(np.pi * np.clip(pos / length, 0, 1)) ** 2, 0.0)


def load(spec: ProfileSpec, epoch_s: FloatArray) -> FloatArray:
    """Load in [0, 1] at the given times (daily and weekly cycles, no noise)."""
    hour = (epoch_s % 86_400) / 3600.0
    weekday = ((epoch_s // 86_400) + 3) % 7  # 1970-01-01 was a Thursday: 0 = Monday
    weekend = weekday >= 5
    value = spec.idle_load + spec.busy_load * _window(hour, *spec.peak_hours)
    value = np.where(weekend, value * spec.weekend, value)
    if spec.morning_spike:
        value = value + np.where(weekend, 0.0, 0.35 * _window(hour, 7.5, 9.0))
    return np.clip(value, 0.0, 1.0)


def is_morning_spike(spec: ProfileSpec, epoch_s: FloatArray) -> npt.NDArray[np.bool_]:
    """Whether a profile is in its morning spike."""
    hour = (epoch_s % 86_400) / 3600.0
    weekday = ((epoch_s // 86_400) + 3) % 7
    return np.asarray(spec.morning_spike & (weekday < 5) & (hour >= 7.5) & (hour < 9.0))
