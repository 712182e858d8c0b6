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
from tftmon.risk.calibration import Calibration, model_calibration
from tftmon.risk.exceedance import WARNING, AlertPolicy, assess
from tftmon.risk.thresholds import Thresholds
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


WINDOW_STEPS: dict[str, tuple[str, int]] = {  # calibration window → (threshold, seconds)
    "warning_within_30m": ("warning", 1800),
    "warning_within_8h": ("warning", 8 * 3600),
    "critical_within_30m": ("critical", 1800),
    "critical_within_8h": ("critical", 8 * 3600),
}


def run_risk(
    fleet: BucketedFleet,
    forecaster: Forecaster,
    thresholds: Thresholds,
    config: BacktestConfig,
    *,
    calibration: Calibration | None = None,
    policy: AlertPolicy | None = None,
) -> dict[str, npt.NDArray[Any]]:
    """Per (origin, server) and per (origin, server, metric): what the risk engine said.

    Per server: ``origin``, ``server``, ``level``, ``hold`` (the policy's opening and hold
    levels, worst metric), ``p30``/``p8`` (incident probabilities) and ``o30``/``o8``
    (whether a critical crossing followed). Per pair, ``[N, metrics]``: for each window of
    ``calibration.WINDOWS`` the final probability (``window``), the raw one before
    calibration and consistency (``raw:window``), whether a crossing followed
    (``seen:window``), and ``over_warning``/``over_critical`` (the newest value already
    there), ``steady`` (below warning now and over the next 8 h) and ``selected`` (the
    forecast that served, an index into ``forecast.selection.CANDIDATES``).
    ``calibration=None`` serves the raw probabilities (what a calibration is fitted on).
    """
    info = forecaster.info
    horizon = info.horizon_steps
    step = fleet.step_seconds
    metric_idx = [METRICS.index(m) for m in fleet.metrics]
    rows: dict[str, list[Any]] = {}

    def add(key: str, value: Any) -> None:
        rows.setdefault(key, []).append(np.asarray(value))

    cut = None
    if config.eval_from_bucket is not None:  # origins whose targets are all from it on
        cut = [max(int(f), config.eval_from_bucket) for f in fleet.first]
    for point in replay(fleet, config, horizon, cut):
        snap = point.snapshot
        warn, crit = thresholds.arrays(snap.profiles)
        current = np.full(snap.current.shape, np.nan, np.float32)
        current[:, metric_idx] = snap.values[:, -1, metric_idx]  # the newest closed step
        out = forecaster.forecast(snap)
        risk = assess(
            out.quantiles,
            info.quantiles,
            current,
            warn,
            crit,
            step,
            calibration,
            policy,
            served=out.selected,
        )
        line = {"warning": warn[:, None, metric_idx], "critical": crit[:, None, metric_idx]}
        final = {
            "warning_within_30m": risk.p_warning_30m,
            "warning_within_8h": risk.p_warning_8h,
            "critical_within_30m": risk.p_critical_30m,
            "critical_within_8h": risk.p_critical_8h,
        }
        for window, (which, seconds) in WINDOW_STEPS.items():
            steps = min(horizon, max(1, round(seconds / step)))
            add(window, final[window][:, metric_idx])
            add(f"raw:{window}", risk.raw[window][:, metric_idx])
            add(f"seen:{window}", (point.actual[:, :steps] >= line[which]).any(axis=1))
        shape = (out.quantiles.shape[0], out.quantiles.shape[2])
        chosen = np.zeros(shape, np.int64) if out.selected is None else out.selected
        add("selected", chosen[:, metric_idx])
        cur = current[:, metric_idx]
        add("over_warning", cur >= warn[:, metric_idx])
        add("over_critical", cur >= crit[:, metric_idx])
        later = np.nan_to_num(point.actual[:, : min(horizon, 96)], nan=-np.inf)
        add("steady", (cur < warn[:, metric_idx]) & (later < line["warning"]).all(axis=1))
        over = point.actual >= line["critical"]  # [S, H, Mf]
        steps_30m = max(1, round(1800 / step))
        add("origin", np.full(point.servers.size, point.origin))
        add("server", point.servers)
        add("p30", risk.incident_probability_30m)
        add("p8", risk.incident_probability_8h)
        add("level", risk.metric_level[:, metric_idx].max(axis=1))
        add("hold", risk.hold_level[:, metric_idx].max(axis=1))
        add("o30", over[:, :steps_30m].any(axis=(1, 2)))
        add("o8", over.any(axis=(1, 2)))
    return {k: np.concatenate(v) for k, v in rows.items()}


def episodes(
    origin: npt.NDArray[np.int64],
    server: npt.NDArray[np.int64],
    level: npt.NDArray[np.int64],
    hold: npt.NDArray[np.int64] | None = None,
    resolve_after: int = 2,
) -> list[Episode]:
    """Alert episodes from per-origin levels, with the daemon's hysteresis.

    An episode opens at an origin whose level is at least warning, stays open while the
    hold level is (``hold``; default the level), and resolves after ``resolve_after``
    consecutive origins below it.
    """
    hold = level if hold is None else hold
    out = []
    for s in np.unique(server):
        mine = np.flatnonzero(server == s)
        order = mine[np.argsort(origin[mine])]
        start: int | None = None
        last_alert = 0
        quiet = 0
        for o, lv, hd in zip(
            origin[order].tolist(), level[order].tolist(), hold[order].tolist(), strict=True
        ):
            if lv >= WARNING or (start is not None and hd >= WARNING):
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
    warning: npt.NDArray[np.float64] | None = None,
) -> dict[str, Any]:
    """Recall, precision, lead times and false alerts per server-week.

    With ``warning`` (float[servers, metrics of the fleet]) also the lead before the
    warning crossing: from the episode's start to the first step at or after the onset
    where any metric reaches warning, over the episodes that opened before it.
    """
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
    detected, leads, before = 0, [], []
    for s, onset, end in incidents:
        starts = [e.start for e in found if e.server == s and onset - horizon <= e.start <= end]
        if not starts:
            continue
        detected += 1
        leads.append((onset - min(starts)) * step / 60)
        crossing = None if warning is None else _first_crossing(fleet, s, onset, end, warning[s])
        if crossing is not None and min(starts) < crossing:
            before.append((crossing - min(starts)) * step / 60)
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
        "lead_minutes_quartiles": _quartiles(leads),
        "opened_before_warning_crossing": len(before),
        "median_lead_before_warning_minutes": round(float(np.median(before)), 1)
        if before
        else None,
        "lead_before_warning_quartiles": _quartiles(before),
        "false_alerts_per_server_week": round(false_alerts / (len(fleet.names) * weeks), 3)
        if weeks > 0
        else None,
    }


def _quartiles(values: list[float]) -> list[float] | None:
    if not values:
        return None
    return [round(float(v), 1) for v in np.percentile(values, [25, 50, 75])]


def _first_crossing(
    fleet: BucketedFleet, s: int, onset: int, end: int, warning: npt.NDArray[np.float64]
) -> int | None:
    """The first bucket in [onset, end] where any metric of server ``s`` reaches warning."""
    base = int(fleet.first[s])
    values = fleet.values[s][max(0, onset - base) : max(0, end + 1 - base)]
    hit = (np.nan_to_num(values, nan=-np.inf) >= warning).any(axis=1)
    return onset + int(hit.argmax()) if hit.any() else None


def reliability(
    predicted: npt.NDArray[np.float64], observed: npt.NDArray[np.bool_], bins: int = 10
) -> dict[str, Any]:
    """Brier score and skill against the base rate, and a reliability table per bin."""
    keep = ~np.isnan(predicted)
    p = np.clip(predicted[keep].astype(np.float64), 0, 1)
    o = observed[keep].astype(np.float64)
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
    brier = float(np.mean((p - o) ** 2)) if p.size else None
    base = float(o.mean()) if o.size else None
    reference = None if base is None else base * (1 - base)
    return {
        "brier": None if brier is None else round(brier, 5),
        "base_rate": None if base is None else round(base, 4),
        "brier_skill": round(1 - brier / reference, 4) if brier is not None and reference else None,
        "cases": int(p.size),
        "table": table,
    }


def evaluate_incidents(
    fleet: BucketedFleet,
    labels: pd.DataFrame,
    forecaster: Forecaster,
    thresholds: Thresholds,
    config: BacktestConfig,
    policy: AlertPolicy | None = None,
) -> dict[str, Any]:
    """The incident and reliability part of a report."""
    calibration = model_calibration(forecaster.info.artifact_dir)
    rows = run_risk(fleet, forecaster, thresholds, config, calibration=calibration, policy=policy)
    if "origin" not in rows:
        return {"incidents": None, "reliability": None}
    found = episodes(rows["origin"], rows["server"], rows["level"], rows["hold"])
    span = (int(rows["origin"].min()), int(rows["origin"].max()))
    warn, _ = thresholds.arrays(fleet.profiles, fleet.metrics)
    steady = rows["critical_within_8h"][rows["steady"]]
    return {
        "stride_steps": config.stride_steps,
        "calibrated": calibration is not None,
        "incidents": incident_scores(
            fleet, labels, found, span, forecaster.info.horizon_steps, warn
        ),
        "reliability": {
            window: reliability(rows[window].ravel(), rows[f"seen:{window}"].ravel())
            for window in WINDOW_STEPS
        },
        "server_reliability": {
            "critical_within_30m": reliability(rows["p30"], rows["o30"]),
            "critical_within_8h": reliability(rows["p8"], rows["o8"]),
        },
        "steady_critical_8h": {
            "cases": int(steady.size),
            "mean": round(float(np.nanmean(steady)), 4) if steady.size else None,
            "p95": round(float(np.nanpercentile(steady, 95)), 4) if steady.size else None,
        },
    }
