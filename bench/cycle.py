"""The whole inference cycle with the TFT, stage by stage: general, eager and compiled paths.

For each fleet size an in-process daemon (the real app through httpx's TestClient, the
shipped model, ``TFTMON_COMPILE=on``) holds N servers with 400 five-minute buckets of every
metric (the full encoder plus the selection's spans) and runs inference cycles by hand:

* ``general``: the network's own pytorch-forecasting forward (the baseline of this run);
* ``eager``: the serving network, nothing kept from earlier cycles;
* ``compiled``: the serving network compiled (timed once the background compile is done);
* ``steady``: compiled, after the cycle of two hours before ran (its forecasts are the
  selection judge's, ``forecast.memo``), as in a daemon that has been running.

Each prints the cycle's wall time and its stages (``InferenceCycle.last_stages_ms``:
snapshot, forecast, risk, monitor, document, exposition) and the ratio general / path.

Usage: .venv/bin/python bench/cycle.py [--sizes 1000 10000]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

from fastapi.testclient import TestClient  # noqa: E402
from metrics_scrape import KEY, fill  # noqa: E402

from tftmon.api.app import create_app  # noqa: E402
from tftmon.forecast.selection import earlier  # noqa: E402
from tftmon.settings import Settings  # noqa: E402

STEPS = 400


def timed_cycle(cycle) -> tuple[float, dict[str, float]]:
    began = time.perf_counter()
    if cycle.run_cycle() is None:
        raise SystemExit(f"cycle failed: {cycle.last_error}")
    return time.perf_counter() - began, dict(cycle.last_stages_ms)


def one(n_servers: int) -> dict[str, tuple[float, dict[str, float]]]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            data_dir=Path(tmp) / "data",
            models_dir=REPO / "models",
            device="cpu",
            compile="on",
            api_keys=[KEY],
            inference_interval_s=3600,
            inference_min_gap_s=3600,  # cycles only when this script runs one
            model_watch=False,
            rate_limit_ingest_per_s=0,
        )
        with TestClient(create_app(settings), headers={"X-API-Key": KEY}) as client:
            began = time.perf_counter()
            fill(client, n_servers, steps=STEPS)
            took = time.perf_counter() - began
            print(f"  {n_servers} servers x {STEPS + 1} buckets stored in {took:.0f} s")
            cycle = client.app.state.daemon.cycle
            forecaster = cycle.models.served.forecaster
            if not forecaster.compiled.wait(timeout=1200):
                raise SystemExit(f"compile failed: {forecaster.serving_state}")
            compiled, serving, past = forecaster.compiled, forecaster.serving, forecaster.past
            results = {}
            forecaster.past = None  # nothing kept from earlier cycles
            forecaster.compiled, forecaster.serving = None, None
            results["general"] = timed_cycle(cycle)
            forecaster.serving = serving
            timed_cycle(cycle)  # warm-up of the eager path
            results["eager"] = timed_cycle(cycle)
            forecaster.compiled = compiled
            timed_cycle(cycle)
            results["compiled"] = timed_cycle(cycle)
            forecaster.past = past  # the cycle of selection_steps buckets ago, then this one
            windows = cycle.fleet.snapshot().windows
            for start in range(0, len(windows), cycle.chunk_size):
                forecaster.forecast(earlier(windows.part(start, start + cycle.chunk_size), 24))
            results["steady"] = timed_cycle(cycle)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    model = (REPO / "models" / "LATEST").read_text().strip()
    print(f"tftmon bench/cycle.py: {os.cpu_count()} CPUs, model {model}")
    for n in args.sizes:
        results = one(n)
        general = results["general"][0]
        for path, (took, stages) in results.items():
            parts = ", ".join(f"{k} {v / 1000:.2f}" for k, v in stages.items())
            print(
                f"{n:>6} servers {path:>8s}: cycle {took:6.2f} s ({general / took:4.2f}x of "
                f"general) | {parts} (s)"
            )


if __name__ == "__main__":
    main()
