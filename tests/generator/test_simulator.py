"""The fleet simulator: names, realism checks, incidents with lead-up, reproducibility."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from tftmon.generator import FleetSimulator, fleet_servers
from tftmon.schemas import STATES, MetricRecord

REPO = Path(__file__).resolve().parents[2]
MONDAY = 1767571200.0  # 2026-01-05T00:00:00Z
CRITICAL = {
    "memory_leak": (1, 98),
    "cpu_runaway": (0, 95),
    "disk_saturation": (2, 400),
    "latency_storm": (3, 1000),
}


def test_default_fleet_names() -> None:
    names = [n for n, _ in fleet_servers()]
    assert names[:4] == ["ppml0001", "ppml0002", "ppml0003", "ppml0004"]
    assert names[4:7] == ["ppdb001", "ppdb002", "ppdb003"]
    assert names[7:15] == [f"ppweb{i:03d}" for i in range(1, 9)]
    assert names[15:] == ["ppcon01", "ppetl001", "ppetl002", "pprisk001", "ppgen001"]
    more = fleet_servers(25)
    assert [n for n, _ in more[20:]] == ["ppml0005", "ppml0006", "ppml0007", "ppml0008", "ppdb004"]


def month() -> tuple[FleetSimulator, np.ndarray, np.ndarray, np.ndarray]:
    sim = FleetSimulator(fleet_servers(), seed=11)
    times = MONDAY + np.arange(0, 28 * 86_400, 300.0)
    values, states = sim.sample(times)
    return sim, times, values, states


def test_signals_are_realistic() -> None:
    sim, times, values, _ = month()
    cpu, lat = values[..., 0], values[..., 3]
    assert cpu.min() > 0 and cpu.max() <= 100 and values[..., 1].max() <= 100
    assert (values >= 0).all()
    web = sim.profiles.index("web_api")
    hour = (times % 86_400) / 3600
    weekday = ((times // 86_400) + 3) % 7 < 5
    day = cpu[(hour > 12) & (hour < 15) & weekday, web].mean()
    night = cpu[(hour > 1) & (hour < 4), web].mean()
    assert day > night + 15  # daily cycle
    # cpu drives latency, noise is autocorrelated
    assert np.corrcoef(cpu[:, web], np.log(lat[:, web]))[0, 1] > 0.5
    resid = np.diff(cpu[:, 0])
    assert np.corrcoef(cpu[:-1, 0] - cpu[:, 0].mean(), cpu[1:, 0] - cpu[:, 0].mean())[0, 1] > 0.8
    assert resid.std() < cpu[:, 0].std()


def test_incidents_rate_lead_up_and_crossing() -> None:
    sim, times, values, states = month()
    per_week = len(sim.incidents) / 20 / 4
    assert 1.2 < per_week < 3.0
    assert {i.kind for i in sim.incidents} == set(CRITICAL)
    for inc in sim.incidents:
        if inc.end > times[-1]:
            continue
        metric, threshold = CRITICAL[inc.kind]
        during = (times >= inc.onset) & (times < inc.end)
        lead = (times >= inc.lead_start) & (times < inc.onset - 600)
        series = values[:, inc.server, metric]
        assert series[during].max() >= threshold, inc
        assert inc.onset - inc.lead_start >= 600
        if lead.sum() > 3:  # the lead-up rises towards the threshold
            assert series[lead][-1] > series[lead][0], inc
        assert (states[during, inc.server] == STATES.index("critical_issue")).all()


def test_records_pass_the_data_contract() -> None:
    from tftmon.generator.stream import records_of

    sim = FleetSimulator(fleet_servers(), seed=2)
    times = MONDAY + np.arange(3) * 5.0
    values, states = sim.sample(times)
    for rec in records_of(sim, times, values, states):
        MetricRecord.model_validate(rec)


def test_reproducible_and_independent_of_call_sizes() -> None:
    times = MONDAY + np.arange(0, 3 * 86_400, 300.0)
    one = FleetSimulator(fleet_servers(5), seed=3)
    va, sa = one.sample(times)
    other = FleetSimulator(fleet_servers(5), seed=3)
    parts = [other.sample(times[i : i + 37]) for i in range(0, len(times), 37)]
    np.testing.assert_array_equal(va, np.concatenate([p[0] for p in parts]))
    np.testing.assert_array_equal(sa, np.concatenate([p[1] for p in parts]))
    key = lambda i: (i.onset, i.server)  # noqa: E731
    assert sorted(one.incidents, key=key) == sorted(other.incidents, key=key)


def test_critical_scenario_starts_incidents_now() -> None:
    sim = FleetSimulator(fleet_servers(), seed=4, incident_rate=0)
    sim.sample(MONDAY + np.arange(10) * 5.0)
    assert sim.incidents == []
    sim.set_scenario("critical")
    sim.sample(MONDAY + 50 + np.arange(10) * 5.0)
    assert len(sim.incidents) == 5
    assert all(i.onset - i.lead_start <= 1200 for i in sim.incidents)


def test_batch_mode_writes_data_and_labels(tmp_path: Path) -> None:
    out, labels = tmp_path / "fleet.parquet", tmp_path / "labels.csv"
    cmd = [
        sys.executable,
        str(REPO / "metrics_generator.py"),
        "--days",
        "7",
        "--out",
        str(out),
        "--labels",
        str(labels),
        "--seed",
        "5",
    ]
    subprocess.run(cmd, check=True, timeout=120, capture_output=True)
    frame = pd.read_parquet(out)
    assert len(frame) == 20 * 7 * 288
    assert list(frame.columns) == [
        "timestamp",
        "server_name",
        "cpu_pct",
        "mem_pct",
        "disk_io_mb_s",
        "latency_ms",
        "state",
        "profile",
    ]
    truth = pd.read_csv(labels)
    assert list(truth.columns)[:4] == ["server_name", "start", "end", "kind"]
    assert len(truth) > 5
    again = tmp_path / "again.csv"
    cmd[cmd.index(str(out))] = str(again)
    subprocess.run(cmd, check=True, timeout=120, capture_output=True)
    csv = pd.read_csv(again)
    assert np.allclose(csv["cpu_pct"], frame["cpu_pct"], atol=1e-3)  # same seed, same data
