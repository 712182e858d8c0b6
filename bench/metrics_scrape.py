"""Scrape cost of the forecasts on ``/metrics`` against ``/predictions/current``, same run.

For each fleet size an in-process daemon (the real app, ASGI through httpx's TestClient,
the baseline forecaster so the fleet fills in seconds) holds N servers with a few hours of
history on every metric, runs one inference cycle, and is scraped ``--repeats`` times:
``GET /metrics`` (the default horizons and quantiles) against ``GET /predictions/current``
(the baseline: the document the same cycle built). Prints the median seconds and the
bytes of each, their ratio, and what rendering the exposition adds to the cycle (a cycle
with the default exposition against one exporting no server, same fleet).

Targets (issue 15): 10,000 servers scraped in <= 1 s, <= 50 MB of exposition.

Usage: .venv/bin/python bench/metrics_scrape.py [--sizes 1000 10000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from fastapi.testclient import TestClient  # noqa: E402

from tftmon.api.app import create_app  # noqa: E402
from tftmon.serving.exposition import ExpositionSpec  # noqa: E402
from tftmon.settings import Settings  # noqa: E402
from tftmon.timefmt import iso_z  # noqa: E402

KEY = "bench-key-0123456789abcdefghijkl"
STEP = 300
PREFIXES = ("ppml", "ppdb", "ppweb", "ppcon", "ppetl", "pprisk")


def fill(client: TestClient, n_servers: int, steps: int) -> None:
    """``steps`` five-minute samples of every server, the newest just closed."""
    rng = np.random.default_rng(7)
    now = int(time.time()) // STEP * STEP
    names = [f"{PREFIXES[i % len(PREFIXES)]}{i:05d}" for i in range(n_servers)]
    level = rng.uniform(10, 80, size=(n_servers, 4))
    batch: list[dict[str, object]] = []
    for k in range(steps + 1):
        t = iso_z(now - (steps - k) * STEP)
        noise = rng.normal(0, 3, size=(n_servers, 4))
        values = np.clip(level + noise + k * rng.uniform(-0.5, 1.5, size=(n_servers, 1)), 0, 100)
        for i, name in enumerate(names):
            cpu, mem, disk, lat = values[i].round(2).tolist()
            batch.append(
                {"timestamp": t, "server_name": name, "cpu_pct": cpu, "mem_pct": mem,
                 "disk_io_mb_s": disk, "latency_ms": lat * 3}
            )  # fmt: skip
            if len(batch) == 10_000:
                _post(client, batch)
                batch = []
    if batch:
        _post(client, batch)


def _post(client: TestClient, batch: list[dict[str, object]]) -> None:
    r = client.post(
        "/feed", content=orjson.dumps(batch), headers={"Content-Type": "application/json"}
    )
    r.raise_for_status()


def timed(client: TestClient, path: str, repeats: int) -> tuple[float, int]:
    """Median seconds and bytes of ``repeats`` GETs of ``path``."""
    times, size = [], 0
    for _ in range(repeats):
        began = time.perf_counter()
        r = client.get(path, headers={"Authorization": f"Bearer {KEY}"})
        times.append(time.perf_counter() - began)
        r.raise_for_status()
        size = len(r.content)
    return statistics.median(times), size


def one(n_servers: int, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            data_dir=Path(tmp) / "data",
            models_dir=Path(tmp) / "models",  # empty: the baseline forecaster
            api_keys=[KEY],
            inference_interval_s=3600,
            model_watch=False,
        )
        with TestClient(create_app(settings), headers={"X-API-Key": KEY}) as client:
            fill(client, n_servers, steps=24)
            cycle = client.app.state.daemon.cycle
            spec = cycle.exposition
            cycles: dict[str, float] = {}
            for _ in range(2):  # alternated, the best of two each
                for label, use in (("none", ExpositionSpec(max_servers=0)), ("default", spec)):
                    cycle.exposition = use
                    began = time.perf_counter()
                    cycle.run_cycle()
                    took = time.perf_counter() - began
                    cycles[label] = min(cycles.get(label, took), took)
            metrics_s, metrics_b = timed(client, "/metrics", repeats)
            doc_s, doc_b = timed(client, "/predictions/current", repeats)
            summary_s, summary_b = timed(client, "/predictions/current?view=summary", repeats)
    print(
        f"{n_servers:>6} servers | /metrics {metrics_s * 1000:7.1f} ms {metrics_b / 1e6:6.1f} MB"
        f" | /predictions/current {doc_s * 1000:7.1f} ms {doc_b / 1e6:6.1f} MB"
        f" (summary {summary_s * 1000:6.1f} ms {summary_b / 1e6:5.1f} MB)"
        f" | metrics/predictions {metrics_s / doc_s:4.2f} time, {metrics_b / doc_b:4.2f} bytes"
        f" | cycle {cycles['default']:.2f} s vs {cycles['none']:.2f} s without the exposition"
        f" ({cycles['default'] / cycles['none']:.2f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for n in args.sizes:
        one(n, args.repeats)


if __name__ == "__main__":
    main()
