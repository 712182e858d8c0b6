"""Incident evaluation: do the risk engine's alerts and probabilities match what happened?

The data is replayed origin by origin (``evaluate.replay``); at each origin the forecaster
and ``risk.assess`` give each server its probabilities and alert level, as the daemon would.

* **Alerts**: an alert episode on a server opens when its level reaches warning and
  resolves after ``resolve_after`` consecutive origins below it (the daemon's hysteresis).
* **Event-level recall, no point adjustment**: a labelled incident counts as detected only
  if an episode *starts* between 8 h before its onset and its end; its lead time is
  onset − episode start (negative: the alert came after the onset).
* **Precision**: the share of episodes that start between 8 h before an incident's onset
  and its end, on the same server; the others are false alerts (reported per server-week).
* **Reliability** of the server-level probabilities of a critical crossing within 30 min
  and 8 h against what the data did next: Brier score and a 10-bin reliability table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from tftmon.forecast import Forecaster
from tftmon.risk import WARNING, Thresholds, assess
from tftmon.schemas import METRICS
from tftmon.training.dataset import BucketedFleet
from tftmon.training.evaluate import BacktestConfig, replay

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Episode:
    """One alert episode on one server, in bucket numbers."""

    server: int
    start: int
    end: int


def run_risk(
    fleet: BucketedFleet,
    forecaster: Forecaster,
    thresholds: Thresholds,
    config: BacktestConfig,
    *,
    calibrated: bool = True,
) -> dict[str, npt.NDArray[Any]]:
    """Per (origin, server): probabilities, level, and whether a critical crossing followed.

    ``calibrated=False`` reports the raw probabilities (what a calibration is fitted on).
    """
    info = forecaster.info
    horizon = info.horizon_steps
    step = fleet.step_seconds
    steps_30m = max(1, round(1800 / step))
    metric_idx = [METRICS.index(m) for m in fleet.metrics]
    rows: dict[str, list[Any]] = {
        k: [] for k in ("origin", "server", "p30", "p8", "level", "o30", "o8")
    }
    cut = None
    if config.eval_from_bucket is not None:  # origins whose targets are all from it on
        cut = [max(int(f), config.eval_from_bucket) for f in fleet.first]
    for point in replay(fleet, config, horizon, cut):
        snap = point.snapshot
        warn, crit = thresholds.arrays(snap.profiles)
        current = np.full(snap.current.shape, np.nan, np.float32)
        current[:, metric_idx] = snap.values[:, -1, metric_idx]  # the newest closed step
        out = forecaster.forecast(snap)
        calibration = forecaster.calibration if calibrated else None
        risk = assess(out.quantiles, info.quantiles, current, warn, crit, step, calibration)
        over = point.actual >= crit[:, None, metric_idx]  # [S, H, Mf]
        rows["origin"].append(np.full(point.servers.size, point.origin))
        rows["server"].append(point.servers)
        rows["p30"].append(risk.incident_probability_30m)
        rows["p8"].append(risk.incident_probability_8h)
        rows["level"].append(risk.level)
        rows["o30"].append(over[:, :steps_30m].any(axis=(1, 2)))
        rows["o8"].append(over.any(axis=(1, 2)))
    return {k: np.concatenate(v) if v else np.zeros(0) for k, v in rows.items()}


def episodes(
    origin: npt.NDArray[np.int64],
    server: npt.NDArray[np.int64],
    level: npt.NDArray[np.int64],
    resolve_after: int = 2,
) -> list[Episode]:
    """Alert episodes from per-origin levels, with the daemon's resolve hysteresis."""
    out = []
    for s in np.unique(server):
        mine = np.flatnonzero(server == s)
        order = mine[np.argsort(origin[mine])]
        start: int | None = None
        last_alert = 0
        quiet = 0
        for o, lv in zip(origin[order].tolist(), level[order].tolist(), strict=True):
            if lv >= WARNING:
                if start is None:
                    start = o
                last_alert, quiet = o, 0
            elif start is not None:
                quiet += 1
                if quiet >= resolve_after:
                    out.append(Episode(int(s), start, last_alert))
                    start = None
        if start is not None:
            out.append(Episode(int(s), start, last_alert))
    return out


def incident_scores(
    fleet: BucketedFleet,
    labels: pd.DataFrame,
    found: list[Episode],
    span: tuple[int, int],
    horizon: int,
) -> dict[str, Any]:
    """Recall, precision, median lead time and false alerts per server-week."""
    import pandas as pd

    step = fleet.step_seconds
    index = {name: i for i, name in enumerate(fleet.names)}
    first, last = span
    incidents = []
    for row in labels.itertuples():
        s = index.get(str(row.server_name))
        onset = int(pd.Timestamp(row.start).timestamp() // step)
        end = int(pd.Timestamp(row.end).timestamp() // step)
        if s is None or onset < first + horizon or onset > last:
            continue  # unknown server, or no chance to see it coming in the replayed span
        incidents.append((s, onset, end))
    detected, leads = 0, []
    for s, onset, end in incidents:
        starts = [e.start for e in found if e.server == s and onset - horizon <= e.start <= end]
        if starts:
            detected += 1
            leads.append((onset - min(starts)) * step / 60)
    matched = sum(
        any(e.server == s and onset - horizon <= e.start <= end for s, onset, end in incidents)
        for e in found
    )
    weeks = (last - first) * step / (7 * 86_400)
    false_alerts = len(found) - matched
    return {
        "incidents": len(incidents),
        "detected": detected,
        "recall": round(detected / len(incidents), 4) if incidents else None,
        "alert_episodes": len(found),
        "precision": round(matched / len(found), 4) if found else None,
        "median_lead_minutes": round(float(np.median(leads)), 1) if leads else None,
        "false_alerts_per_server_week": round(false_alerts / (len(fleet.names) * weeks), 3)
        if weeks > 0
        else None,
    }


def reliability(
    predicted: npt.NDArray[np.float64], observed: npt.NDArray[np.bool_], bins: int = 10
) -> dict[str, Any]:
    """Brier score and a reliability table (mean predicted vs observed frequency per bin)."""
    p = np.clip(predicted.astype(np.float64), 0, 1)
    o = observed.astype(np.float64)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    table = []
    for b in range(bins):
        sel = which == b
        if not sel.any():
            continue
        table.append(
            {
                "bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}",
                "count": int(sel.sum()),
                "mean_predicted": round(float(p[sel].mean()), 4),
                "observed": round(float(o[sel].mean()), 4),
            }
        )
    return {
        "brier": round(float(np.mean((p - o) ** 2)), 5) if p.size else None,
        "base_rate": round(float(o.mean()), 4) if o.size else None,
        "table": table,
    }


def evaluate_incidents(
    fleet: BucketedFleet,
    labels: pd.DataFrame,
    forecaster: Forecaster,
    thresholds: Thresholds,
    config: BacktestConfig,
) -> dict[str, Any]:
    """The incident and reliability part of a report."""
    rows = run_risk(fleet, forecaster, thresholds, config)
    if rows["origin"].size == 0:
        return {"incidents": None, "reliability": None}
    found = episodes(rows["origin"], rows["server"], rows["level"])
    span = (int(rows["origin"].min()), int(rows["origin"].max()))
    return {
        "stride_steps": config.stride_steps,
        "incidents": incident_scores(fleet, labels, found, span, forecaster.info.horizon_steps),
        "reliability": {
            "critical_within_30m": reliability(rows["p30"], rows["o30"]),
            "critical_within_8h": reliability(rows["p8"], rows["o8"]),
        },
    }
