"""A tiny TFT trained once per session on the demo fleet (seconds on CPU)."""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tftmon.generator import FleetSimulator, fleet_servers
from tftmon.generator.output import to_frame
from tftmon.generator.profiles import PROFILES
from tftmon.training.dataset import BucketedFleet, bucket_frame
from tftmon.training.train import TrainConfig, train

ENCODER, HORIZON, MIN_ENCODER = 48, 12, 4


@pytest.fixture(scope="session")
def tiny_fleet() -> BucketedFleet:
    sim = FleetSimulator(fleet_servers(6), seed=1)
    times = 1767571200.0 + np.arange(0, 3 * 86_400, 300.0)
    values, states = sim.sample(times)
    return bucket_frame(to_frame(times, sim.names, sim.profiles, values, states), 300)


def train_tiny(
    models: Path, fleet: BucketedFleet, normalizer: str, relative_time_idx: bool = True
) -> Path:
    """Train the tiny model into ``models/tiny`` (and LATEST)."""
    config = tiny_config(
        max_epochs=1,
        limit_train_batches=4,
        target_normalizer=normalizer,
        relative_time_idx=relative_time_idx,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train(fleet, models, "tiny", config, source="tests")
    return models


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, tiny_fleet: BucketedFleet) -> Path:
    """``models/`` holding one trained version, ``tiny``, named by LATEST."""
    return train_tiny(tmp_path_factory.mktemp("models"), tiny_fleet, "last")


@pytest.fixture(scope="session")
def tiny_encoder_model(tmp_path_factory: pytest.TempPathFactory, tiny_fleet: BucketedFleet) -> Path:
    """The same with mean-centred per-window scaling (the format of demo-fleet-v2)."""
    return train_tiny(tmp_path_factory.mktemp("models-encoder"), tiny_fleet, "encoder", False)


@pytest.fixture(scope="session")
def tiny_identity_model(
    tmp_path_factory: pytest.TempPathFactory, tiny_fleet: BucketedFleet
) -> Path:
    """The same, with targets left unscaled (the format of the first shipped model)."""
    return train_tiny(tmp_path_factory.mktemp("models-identity"), tiny_fleet, "identity", False)


DRIFT_START = 1767571200.0 + 2 * 86_400  # two normal days, then ml_compute changes
DRIFTED = replace(
    PROFILES["ml_compute"], peak_hours=(9.0, 17.0), idle_load=0.1, busy_load=0.85, mem_base=75
)


def drift_frame(days_after: float = 2.0, seed: int = 3) -> pd.DataFrame:
    """Six servers (4 ml_compute, 2 database): two normal days, then ``days_after`` days in
    which ml_compute works office hours at a higher load and memory (the rest unchanged)."""
    sim = FleetSimulator(fleet_servers(6), seed=seed, incident_rate=0.0)
    before = 1767571200.0 + np.arange(0, 2 * 86_400, 300.0)
    after = DRIFT_START + np.arange(0, days_after * 86_400, 300.0)
    values, states = sim.sample(before)
    sim.change_profile("ml_compute", DRIFTED)
    values2, states2 = sim.sample(after)
    return to_frame(
        np.concatenate([before, after]),
        sim.names,
        sim.profiles,
        np.concatenate([values, values2]),
        np.concatenate([states, states2]),
    )


def tiny_config(**changes: object) -> TrainConfig:
    """The tiny architecture, with ``changes``."""
    base = TrainConfig(
        encoder_steps=ENCODER,
        horizon_steps=HORIZON,
        min_encoder_steps=MIN_ENCODER,
        hidden_size=8,
        attention_heads=2,
        hidden_continuous_size=4,
        batch_size=32,
        max_epochs=2,
        limit_train_batches=8,
        limit_val_batches=2,
        progress=False,
        accelerator="cpu",
    )
    return replace(base, **changes)  # type: ignore[arg-type]
