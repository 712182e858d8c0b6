"""Serving speed of the TFT: our direct batched forward against pytorch-forecasting's path.

For each fleet size the same model (models/LATEST unless --model) and the same windows go
through (a) ``TFTForecaster.forecast``, the served forecast with the forecast selection
(the network twice, the damped trend and seasonal naive), (a') the network's direct
forward alone — tensors built from the windows, chunks of 64, ``torch.inference_mode`` —
and (b) a DataFrame → ``TimeSeriesDataSet.from_dataset(predict=
True)`` → ``model.predict()`` on that frame, the way the system this replaces served. Each
measurement runs in its own process so its peak RSS is its own. Prints medians of
``--repeats`` runs and the ratio predict()/network.

Usage: .venv/bin/python bench/inference.py [--sizes 20 100 1000 10000] [--predict-up-to 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def windows(n_servers: int, model_dir: Path):
    """Snapshots of ``n_servers`` demo servers holding a full day of 5-minute buckets."""
    import numpy as np
    import torch

    from tftmon.forecast.selection import window_extra
    from tftmon.forecast.tft import TFTForecaster
    from tftmon.generator import FleetSimulator, fleet_servers
    from tftmon.windows import WindowSnapshot

    torch.set_num_threads(
        2
    )  # the daemon's default (TFTMON_INFERENCE_THREADS); an entry point's choice
    forecaster = TFTForecaster.load(model_dir.parent, model_dir.name, device="auto")
    length = forecaster.meta.encoder_steps + window_extra(forecaster.selection_steps)
    servers = fleet_servers(n_servers)
    sim = FleetSimulator(servers, seed=3)
    start = 1767571200.0
    times = start + 300.0 * np.arange(length)
    values, _ = sim.sample(times)  # [T, S, M]
    vals = np.ascontiguousarray(values.transpose(1, 0, 2)).astype(np.float32)
    end = np.full(n_servers, int(times[-1] // 300), np.int64)
    snap = WindowSnapshot(
        np.arange(n_servers),
        vals,
        end,
        np.full(n_servers, length, np.int64),
        vals[:, -1],
        np.ones(n_servers, np.int64),
        300,
        [p for _, p in servers],
    )
    return forecaster, snap, [n for n, _ in servers]


def predict_frame(forecaster, snap, names):
    """The DataFrame the predict() path starts from: history plus future rows."""
    import numpy as np
    import pandas as pd

    from tftmon.forecast.features import KNOWN_REALS, model_inputs, observed_name, time_features

    meta = forecaster.meta
    e, h = meta.encoder_steps, meta.horizon_steps
    idx = [
        list(__import__("tftmon.schemas", fromlist=["METRICS"]).METRICS).index(m)
        for m in meta.metrics
    ]
    targets, observed, _ = model_inputs(snap.values[:, -e:, idx], meta.metrics)
    n = len(names)
    buckets = snap.end_bucket[:, None] + np.arange(-e + 1, h + 1)[None, :]
    frame = {
        "server_name": np.repeat(names, e + h),
        "profile": np.repeat(snap.profiles, e + h),
        "time_idx": buckets.reshape(-1),
    }
    known = time_features(buckets * 300).reshape(-1, len(KNOWN_REALS))
    for k, col in enumerate(KNOWN_REALS):
        frame[col] = known[:, k]
    pad = np.zeros((n, h, len(meta.metrics)), np.float32)
    for j, m in enumerate(meta.metrics):
        frame[m] = np.concatenate([targets, pad], axis=1)[:, :, j].reshape(-1)
        frame[observed_name(m)] = np.concatenate([observed, pad], axis=1)[:, :, j].reshape(-1)
    return pd.DataFrame(frame)


def one(path: str, n_servers: int, model_dir: Path, repeats: int) -> dict:
    """Time one path in this process; returns medians and peak RSS."""
    warnings.filterwarnings("ignore")
    from tftmon.training.dataset import time_series_dataset

    forecaster, snap, names = windows(n_servers, model_dir)
    meta = forecaster.meta
    times = []
    if path in ("direct", "network"):
        if path == "network":  # the network's forward alone, no forecast selection
            forecaster.selection_steps = 0
        forecaster.forecast(snap)  # warm-up
        for _ in range(repeats):
            t = time.perf_counter()
            forecaster.forecast(snap)
            times.append(time.perf_counter() - t)
    else:
        frame = predict_frame(forecaster, snap, names)
        template = time_series_dataset(
            frame,
            meta.metrics,
            encoder_steps=meta.encoder_steps,
            horizon_steps=meta.horizon_steps,
            min_encoder_steps=meta.min_encoder_steps,
            target_normalizer=meta.target_normalizer,
            relative_time_idx=meta.relative_time_idx,
        )
        kwargs = {"logger": False, "enable_progress_bar": False, "enable_model_summary": False}
        for i in range(repeats + 1):
            t = time.perf_counter()
            ds = type(template).from_dataset(template, frame, predict=True, stop_randomization=True)
            forecaster.network.predict(ds, mode="quantiles", batch_size=64, trainer_kwargs=kwargs)
            if i:  # the first call is warm-up
                times.append(time.perf_counter() - t)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "path": path,
        "servers": n_servers,
        "median_s": statistics.median(times),
        "peak_rss_mb": round(peak),
        "device": forecaster.device,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 100, 1000, 10000])
    parser.add_argument(
        "--predict-up-to",
        type=int,
        default=1000,
        help="skip the predict() path above this size (it is slow)",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", type=Path, help="models/<version> (default: models/LATEST)")
    parser.add_argument("--one", nargs=2, metavar=("PATH", "SERVERS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    model = args.model or REPO / "models" / (REPO / "models" / "LATEST").read_text().strip()
    if args.one:
        print(json.dumps(one(args.one[0], int(args.one[1]), model, args.repeats)))
        return
    print(f"tftmon bench/inference.py: model {model.name}, {os.cpu_count()} CPUs")
    print(
        f"{'servers':>8s} {'served':>10s} {'network':>10s} {'predict()':>10s} {'ratio':>7s} "
        f"{'RSS served':>11s} {'RSS predict':>12s}"
    )
    for n in args.sizes:
        row = {}
        for path in ("direct", "network", "predict"):
            if path == "predict" and n > args.predict_up_to:
                continue
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--one",
                    path,
                    str(n),
                    "--repeats",
                    str(args.repeats),
                    "--model",
                    str(model),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            row[path] = json.loads(out.stdout.strip().splitlines()[-1])
        d = row["direct"]
        p = row.get("predict")
        net = row["network"]
        ratio = f"{p['median_s'] / net['median_s']:6.1f}x" if p else "      -"
        print(
            f"{n:8d} {d['median_s'] * 1000:8.1f}ms {net['median_s'] * 1000:8.1f}ms "
            f"{(p['median_s'] * 1000 if p else float('nan')):8.1f}ms {ratio} "
            f"{d['peak_rss_mb']:9d}MB {(p['peak_rss_mb'] if p else 0):10d}MB"
        )
    print(
        f"device: {d['device']}; medians of {args.repeats} runs; served = network + forecast "
        f"selection; ratio = predict() / network; predict() skipped above "
        f"{args.predict_up_to} servers"
    )


if __name__ == "__main__":
    main()
