"""The default model's training data: real server series plus generated fleet dynamics.

Parts (each a ``BucketedFleet`` of 5-minute steps over the four metrics):

* ``regimes``: generated servers with leaks, fills, lasting level shifts, growth, random
  walks, daily cycles at any hour, spikes and short incidents (``generator.regimes``);
* ``demo``: the demo fleet simulator (what ``metrics_generator.py`` streams);
* ``nab``: the NAB AWS CloudWatch CPU and disk series, first 70 % of each (the rest is the
  held-out-time backtest);
* ``azure``: the Azure VM CPU series of the training split (``azure_split``: four VMs in
  five by a hash of the name; the fifth is the held-out-VM backtest).

``combine`` shifts each part by whole weeks so that all parts end in the same week (time of
day and day of week are kept) and the validation period at the end covers every part.
The manifest (``describe``) goes into the model's metadata.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from tftmon.schemas import METRICS
from tftmon.training.dataset import BucketedFleet, bucket_frame

logger = logging.getLogger(__name__)

DATASETS: Final = Path("datasets")
NAB_TRAIN_FRACTION: Final = 0.7
WEEK_STEPS: Final = 7 * 288


@dataclass(frozen=True)
class MixtureConfig:
    """How much of each part (0 leaves a part out)."""

    regime_servers: int = 160
    regime_days: float = 28.0
    demo_servers: int = 20
    demo_days: float = 28.0
    nab: bool = True
    azure: bool = True
    seed: int = 7


def azure_split(name: str) -> str:
    """``train`` or ``test`` for an Azure VM: the test split is one VM in five (stable)."""
    digest = hashlib.sha256(name.encode()).digest()
    return "test" if digest[0] % 5 == 0 else "train"


def _all_metrics(fleet: BucketedFleet) -> BucketedFleet:
    """The same fleet with every metric of ``METRICS`` (NaN where it has none)."""
    if fleet.metrics == METRICS:
        return fleet
    idx = [METRICS.index(m) for m in fleet.metrics]
    values = []
    for v in fleet.values:
        full = np.full((v.shape[0], len(METRICS)), np.nan)
        full[:, idx] = v
        values.append(full)
    return BucketedFleet(
        fleet.names, fleet.profiles, fleet.first, values, METRICS, fleet.step_seconds
    )


def regimes_part(servers: int, days: float, seed: int) -> BucketedFleet:
    """Generated fleet dynamics (``generator.regimes``)."""
    from tftmon.generator.regimes import regime_fleet

    fleet = regime_fleet(servers, days, seed=seed)
    first = np.full(servers, fleet.first_bucket, np.int64)
    return BucketedFleet(fleet.names, fleet.profiles, first, list(fleet.values), METRICS, 300)


def demo_part(servers: int, days: float, seed: int) -> BucketedFleet:
    """The demo fleet simulator sampled at the model step."""
    from tftmon.generator import FleetSimulator, fleet_servers
    from tftmon.generator.output import to_frame

    sim = FleetSimulator(fleet_servers(servers), seed=seed)
    times = 1767571200.0 + np.arange(0, days * 86_400, 300.0)
    values, states = sim.sample(times)
    return bucket_frame(to_frame(times, sim.names, sim.profiles, values, states), 300)


def nab_part(datasets: Path = DATASETS, fraction: float = NAB_TRAIN_FRACTION) -> BucketedFleet:
    """The NAB CloudWatch CPU and disk series, each series' first ``fraction``."""
    from tftmon.training.nab import load_nab

    return _all_metrics(bucket_frame(load_nab(datasets / "nab"), 300)).head(fraction)


def azure_part(datasets: Path = DATASETS, split: str = "train") -> BucketedFleet:
    """The Azure VM CPU series of one split (``train`` or ``test``)."""
    import pandas as pd

    frame = pd.read_csv(datasets / "azure_v1" / "azurev1.csv.gz")
    keep = frame["server_name"].map(azure_split) == split
    frame = frame[keep].copy()
    frame["profile"] = "generic"
    return _all_metrics(bucket_frame(frame, 300))


def combine(parts: dict[str, BucketedFleet]) -> BucketedFleet:
    """All parts in one fleet, each shifted by whole weeks to end in the same week."""
    end = max(p.span[1] for p in parts.values())
    names: list[str] = []
    profiles: list[str] = []
    firsts: list[np.ndarray] = []
    values: list[np.ndarray] = []
    for label, part in parts.items():
        shift = ((end - part.span[1]) // WEEK_STEPS) * WEEK_STEPS
        names += [f"{label}:{n}" for n in part.names]
        profiles += part.profiles
        firsts.append(part.first + shift)
        values += part.values
    return BucketedFleet(names, profiles, np.concatenate(firsts), values, METRICS, 300)


def build(config: MixtureConfig, datasets: Path = DATASETS) -> tuple[BucketedFleet, dict[str, Any]]:
    """The training fleet and its manifest."""
    parts: dict[str, BucketedFleet] = {}
    if config.regime_servers:
        parts["regimes"] = regimes_part(config.regime_servers, config.regime_days, config.seed)
    if config.demo_servers:
        parts["demo"] = demo_part(config.demo_servers, config.demo_days, config.seed)
    if config.nab:
        parts["nab"] = nab_part(datasets)
    if config.azure:
        parts["azure"] = azure_part(datasets, "train")
    if not parts:
        raise ValueError("the mixture is empty")
    return combine(parts), describe(parts, config)


def describe(parts: dict[str, BucketedFleet], config: MixtureConfig) -> dict[str, Any]:
    """What went into the mixture: per part, series, steps and where it came from."""
    sources = {
        "regimes": "generated (tftmon.generator.regimes)",
        "demo": "generated (tftmon.generator.FleetSimulator)",
        "nab": f"datasets/nab (NAB realAWSCloudwatch, MIT; first {NAB_TRAIN_FRACTION:.0%})",
        "azure": "datasets/azure_v1 (Azure Public Dataset V1, CC BY 4.0; train split by VM)",
    }
    return {
        "seed": config.seed,
        "parts": {
            label: {
                "source": sources[label],
                "series": len(part.names),
                "steps": int(sum(len(v) for v in part.values)),
                "metrics": [
                    m
                    for j, m in enumerate(METRICS)
                    if m in part.metrics
                    and any(not np.isnan(v[:, part.metrics.index(m)]).all() for v in part.values)
                ],
                **({"days": config.regime_days} if label == "regimes" else {}),
                **({"days": config.demo_days} if label == "demo" else {}),
            }
            for label, part in parts.items()
        },
    }
