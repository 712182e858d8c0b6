"""Serving speed of the TFT: the serving network, eager and compiled, against the general paths.

For each fleet size the same model (models/LATEST unless --model) and the same windows
(a day of 5-minute buckets per server) go through ``TFTForecaster.forecast`` in the
inference cycle's chunks of 512 servers: the served forecast with the forecast selection
(the network on the windows now and on the windows two hours ago, the damped trend and
seasonal naive), by each path of ``one``: the general path (the network's own
pytorch-forecasting forward, the baseline of this run), the serving network eager and
compiled (``forecast.serving_net``, ``forecast.compiled``; the first compiled process of
a run compiles with an empty inductor cache, later ones reuse it), the serving network's
forward alone, and a DataFrame → ``TimeSeriesDataSet`` → ``model.predict()``, the way the
system this replaces served. Each path runs in its own process so its peak RSS is its
own; prints medians of ``--repeats`` runs, ratios against the general path and
predict(), and the stages of one served forecast.

Usage: .venv/bin/python bench/inference.py [--sizes 20 1000 10000] [--paths eager compiled]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
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


def served(forecaster, snap) -> None:
    """The served forecast of every server, in the inference cycle's chunks of servers."""
    from tftmon.serving.cycle import CHUNK_SIZE

    for start in range(0, len(snap), CHUNK_SIZE):
        forecaster.forecast(snap.part(start, start + CHUNK_SIZE))


def stages(forecaster, snap) -> dict:
    """Seconds of each stage of one served forecast: input tensors, the network on the
    windows now and on the selection's past windows, and the rest (selection, classical
    candidates, post-processing)."""
    from tftmon.forecast.device_inputs import device_inputs
    from tftmon.forecast.selection import earlier

    out = {}
    e, h = forecaster.meta.encoder_steps, forecaster.meta.horizon_steps
    t = time.perf_counter()  # the serving network's inputs, built on its device
    device_inputs(
        forecaster.layout,
        snap.values[:, -e:, :][:, :, forecaster.metric_index],
        int(snap.end_bucket[0]),
        forecaster.profile_codes(snap),
        h,
        forecaster.device,
    )
    out["inputs"] = time.perf_counter() - t
    t = time.perf_counter()
    forecaster.network_forecast(snap)
    out["network_now"] = time.perf_counter() - t
    v = forecaster.selection_steps
    if v:  # the judge's forecast from v buckets ago: kept (steady) or computed
        h = min(v, forecaster.meta.horizon_steps)
        i50 = list(forecaster.meta.quantiles).index(0.5)
        t = time.perf_counter()
        forecaster._past_medians(earlier(snap, v), h, i50)
        out["network_past"] = time.perf_counter() - t
    t = time.perf_counter()
    served(forecaster, snap)
    out["served"] = time.perf_counter() - t
    out["rest"] = out["served"] - out["network_now"] - out.get("network_past", 0.0)
    return out


def one(path: str, n_servers: int, model_dir: Path, repeats: int) -> dict:
    """Time one path in this process; returns medians and peak RSS.

    Paths: ``general`` (the served forecast through the network's own forward, as before
    the serving network), ``eager`` (the serving network), ``compiled`` (the serving
    network under ``torch.compile``, timed once compiled), ``steady`` (compiled, in a
    running daemon: the forecast of ``selection_steps`` buckets ago was made by that
    bucket's cycle and is kept, ``forecast.memo``), ``network`` (the serving network's
    forward alone, no selection) and ``predict`` (pytorch-forecasting's predict()).
    All but ``steady`` keep nothing between calls.
    """
    warnings.filterwarnings("ignore")
    from tftmon.training.dataset import time_series_dataset

    forecaster, snap, names = windows(n_servers, model_dir)
    meta = forecaster.meta
    times = []
    extra: dict = {}
    if path in ("general", "eager", "compiled", "steady", "network"):
        from tftmon.forecast.selection import earlier

        if path == "network":  # the network's forward alone, no forecast selection
            forecaster.selection_steps = 0
        if path == "general":
            forecaster.serving = None
        if path != "steady":
            forecaster.past = None  # nothing kept: every cycle computes the judge's forecast
        if path in ("compiled", "steady"):
            started = time.perf_counter()
            cache = os.environ.get("TFTMON_BENCH_COMPILE_CACHE")
            forecaster.start_compile(cache_dir=Path(cache) if cache else None)
            if not forecaster.compiled.wait():
                raise SystemExit(f"compile failed: {forecaster.serving_state}")
            extra["compile_s"] = time.perf_counter() - started
        if path == "steady":  # the cycle of selection_steps buckets ago
            served(forecaster, earlier(snap, forecaster.selection_steps))
        served(forecaster, snap)  # warm-up
        for _ in range(repeats):
            t = time.perf_counter()
            served(forecaster, snap)
            times.append(time.perf_counter() - t)
        if path in ("eager", "compiled", "steady"):
            extra["stages"] = stages(forecaster, snap)
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
        **extra,
    }


PATHS = ("general", "eager", "compiled", "steady", "network", "predict")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 1000, 10000])
    parser.add_argument(
        "--predict-up-to",
        type=int,
        default=20,
        help="skip the predict() path above this size (it is slow)",
    )
    parser.add_argument(
        "--general-up-to", type=int, default=1000, help="skip the general path above this size"
    )
    parser.add_argument("--paths", nargs="+", choices=PATHS, default=list(PATHS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", type=Path, help="models/<version> (default: models/LATEST)")
    parser.add_argument("--one", nargs=2, metavar=("PATH", "SERVERS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    model = args.model or REPO / "models" / (REPO / "models" / "LATEST").read_text().strip()
    if args.one:
        print(json.dumps(one(args.one[0], int(args.one[1]), model, args.repeats)))
        return
    print(f"tftmon bench/inference.py: model {model.name}, {os.cpu_count()} CPUs")
    os.environ["TFTMON_BENCH_COMPILE_CACHE"] = tempfile.mkdtemp(prefix="tftmon-compile-")
    print(
        "served forecast (network now + network on the selection's past windows + selection)"
        "; ms, median of the repeats; each path in its own process"
    )
    header = f"{'servers':>8s}" + "".join(f"{p:>11s}" for p in PATHS)
    print(header + f"{'eager/gen':>10s}{'comp/gen':>9s}{'pred/net':>10s}{'RSS':>9s}")
    rows = {}
    for n in args.sizes:
        row = {}
        for path in args.paths:
            if (path == "predict" and n > args.predict_up_to) or (
                path == "general" and n > args.general_up_to
            ):
                continue
            command = [sys.executable, __file__, "--one", path, str(n)]
            command += ["--repeats", str(args.repeats), "--model", str(model)]
            out = subprocess.run(command, capture_output=True, text=True, check=False)
            if out.returncode != 0:
                print(f"  {path} at {n}: failed: {out.stderr.strip().splitlines()[-1:]}")
                continue
            row[path] = json.loads(out.stdout.strip().splitlines()[-1])
        rows[n] = row

        def ms(path: str, row: dict = row) -> str:
            return f"{row[path]['median_s'] * 1000:9.1f}ms" if path in row else f"{'-':>11s}"

        def ratio(a: str, b: str, row: dict = row) -> str:
            if a in row and b in row:
                return f"{row[a]['median_s'] / row[b]['median_s']:8.2f}x"
            return f"{'-':>9s}"

        measured = [row[p] for p in ("compiled", "eager") if p in row]
        rss = f"{measured[0]['peak_rss_mb']:7d}MB" if measured else f"{'-':>9s}"
        print(
            f"{n:8d}"
            + "".join(ms(p) for p in PATHS)
            + f" {ratio('general', 'eager')}{ratio('general', 'compiled')}"
            + f" {ratio('predict', 'network')}{rss}"
        )
    print("stages of one served forecast (ms): inputs / network now / judge's past forecast / rest")
    for n, row in rows.items():
        for path in ("eager", "compiled", "steady"):
            if path in row:
                st = row[path]["stages"]
                parts = " / ".join(
                    f"{st.get(k, 0.0) * 1000:.1f}"
                    for k in ("inputs", "network_now", "network_past", "rest")
                )
                compile_s = row[path].get("compile_s")
                note = f"; compiled in {compile_s:.1f} s" if compile_s else ""
                print(f"{n:8d} {path:>9s}: {parts}{note}")
    devices = {r["device"] for row in rows.values() for r in row.values()}
    print(
        f"device: {', '.join(sorted(devices))}; eager/gen = general / eager, comp/gen = general "
        f"/ compiled, pred/net = predict() / network (both the network alone, no selection); "
        f"RSS = peak of the compiled (else eager) process; steady = compiled, the judge's "
        f"forecast kept from the cycle that made it"
    )


if __name__ == "__main__":
    main()
