"""Probability calibration: monotone maps from raw to observed crossing frequency.

``tftmon-calibrate`` replays data through the model and the risk engine, pairs each
(server, metric)'s raw probability of crossing its warning and critical thresholds (within
30 min, within 8 h) with whether a crossing followed, and fits per window a monotone
(non-decreasing) map by isotonic regression whose blocks each hold at least
``min_cases`` cases, so a map keeps resolution where data is dense and never rests on a
handful of points. A window with fewer than ``min_events`` crossings keeps its raw
probabilities and says why (``reasons``, shown in ``/status``).

Maps are also fitted per forecast that served the pair (``forecast.selection.CANDIDATES``:
the TFT, the damped trend, seasonal naive) wherever that forecast alone saw enough
crossings: their raw probabilities mean very different things (a seasonal-naive forecast
that replays yesterday's incident "foresees" a crossing that rarely comes, a damped trend
that follows a climb usually sees one that does), and one pooled map would blur them. A
pair whose forecast has no map of its own uses the window's pooled map.

The maps are stored with the model as ``calibration.json`` and applied by ``risk.assess``,
so a reported 0.3 means "happened about 30 % of the time" on data like the calibration set.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from tftmon.fileio import SHARED_MODE, atomic_write_text
from tftmon.forecast.artifacts import ArtifactError, optional_artifact_file

FILE = "calibration.json"
WINDOWS: Final = (
    "warning_within_30m",
    "warning_within_8h",
    "critical_within_30m",
    "critical_within_8h",
)
MIN_EVENTS: Final = 30
MIN_CASES: Final = 100

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Calibration:
    """Piecewise-linear monotone maps per window (``x`` raw → ``y`` calibrated).

    A window without a map (too few events when fitted) passes raw probabilities through;
    ``reasons`` says why.
    """

    maps: dict[str, tuple[FloatArray, FloatArray]]
    meta: dict[str, Any]

    @property
    def reasons(self) -> dict[str, str]:
        """Per window without a map, why it has none."""
        stored: dict[str, str] = self.meta.get("uncalibrated", {})
        return {
            w: stored.get(w, "not in the calibration file") for w in WINDOWS if w not in self.maps
        }

    def apply(
        self,
        window: str,
        p: npt.NDArray[np.floating],
        served: npt.NDArray[np.int64] | None = None,
    ) -> FloatArray:
        """Calibrated probabilities (NaN stays NaN; raw where the window has no map).

        Args:
            served: per element of ``p``, the index in ``CANDIDATES`` of the forecast that
                served it; elements whose forecast has its own map use it.
        """
        raw = np.asarray(p, np.float64)
        if window not in self.maps:
            return raw
        out = _interp(raw, self.maps[window])
        if served is not None:
            from tftmon.forecast.selection import CANDIDATES  # forecast imports this module

            for index, name in enumerate(CANDIDATES):
                own = self.maps.get(f"{window}|{name}")
                mine = served == index
                if own is not None and mine.any():
                    out = np.where(mine, _interp(raw, own), out)
        return np.where(np.isnan(raw), np.nan, out)

    def save(self, folder: Path) -> Path:
        """Write ``folder/calibration.json``."""
        body = {
            "format": 2,
            **self.meta,
            "maps": {k: {"x": x.tolist(), "y": y.tolist()} for k, (x, y) in self.maps.items()},
        }
        path = folder / FILE
        atomic_write_text(path, json.dumps(body, indent=2) + "\n", mode=SHARED_MODE)
        return path

    @classmethod
    def load(cls, folder: Path) -> Calibration | None:
        """The calibration stored with a model (``folder/calibration.json``), if any.

        Raises:
            ArtifactError: the file is there but not a regular file inside the models
                folder (``folder``'s parent), not JSON, or its maps are not monotone maps
                of finite numbers; named ``<version>/calibration.json``.
        """
        path = optional_artifact_file(folder.parent, folder.name, FILE)
        if path is None:
            return None
        label = f"{folder.name}/{FILE}"
        try:
            body = json.loads(path.read_bytes())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ArtifactError(f"{label}: not valid JSON ({exc})") from exc
        if not isinstance(body, dict) or not isinstance(body.get("maps"), dict):
            raise ArtifactError(f"{label}: not a JSON object with maps")
        if not isinstance(body.get("uncalibrated", {}), dict):
            raise ArtifactError(f"{label}: uncalibrated is not an object")
        maps = {str(k): _map(label, str(k), v) for k, v in body["maps"].items()}
        meta = {k: v for k, v in body.items() if k != "maps"}
        return cls(maps, meta)


def _map(label: str, key: str, value: Any) -> tuple[FloatArray, FloatArray]:
    """One stored map as arrays: ``x`` non-decreasing, ``y`` within [0, 1], equal lengths."""
    try:
        x = np.asarray(value["x"], np.float64)
        y = np.asarray(value["y"], np.float64)
    except (TypeError, KeyError, ValueError) as exc:
        raise ArtifactError(f"{label}: map {key!r:.60} is not two lists of numbers") from exc
    if (
        x.ndim != 1
        or x.shape != y.shape
        or x.size == 0
        or not (np.isfinite(x).all() and np.isfinite(y).all())
        or (np.diff(x) < 0).any()
        or ((y < 0) | (y > 1)).any()
    ):
        raise ArtifactError(f"{label}: map {key!r:.60} is not a monotone map of probabilities")
    return x, y


def model_calibration(artifact_dir: Path | None) -> Calibration | None:
    """The calibration stored with a trained model (``ForecasterInfo.artifact_dir``), if any.

    A classical forecaster has no folder and so no calibration.
    """
    return None if artifact_dir is None else Calibration.load(artifact_dir)


def _interp(raw: FloatArray, xy: tuple[FloatArray, FloatArray]) -> FloatArray:
    return np.interp(np.nan_to_num(raw, nan=0.0), *xy)


def isotonic_blocks(
    raw: FloatArray, seen: npt.NDArray[np.bool_], min_cases: int
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.int64]]:
    """Pool-adjacent-violators on ``raw`` sorted, then merge blocks under ``min_cases``.

    Returns each block's mean raw probability, observed frequency and size (ascending).
    Merging two adjacent blocks of a monotone sequence keeps it monotone.
    """
    order = np.argsort(raw, kind="stable")
    xs, ys = raw[order], seen[order].astype(np.float64)
    # blocks as [sum_x, sum_y, n]; equal raw values always share a block
    _, starts = np.unique(xs, return_index=True)
    counts = np.diff(np.append(starts, xs.size))
    sx = np.add.reduceat(xs, starts) if xs.size else np.zeros(0)
    sy = np.add.reduceat(ys, starts) if xs.size else np.zeros(0)
    blocks: list[list[float]] = []
    for bx, by, n in zip(sx.tolist(), sy.tolist(), counts.tolist(), strict=True):
        blocks.append([bx, by, float(n)])
        while len(blocks) > 1 and blocks[-2][1] / blocks[-2][2] >= blocks[-1][1] / blocks[-1][2]:
            last = blocks.pop()
            blocks[-1] = [a + b for a, b in zip(blocks[-1], last, strict=True)]
    i = 0
    while len(blocks) > 1 and i < len(blocks):
        if blocks[i][2] >= min_cases:
            i += 1
            continue
        if i == 0:
            j = 1
        elif i == len(blocks) - 1:
            j = i - 1
        else:  # the neighbour whose frequency is closer
            f = blocks[i][1] / blocks[i][2]
            left = abs(blocks[i - 1][1] / blocks[i - 1][2] - f)
            right = abs(blocks[i + 1][1] / blocks[i + 1][2] - f)
            j = i - 1 if left <= right else i + 1
        a, b = min(i, j), max(i, j)
        blocks[a] = [u + v for u, v in zip(blocks[a], blocks[b], strict=True)]
        del blocks[b]
        i = max(0, a - 1)
    arr = np.asarray(blocks, np.float64).reshape(-1, 3)
    return arr[:, 0] / arr[:, 2], arr[:, 1] / arr[:, 2], arr[:, 2].astype(np.int64)


def fit(
    raw: dict[str, FloatArray],
    observed: dict[str, npt.NDArray[np.bool_]],
    meta: dict[str, Any],
    *,
    served: dict[str, npt.NDArray[np.int64]] | None = None,
    min_events: int = MIN_EVENTS,
    min_cases: int = MIN_CASES,
) -> Calibration:
    """Monotone maps from raw probabilities to observed frequencies, per window given.

    Each map runs through the blocks' (mean raw, observed frequency) points, flat beyond
    the outer ones. Windows with fewer than ``min_events`` crossings get no map. With
    ``served`` (per window, the forecast that served each case), each forecast with at
    least ``min_events`` crossings of its own also gets a map ``"<window>|<forecast>"``.
    """
    maps: dict[str, tuple[FloatArray, FloatArray]] = {}
    uncalibrated: dict[str, str] = {}
    events: dict[str, int] = {}
    for window in WINDOWS:
        if window not in raw:
            continue
        p = np.clip(np.asarray(raw[window], np.float64), 0.0, 1.0)
        o = np.asarray(observed[window], bool)
        keep = ~np.isnan(p)
        p, o = p[keep], o[keep]
        events[window] = int(o.sum())
        if events[window] < min_events:
            uncalibrated[window] = (
                f"{events[window]} crossings in {p.size} cases; at least {min_events} are needed"
            )
            continue
        x, y, _ = isotonic_blocks(p, o, min_cases)
        maps[window] = (x, y)
        if served is None:
            continue
        from tftmon.forecast.selection import CANDIDATES  # forecast imports this module

        by = np.asarray(served[window])[keep]
        for index, name in enumerate(CANDIDATES):
            mine = by == index
            if int(o[mine].sum()) >= min_events:
                x, y, _ = isotonic_blocks(p[mine], o[mine], min_cases)
                maps[f"{window}|{name}"] = (x, y)
    return Calibration(
        maps,
        {
            **meta,
            "points": int(next(iter(raw.values())).size) if raw else 0,
            "events": events,
            "min_cases": min_cases,
            "uncalibrated": uncalibrated,
        },
    )
