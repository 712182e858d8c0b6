"""Cost of live scoring per inference cycle, against the forecast it rides along with.

For each fleet size, demo servers with a day of 5-minute buckets are forecast once by the
served model (models/LATEST unless --model; ``--baseline`` for the seasonal naive), then
the daemon's ``DriftMonitor`` runs ``score`` + ``record`` + ``refresh`` for ``--cycles``
consecutive buckets (the steady state: a forecast logged per server every 12 steps, each
closed bucket scored against every logged forecast that covers it). Prints the median
forecast time, the median and worst scoring time per cycle, their ratio, and the memory
of the kept forecasts.

Usage: .venv/bin/python bench/live_scoring.py [--sizes 100 1000] [--cycles 120]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--cycles", type=int, default=120, help="consecutive buckets scored")
    parser.add_argument("--model", type=Path, help="models/<version> (default: LATEST)")
    parser.add_argument("--baseline", action="store_true", help="forecast with the baseline")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    import numpy as np

    from tftmon.forecast import Forecaster
    from tftmon.forecast.baseline import BaselineForecaster
    from tftmon.forecast.tft import TFTForecaster
    from tftmon.generator import FleetSimulator, fleet_servers
    from tftmon.monitoring.live import DriftMonitor
    from tftmon.windows import WindowSnapshot

    forecaster: Forecaster
    if args.baseline:
        forecaster = BaselineForecaster(96, 300)
    elif args.model is not None:
        forecaster = TFTForecaster.load(args.model.parent, args.model.name, device="cpu")
    else:
        forecaster = TFTForecaster.load(REPO / "models", device="cpu")
    info = forecaster.info
    length, step = 288, info.step_seconds
    print(f"model {info.model_type} {info.version}, horizon {info.horizon_steps}, window {length}")
    print(
        f"{'servers':>8s} {'forecast ms':>12s} {'score ms p50':>13s} {'worst':>8s} "
        f"{'ratio':>7s} {'kept MB':>8s}"
    )
    for n in args.sizes:
        servers = fleet_servers(n)
        sim = FleetSimulator(servers, seed=0)
        total = length + args.cycles
        start = 1767571200.0
        times = start + np.arange(total) * float(step)
        values, _ = sim.sample(times)  # [T, S, M]
        series = np.transpose(values, (1, 0, 2)).astype(np.float32)  # [S, T, M]
        first = int(start) // step
        profiles = [p for _, p in servers]

        def snapshot(end: int, series=series, n=n, first=first, profiles=profiles):
            window = series[:, end - length + 1 : end + 1]
            return WindowSnapshot(
                np.arange(n, dtype=np.int64),
                window,
                np.full(n, first + end, np.int64),
                np.full(n, length, np.int64),
                window[:, -1],
                np.full(n, (first + end) * step * 1000, np.int64),
                step,
                profiles=profiles,
            )

        snap = snapshot(length - 1)
        forecast_s = []
        for _ in range(3):
            began = time.perf_counter()
            quantiles = forecaster.forecast(snap).quantiles
            forecast_s.append(time.perf_counter() - began)
        monitor = DriftMonitor(forecaster, max_servers=n)
        scoring_s = []
        for end in range(length - 1, total):
            snap = snapshot(end)
            began = time.perf_counter()
            monitor.score(snap)
            monitor.record(snap, quantiles)
            monitor.refresh(snap, profiles)
            scoring_s.append(time.perf_counter() - began)
        kept = monitor.scorer.kept_bytes / 1e6
        f_ms = statistics.median(forecast_s) * 1000
        s_ms = statistics.median(scoring_s) * 1000
        print(
            f"{n:8d} {f_ms:12.1f} {s_ms:13.2f} {max(scoring_s) * 1000:8.1f} "
            f"{s_ms / f_ms:7.3f} {kept:8.1f}"
        )
        points = monitor.document()["metrics"]["cpu_pct"]["points"]
        print(f"         (scored cpu_pct points after {args.cycles} cycles: {points})")


if __name__ == "__main__":
    main()
