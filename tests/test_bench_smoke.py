"""The bench scripts run end to end at small sizes (the figures themselves are not asserted)."""

from __future__ import annotations

import pytest

from tests.servers import run_script

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_bench_ingest_quick() -> None:
    out = run_script("bench/ingest.py", "--quick", timeout=300, check=True)
    text = out.stdout
    for heading in ("[1] durable ingest", "[2] 20-record POST", "[3] RSS", "[4] restart"):
        assert heading in text
    assert text.count("ratio") >= 4


def test_bench_inference_quick() -> None:
    out = run_script(
        "bench/inference.py",
        # the compiled paths compile for a minute or more on 2 cores: tested on a tiny
        # model in tests/forecast/test_compiled.py
        *("--sizes", "20", "--predict-up-to", "20", "--repeats", "1"),
        *("--paths", "general", "eager", "network", "predict"),
        timeout=300,
        check=True,
    )
    assert "predict()" in out.stdout
    rows = [line for line in out.stdout.splitlines() if line.strip().startswith("20 ")]
    [row] = [line for line in rows if line.strip().endswith("MB")]  # the table's row
    assert row.count("x") == 2  # the ratio columns measured (general/eager, predict/network)
    assert any("eager:" in line for line in rows)  # its stages


def test_bench_live_scoring_quick() -> None:
    out = run_script(
        "bench/live_scoring.py",
        *("--sizes", "20", "--cycles", "30", "--baseline"),
        timeout=300,
        check=True,
    )
    [row] = [line for line in out.stdout.splitlines() if line.strip().startswith("20 ")]
    assert len(row.split()) == 6
    assert "scored cpu_pct points" in out.stdout


def test_bench_adapters_quick() -> None:
    out = run_script("bench/adapters.py", "--quick", timeout=300, check=True).stdout
    assert "[1] MongoDB -> daemon" in out and "[2] 2 SIGKILL/restart cycles" in out
    assert out.count("ratio") >= 3
    assert "stored by the daemon: 10,000 of 10,000" in out
    assert "(lost 0)" in out


def test_bench_dashboard_small() -> None:
    pytest.importorskip("selenium")
    out = run_script(
        "bench/dashboard.py", "--servers", "20", "--refreshes", "1", timeout=300, check=True
    ).stdout
    assert "ratio (fleet / empty)" in out


def test_bench_remote_write_quick() -> None:
    out = run_script("bench/remote_write.py", "--quick", timeout=120, check=True).stdout
    assert "[1] POST /feed: 200 records" in out and "-> 200 records stored" in out
    assert "samples dropped: none" in out and "ratio" in out


def test_bench_retrain_memory_quick() -> None:
    out = run_script("bench/retrain_memory.py", "--quick", timeout=120, check=True).stdout
    assert "[1] retraining's history read: 50 servers" in out
    assert "server by server" in out and "whole table (baseline)" in out
    assert out.count("ratio") >= 3


def test_bench_load_quick() -> None:
    out = run_script("bench/load.py", "--quick", timeout=300, check=True).stdout
    assert "[1] load: 4 senders" in out and "[2] server cap" in out
    assert "200 server_limit (of 200 past the cap), 0 for another reason" in out
    assert "excess refused cleanly: yes" in out
    assert out.count("ratio") >= 2
