"""The NAB AWS CloudWatch series (Numenta Anomaly Benchmark, MIT licence) in the data contract.

CPU utilisation series become ``cpu_pct``; EC2 ``DiskWriteBytes`` (bytes per 5-minute
period) becomes ``disk_io_mb_s`` (bytes / 300 s / 1e6). Network-in, ELB request counts and
the unlabelled-unit Grok series have no metric in the contract and are left out.
Each series is its own "server" (the file name), profile ``generic``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

FOLDER = "realAWSCloudwatch"
MAPPING = {
    "ec2_cpu_utilization_": ("cpu_pct", 1.0),
    "rds_cpu_utilization_": ("cpu_pct", 1.0),
    "ec2_disk_write_bytes_": ("disk_io_mb_s", 1.0 / 300 / 1e6),
}


def load_nab(nab_dir: Path) -> pd.DataFrame:
    """Every usable series as one long frame (``timestamp, server_name, <metric>, profile``)."""
    import pandas as pd

    frames = []
    for path in sorted((nab_dir / FOLDER).glob("*.csv")):
        for prefix, (metric, factor) in MAPPING.items():
            if path.name.startswith(prefix):
                raw = pd.read_csv(path)
                frames.append(
                    pd.DataFrame(
                        {
                            "timestamp": pd.to_datetime(raw["timestamp"], utc=True),
                            "server_name": path.stem,
                            metric: raw["value"].astype(float) * factor,
                            "profile": "generic",
                        }
                    )
                )
    if not frames:
        raise FileNotFoundError(f"no NAB CloudWatch series under {nab_dir / FOLDER}")
    return pd.concat(frames, ignore_index=True)


def load_labels(nab_dir: Path) -> pd.DataFrame:
    """NAB's labelled anomaly windows of those series: ``server_name, start, end, kind``."""
    import pandas as pd

    windows = json.loads((nab_dir / "combined_windows.json").read_text())
    rows = []
    for key, spans in windows.items():
        folder, _, name = key.partition("/")
        stem = name.removesuffix(".csv")
        if folder != FOLDER or not any(stem.startswith(p) for p in MAPPING):
            continue
        for start, end in spans:
            rows.append(
                {
                    "server_name": stem,
                    "start": pd.Timestamp(start, tz="UTC"),
                    "end": pd.Timestamp(end, tz="UTC"),
                    "kind": "nab_anomaly",
                }
            )
    return pd.DataFrame(rows, columns=["server_name", "start", "end", "kind"])
