"""Probability calibration: monotone maps from raw to observed crossing frequency.

``tftmon-calibrate`` replays labelled-free data through the model and the risk engine,
pairs each server's raw probability of a critical crossing (within 30 min, within 8 h)
with whether one followed, and fits an isotonic (monotone, non-decreasing) regression.
The map is stored with the model as ``calibration.json`` and applied by ``risk.assess``
to every critical-crossing probability, so a reported 0.3 means "happened about 30 % of
the time" on data like the calibration set.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

FILE = "calibration.json"
WINDOWS = ("critical_within_30m", "critical_within_8h")


@dataclass(frozen=True)
class Calibration:
    """Piecewise-linear monotone maps per window (``x`` raw → ``y`` calibrated)."""

    maps: dict[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]]
    meta: dict[str, Any]

    def apply(self, window: str, p: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
        """Calibrated probabilities (NaN stays NaN)."""
        x, y = self.maps[window]
        out = np.interp(np.nan_to_num(p, nan=0.0), x, y)
        return np.where(np.isnan(p), np.nan, out)

    def save(self, folder: Path) -> Path:
        """Write ``folder/calibration.json``."""
        body = {
            "format": 1,
            **self.meta,
            "maps": {k: {"x": x.tolist(), "y": y.tolist()} for k, (x, y) in self.maps.items()},
        }
        path = folder / FILE
        path.write_text(json.dumps(body, indent=2) + "\n")
        return path

    @classmethod
    def load(cls, folder: Path) -> Calibration | None:
        """The calibration stored with a model, if any."""
        path = folder / FILE
        if not path.is_file():
            return None
        body = json.loads(path.read_text())
        maps = {
            k: (np.asarray(v["x"], np.float64), np.asarray(v["y"], np.float64))
            for k, v in body["maps"].items()
        }
        meta = {k: v for k, v in body.items() if k != "maps"}
        return cls(maps, meta)


def fit(
    raw: dict[str, npt.NDArray[np.float64]],
    observed: dict[str, npt.NDArray[np.bool_]],
    meta: dict[str, Any],
) -> Calibration:
    """Isotonic maps from raw probabilities to observed frequencies, per window."""
    from sklearn.isotonic import IsotonicRegression

    maps = {}
    for window in WINDOWS:
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
        iso.fit(raw[window], observed[window].astype(np.float64))
        x = np.concatenate([[0.0], iso.X_thresholds_, [1.0]])
        y = np.concatenate([[iso.y_thresholds_[0]], iso.y_thresholds_, [iso.y_thresholds_[-1]]])
        x, keep = np.unique(x, return_index=True)
        maps[window] = (x, y[keep])
    return Calibration(maps, {**meta, "points": int(raw[WINDOWS[0]].size)})
