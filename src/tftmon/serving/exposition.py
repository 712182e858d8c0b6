"""Forecasts on ``/metrics``: the Prometheus text exposition of one inference cycle.

Built once per cycle from the same arrays as the predictions document, so a scrape only
copies bytes. Per server and metric: forecast quantiles at a few horizons, the newest value,
the thresholds, the probability of crossing each threshold within 30 minutes and 8 hours, the
seconds until an expected crossing (absent when none is expected within the horizon); per
server: the forecast start, risk score, incident probabilities and an info series. Label
values are bounded: ``server`` and ``metric`` grow with the fleet, the rest are fixed sets
(q, horizon, level, window, profile, model_type). Past ``max_servers`` the servers of
the highest risk scores are kept.

Names and values follow Prometheus conventions (``promtool check metrics`` finds nothing):
base units in names (``_ratio`` for CPU and memory use and for probabilities, ``_bytes_per_second``
for disk, ``_seconds`` for latency and times), so values are the contract's divided by 100 (per
cent), times 1e6 (MB/s) or divided by 1000 (ms).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from tftmon.schemas import METRIC_SPECS, METRICS, check_covers_metrics
from tftmon.serving.document import ChunkInput

logger = logging.getLogger(__name__)

# each metric's values in base units (Prometheus conventions, linted by promtool): the family
# suffix (tftmon_forecast_<suffix>, tftmon_observed_<suffix>, tftmon_threshold_<suffix>)
# and the factor from the contract's unit
UNIT_NAMES: Final[dict[str, tuple[str, float]]] = {
    "cpu_pct": ("cpu_usage_ratio", 0.01),
    "mem_pct": ("memory_usage_ratio", 0.01),
    "disk_io_mb_s": ("disk_io_bytes_per_second", 1e6),
    "latency_ms": ("latency_seconds", 0.001),
}
check_covers_metrics(UNIT_NAMES, "serving.exposition.UNIT_NAMES")
_SCALE: Final = np.array([UNIT_NAMES[m][1] for m in METRICS])
_DESCRIPTION: Final = {spec.name: spec.description for spec in METRIC_SPECS}
# the exported crossing probabilities, in RiskAssessment's field names
_CROSSINGS: Final = ("p_warning_30m", "p_warning_8h", "p_critical_30m", "p_critical_8h")


@dataclass(frozen=True, slots=True)
class ExpositionSpec:
    """What ``/metrics`` exports of the forecasts.

    Attributes:
        quantiles: forecast levels (the model's nearest level is exported and labelled).
        horizons: (label, seconds after the forecast start); past the model's horizon: left out.
        max_servers: the most servers exported; the highest risk scores are kept past it.
    """

    quantiles: tuple[float, ...] = (0.5, 0.9)
    horizons: tuple[tuple[str, int], ...] = (
        ("30m", 1800),
        ("1h", 3600),
        ("4h", 14400),
        ("8h", 28800),
    )
    max_servers: int = 10_000


@dataclass(frozen=True, slots=True)
class _Part:
    """What the exposition needs of one chunk (small arrays; no full forecast)."""

    names: Sequence[str]
    profiles: Sequence[str]
    model_type: Sequence[str]
    values: npt.NDArray[np.float32]  # [S, M, Q', H']
    present: npt.NDArray[np.bool_]  # [S, M] False: a metric never reported (all-NaN forecast)
    observed: npt.NDArray[np.float32]  # [S, M]
    thresholds: npt.NDArray[np.float64]  # [S, M, 2] warning, critical
    crossing: npt.NDArray[np.float64]  # [S, M, 4] in _CROSSINGS order
    eta_s: npt.NDArray[np.int64]  # [S, M, 2] seconds to warning, critical; -1 none
    start_s: npt.NDArray[np.int64]  # [S]
    risk: npt.NDArray[np.float64]  # [S]
    incident: npt.NDArray[np.float64]  # [S, 2] 30m, 8h


class ExpositionBuilder:
    """Collects a cycle's chunks, then renders the exposition text once.

    Args:
        spec: quantiles, horizons and the server cap.
        levels: the model's quantile levels.
        horizon_steps, step_seconds: the model's horizon and step.
    """

    def __init__(
        self, spec: ExpositionSpec, levels: Sequence[float], horizon_steps: int, step_seconds: int
    ) -> None:
        self.spec = spec
        self.step_seconds = step_seconds
        picked = {int(np.abs(np.asarray(levels) - q).argmin()) for q in spec.quantiles}
        self._q_index = sorted(picked)
        self._q_labels = [_level_label(levels[i]) for i in self._q_index]
        self._h_index: list[int] = []
        self._h_labels: list[str] = []
        for label, seconds in spec.horizons:
            steps = max(1, round(seconds / step_seconds))
            if steps <= horizon_steps:
                self._h_index.append(steps - 1)
                self._h_labels.append(label)
        self._parts: list[_Part] = []
        self.omitted = 0

    def add(self, chunk: ChunkInput) -> None:
        """Keep what the exposition needs of one chunk."""
        q = chunk.output.quantiles  # [S, H, M, Q]
        values = q[:, self._h_index][:, :, :, self._q_index].transpose(0, 2, 3, 1)
        risk, step = chunk.risk, self.step_seconds
        eta = np.stack([risk.warning_step, risk.critical_step], axis=-1)
        self._parts.append(
            _Part(
                names=chunk.names,
                profiles=chunk.profiles,
                model_type=chunk.output.model_type,
                values=(np.round(values, 3) * _SCALE[None, :, None, None]).astype(np.float32),
                present=np.asarray(~np.isnan(q).all(axis=(1, 3))),
                observed=(np.asarray(chunk.windows.current) * _SCALE).astype(np.float32),
                thresholds=np.stack([chunk.warning, chunk.critical], axis=-1) * _SCALE[:, None],
                crossing=np.round(np.stack([getattr(risk, n) for n in _CROSSINGS], axis=-1), 4),
                eta_s=np.where(eta < 0, -1, np.maximum(eta - 1, 0) * step),
                start_s=(np.asarray(chunk.windows.end_bucket, np.int64) + 1) * step,
                risk=np.round(np.asarray(risk.risk_score, np.float64), 1).astype(np.float64),
                incident=np.round(
                    np.stack([risk.incident_probability_30m, risk.incident_probability_8h], -1), 4
                ).astype(np.float64),
            )
        )

    def render(self) -> bytes:
        """The exposition text of every collected server (at most ``max_servers``)."""
        if not self._parts:
            self.omitted = 0
            return b""
        part = _concat(self._parts)
        n = len(part.names)
        keep = np.arange(n)
        if n > self.spec.max_servers:
            riskiest = np.argsort(-part.risk, kind="stable")[: self.spec.max_servers]
            keep = np.sort(riskiest)
        if n - len(keep) != self.omitted:
            if n > len(keep):
                logger.warning(
                    "/metrics exports the %d riskiest of %d servers and leaves out %d "
                    "(TFTMON_METRICS_MAX_SERVERS=%d); /predictions/current has them all",
                    len(keep),
                    n,
                    n - len(keep),
                    self.spec.max_servers,
                )
            self.omitted = n - len(keep)
        return _render(part, keep, self._q_labels, self._h_labels).encode()


def _level_label(level: float) -> str:
    """``0.5`` → ``"0.5"``, ``0.9`` → ``"0.9"``, ``0.025`` → ``"0.025"``."""
    return f"{level:.4f}".rstrip("0").rstrip(".")


_ARRAYS: Final = (
    "values", "present", "observed", "thresholds", "crossing", "eta_s", "start_s", "risk",
    "incident",
)  # fmt: skip


def _concat(parts: list[_Part]) -> _Part:
    return _Part(
        [name for p in parts for name in p.names],
        [profile for p in parts for profile in p.profiles],
        [model for p in parts for model in p.model_type],
        *(np.concatenate([getattr(p, field) for p in parts]) for field in _ARRAYS),
    )


def _num(value: float) -> str:
    return f"{value:.4g}"  # 4 significant digits: 0.01 % of CPU, 0.1 ms of 100 ms


def _family(out: list[str], name: str, help_text: str) -> None:
    out.append(f"# HELP {name} {help_text}\n# TYPE {name} gauge\n")


def _render(
    part: _Part, keep: npt.NDArray[np.int64], q_labels: list[str], h_labels: list[str]
) -> str:
    """The text of the kept servers, family by family (a family's lines stay together)."""
    out: list[str] = []
    names = [part.names[i] for i in keep.tolist()]
    servers = [f'{{server="{name}"' for name in names]
    values = part.values[keep].tolist()  # [S][M][Q][H]
    observed = part.observed[keep].tolist()
    thresholds = part.thresholds[keep].tolist()
    crossing = part.crossing[keep].tolist()
    eta = part.eta_s[keep].tolist()
    # a metric the server never reported has an all-NaN forecast: no line of it at all
    present: list[list[bool]] = part.present[keep].tolist()
    for j, metric in enumerate(METRICS):
        family = f"tftmon_forecast_{UNIT_NAMES[metric][0]}"
        _family(
            out,
            family,
            f"Forecast quantile of {_DESCRIPTION[metric]}, by horizon after the forecast start",
        )
        for s, server in enumerate(servers):
            if not present[s][j]:
                continue
            for qi, q in enumerate(q_labels):
                row = values[s][j][qi]
                for hi, h in enumerate(h_labels):
                    v = row[hi]
                    if v == v:  # not NaN
                        out.append(f'{family}{server},q="{q}",horizon="{h}"}} {_num(v)}\n')
    for j, metric in enumerate(METRICS):
        family = f"tftmon_observed_{UNIT_NAMES[metric][0]}"
        _family(out, family, f"Newest value held of {_DESCRIPTION[metric]}")
        out.extend(
            f"{family}{server}}} {_num(observed[s][j])}\n"
            for s, server in enumerate(servers)
            if observed[s][j] == observed[s][j]
        )
    # thresholds are the profile's: one series per profile, joined to servers by server_info
    by_profile: dict[str, list[list[float]]] = {}
    for s, i in enumerate(keep.tolist()):
        by_profile.setdefault(part.profiles[i], thresholds[s])
    for j, metric in enumerate(METRICS):
        family = f"tftmon_threshold_{UNIT_NAMES[metric][0]}"
        _family(out, family, f"Warning and critical thresholds of {metric} by server profile")
        for profile, rows in sorted(by_profile.items()):
            warning, critical = rows[j]
            out.append(f'{family}{{profile="{profile}",level="warning"}} {_num(warning)}\n')
            out.append(f'{family}{{profile="{profile}",level="critical"}} {_num(critical)}\n')
    for k, level in enumerate(("warning", "critical")):
        family = f"tftmon_{level}_probability_ratio"
        _family(
            out,
            family,
            f"Calibrated probability that a metric reaches its {level} threshold within the window",
        )
        for s, server in enumerate(servers):
            for j, metric in enumerate(METRICS):
                if present[s][j]:
                    row = crossing[s][j]
                    prefix = f'{family}{server},metric="{metric}",window='
                    out.append(f'{prefix}"30m"}} {row[2 * k]:g}\n')
                    out.append(f'{prefix}"8h"}} {row[2 * k + 1]:g}\n')
    family = "tftmon_threshold_crossing_seconds"
    _family(
        out,
        family,
        "Seconds from the forecast start to the expected threshold crossing "
        "(absent: none expected within the horizon)",
    )
    for s, server in enumerate(servers):
        for j, metric in enumerate(METRICS):
            for k, level in enumerate(("warning", "critical")):
                seconds = eta[s][j][k]
                if seconds >= 0 and present[s][j]:
                    out.append(f'{family}{server},metric="{metric}",level="{level}"}} {seconds}\n')
    _per_server(out, part, keep, servers)
    return "".join(out)


def _per_server(
    out: list[str], part: _Part, keep: npt.NDArray[np.int64], servers: list[str]
) -> None:
    idx = keep.tolist()
    family = "tftmon_forecast_start_timestamp_seconds"
    _family(out, family, "Start of the server's forecast (the first forecast step), Unix seconds")
    start = part.start_s[keep].tolist()
    out.extend(f"{family}{server}}} {start[s]}\n" for s, server in enumerate(servers))
    family = "tftmon_server_info"
    _family(out, family, "Profile and serving model of each forecast server (value 1)")
    out.extend(
        f'{family}{server},profile="{part.profiles[i]}",model_type="{part.model_type[i]}"}} 1\n'
        for server, i in zip(servers, idx, strict=True)
    )
    family = "tftmon_server_risk_score"
    _family(out, family, "Risk score 0-100")
    risk = part.risk[keep].tolist()
    out.extend(f"{family}{server}}} {risk[s]:g}\n" for s, server in enumerate(servers))
    family = "tftmon_server_incident_probability"
    _family(out, family, "Probability of crossing a critical threshold within the window")
    incident = part.incident[keep].tolist()
    for s, server in enumerate(servers):
        out.append(f'{family}{server},window="30m"}} {incident[s][0]:g}\n')
        out.append(f'{family}{server},window="8h"}} {incident[s][1]:g}\n')
