"""bench/ingest.py runs end to end at small sizes (the figures themselves are not asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_bench_ingest_quick() -> None:
    out = subprocess.run(
        [sys.executable, str(REPO / "bench" / "ingest.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    text = out.stdout
    for heading in ("[1] durable ingest", "[2] 20-record POST", "[3] RSS", "[4] restart"):
        assert heading in text
    assert text.count("ratio") >= 4


def test_bench_inference_quick() -> None:
    out = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "inference.py"),
            "--sizes",
            "20",
            "--predict-up-to",
            "20",
            "--repeats",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert "predict()" in out.stdout
    [row] = [line for line in out.stdout.splitlines() if line.strip().startswith("20 ")]
    assert row.strip().endswith("MB")
    assert "x" in row  # the ratio column


def test_bench_live_scoring_quick() -> None:
    out = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "live_scoring.py"),
            "--sizes",
            "20",
            "--cycles",
            "30",
            "--baseline",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    [row] = [line for line in out.stdout.splitlines() if line.strip().startswith("20 ")]
    assert len(row.split()) == 6
    assert "scored cpu_pct points" in out.stdout
