"""Write simulated data and incident labels to CSV or parquet (long format, data contract)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from tftmon.generator.simulator import Incident
from tftmon.schemas import METRICS, STATES
from tftmon.timefmt import ISO_Z_SECONDS

if TYPE_CHECKING:
    import pandas as pd


def to_frame(
    times: npt.NDArray[np.float64],
    names: Sequence[str],
    profiles: Sequence[str],
    values: npt.NDArray[np.float64],
    states: npt.NDArray[np.int8],
) -> pd.DataFrame:
    """Long-format frame: one row per (time, server), time-major."""
    import pandas as pd

    n_t, n_s = states.shape
    frame = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(np.repeat(times, n_s), unit="s", utc=True),
            "server_name": pd.Categorical(np.tile(np.asarray(names), n_t)),
            **{m: values[..., j].reshape(-1) for j, m in enumerate(METRICS)},
            "state": pd.Categorical.from_codes(states.reshape(-1), categories=list(STATES)),
            "profile": pd.Categorical(np.tile(np.asarray(profiles), n_t)),
        }
    )
    return frame


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    """Write ``.parquet`` or ``.csv`` (ISO 8601 UTC timestamps) by the file's suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif path.suffix == ".csv":
        out = frame.copy()
        out["timestamp"] = out["timestamp"].dt.strftime(ISO_Z_SECONDS)
        out.to_csv(path, index=False, float_format="%.3f")
    else:
        raise ValueError(f"{path}: the output must end in .csv or .parquet")


def write_labels(incidents: Sequence[Incident], names: Sequence[str], path: Path) -> None:
    """Ground truth as CSV: ``server_name, start, end, kind`` (start = critical onset),
    plus ``lead_start`` (when the build-up began)."""
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    rows = sorted(incidents, key=lambda i: (i.onset, i.server))
    pd.DataFrame(
        {
            "server_name": [names[i.server] for i in rows],
            "start": pd.to_datetime([i.onset for i in rows], unit="s", utc=True).strftime(
                ISO_Z_SECONDS
            ),
            "end": pd.to_datetime([i.end for i in rows], unit="s", utc=True).strftime(
                ISO_Z_SECONDS
            ),
            "kind": [i.kind for i in rows],
            "lead_start": pd.to_datetime([i.lead_start for i in rows], unit="s", utc=True).strftime(
                ISO_Z_SECONDS
            ),
        }
    ).to_csv(path, index=False)
