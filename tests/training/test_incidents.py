"""Incident scoring: alert episodes with hysteresis, event-level recall, reliability."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from tftmon.cli import evaluate_main
from tftmon.training.dataset import BucketedFleet
from tftmon.training.incidents import Episode, episodes, incident_scores, reliability

STEP = 300


def test_episodes_close_after_quiet_origins() -> None:
    origin = np.arange(10)
    level = np.array([0, 2, 2, 0, 2, 0, 0, 3, 0, 0])
    found = episodes(origin, np.zeros(10, np.int64), level, resolve_after=2)
    assert found == [Episode(0, 1, 4), Episode(0, 7, 7)]


def test_event_level_scores_without_point_adjustment() -> None:
    fleet = BucketedFleet(
        ["a", "b"], ["generic"] * 2, np.array([0, 0]), [np.zeros((4000, 1))] * 2, ("cpu_pct",), STEP
    )

    def stamp(bucket: int) -> str:
        return pd.Timestamp(bucket * STEP, unit="s", tz="UTC").isoformat()

    labels = pd.DataFrame(
        {
            "server_name": ["a", "a", "b"],
            "start": [stamp(1000), stamp(2000), stamp(3000)],
            "end": [stamp(1010), stamp(2010), stamp(3010)],
            "kind": ["x"] * 3,
        }
    )
    found = [
        Episode(0, 994, 1005),  # 6 steps (30 min) before the first incident: detected
        Episode(0, 2005, 2008),  # after onset, before end: detected, lead -25 min
        Episode(1, 100, 101),
    ]  # nothing near: a false alert
    scores = incident_scores(fleet, labels, found, (0, 3999), horizon=96)
    assert scores["incidents"] == 3 and scores["detected"] == 2
    assert scores["recall"] == round(2 / 3, 4)
    assert scores["precision"] == round(2 / 3, 4)
    assert scores["median_lead_minutes"] == 2.5  # median of +30 and -25 minutes
    weeks = 3999 * STEP / (7 * 86_400)
    assert scores["false_alerts_per_server_week"] == round(1 / (2 * weeks), 3)


def test_reliability_table() -> None:
    p = np.array([0.05] * 100 + [0.95] * 100)
    o = np.array([False] * 95 + [True] * 5 + [True] * 90 + [False] * 10)
    out = reliability(p, o)
    assert [row["observed"] for row in out["table"]] == [0.05, 0.9]
    assert out["brier"] < 0.1


def test_evaluate_with_labels_end_to_end(tiny_model: Path, tmp_path: Path) -> None:
    from tftmon.generator import FleetSimulator, fleet_servers
    from tftmon.generator.output import to_frame, write_frame, write_labels

    sim = FleetSimulator(fleet_servers(4), seed=5, incident_rate=10)
    times = 1767571200.0 + np.arange(0, 3 * 86_400, 300.0)
    values, states = sim.sample(times)
    write_frame(to_frame(times, sim.names, sim.profiles, values, states), tmp_path / "d.parquet")
    write_labels(sim.incidents, sim.names, tmp_path / "labels.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert (
            evaluate_main(
                [
                    "--model",
                    str(tiny_model / "tiny"),
                    "--data",
                    str(tmp_path / "d.parquet"),
                    "--labels",
                    str(tmp_path / "labels.csv"),
                    "--stride",
                    "96",
                    "--incident-stride",
                    "6",
                    "--report",
                    str(tmp_path / "r.json"),
                ]
            )
            == 0
        )
    section = json.loads((tmp_path / "r.json").read_text())["incident_evaluation"]
    assert section["incidents"]["incidents"] > 0
    assert 0 <= section["incidents"]["recall"] <= 1
    assert section["reliability"]["critical_within_8h"]["table"]
