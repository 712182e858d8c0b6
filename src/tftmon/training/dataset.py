"""From data-contract rows to the model's training frame, through ``tftmon.forecast.features``."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from tftmon.errors import ConfigError
from tftmon.forecast.features import (
    KNOWN_REALS,
    RELATIVE_TIME,
    model_inputs,
    observed_name,
    time_features,
)
from tftmon.schemas import DEFAULT_PROFILE_RULES, METRICS, profile_for
from tftmon.store.buckets import group_by_bucket

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BucketedFleet:
    """Dense bucket means per server: ``values[s]`` is ``[T_s, M]`` from ``first[s]`` on."""

    names: list[str]
    profiles: list[str]
    first: npt.NDArray[np.int64]
    values: list[npt.NDArray[np.float64]]
    metrics: tuple[str, ...]
    step_seconds: int

    def head(self, fraction: float) -> BucketedFleet:
        """Each server's first ``fraction`` of buckets (a per-series time split)."""
        cut = [v[: max(1, int(len(v) * fraction))] for v in self.values]
        return BucketedFleet(
            self.names, self.profiles, self.first, cut, self.metrics, self.step_seconds
        )

    def until(self, last_bucket: int) -> BucketedFleet:
        """Each server's buckets up to ``last_bucket`` (servers with none left are dropped)."""
        keep = [i for i, f in enumerate(self.first) if int(f) <= last_bucket]
        cut = [self.values[i][: last_bucket - int(self.first[i]) + 1] for i in keep]
        return BucketedFleet(
            [self.names[i] for i in keep],
            [self.profiles[i] for i in keep],
            self.first[keep],
            cut,
            self.metrics,
            self.step_seconds,
        )

    @property
    def span(self) -> tuple[int, int]:
        """First and last bucket number over all servers."""
        last = max(int(f) + len(v) - 1 for f, v in zip(self.first, self.values, strict=True))
        return int(self.first.min()), last


def load_frame(path: Path) -> pd.DataFrame:
    """Read a CSV or parquet file in the data contract (long format)."""
    import pandas as pd

    if not path.exists():
        raise ConfigError(f"{path}: no such file")
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
    elif path.suffix == ".csv":
        frame = pd.read_csv(path)
    else:
        raise ConfigError(f"{path}: training data must be .csv or .parquet")
    missing = {"timestamp", "server_name"} - set(frame.columns)
    if missing:
        raise ConfigError(f"{path}: missing column(s) {sorted(missing)}")
    return frame


def bucket_frame(
    frame: pd.DataFrame, step_seconds: int, profile_rules: dict[str, str] | None = None
) -> BucketedFleet:
    """Average rows into model steps per server; metrics empty in the whole set are dropped."""
    import pandas as pd

    rules = profile_rules or DEFAULT_PROFILE_RULES
    present = tuple(m for m in METRICS if m in frame.columns and frame[m].notna().any())
    dropped = [m for m in METRICS if m not in present]
    if not present:
        raise ConfigError("no metric column holds any value")
    if dropped:
        logger.info("metrics with no value anywhere are left out of the targets: %s", dropped)
    ts = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601")
    ts_ms = ((ts - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)).to_numpy(np.int64)
    codes, names = pd.factorize(frame["server_name"].astype(str), sort=True)
    values = frame[list(present)].to_numpy(np.float64)
    order = np.lexsort((ts_ms, codes))
    groups = group_by_bucket(
        codes[order].astype(np.int64), ts_ms[order], values[order], step_seconds * 1000
    )
    means = groups.means()
    profiles = []
    explicit = (
        frame.groupby(frame["server_name"].astype(str))["profile"].last()
        if "profile" in frame.columns
        else None
    )
    firsts, series = [], []
    for s, name in enumerate(names):
        rows = np.flatnonzero(groups.server == s)
        buckets = groups.bucket[rows]
        dense = np.full((int(buckets[-1] - buckets[0]) + 1, len(present)), np.nan)
        dense[buckets - buckets[0]] = means[rows]
        firsts.append(int(buckets[0]))
        series.append(dense)
        given = explicit.get(name) if explicit is not None else None
        profiles.append(str(given) if isinstance(given, str) else profile_for(name, rules))
    return BucketedFleet(
        list(map(str, names)), profiles, np.asarray(firsts, np.int64), series, present, step_seconds
    )


def model_frame(fleet: BucketedFleet) -> pd.DataFrame:
    """The frame ``TimeSeriesDataSet`` trains on: targets normalized, gaps filled and masked.

    ``time_idx`` is the bucket number, so every server shares one clock.
    """
    import pandas as pd

    parts = []
    for name, profile, first, values in zip(
        fleet.names, fleet.profiles, fleet.first, fleet.values, strict=True
    ):
        targets, observed, _ = model_inputs(values[None], fleet.metrics)
        buckets = int(first) + np.arange(values.shape[0])
        known = time_features(buckets * fleet.step_seconds)
        columns: dict[str, Any] = {
            "server_name": name,
            "profile": profile,
            "time_idx": buckets,
        }
        columns.update({k: known[:, i] for i, k in enumerate(KNOWN_REALS)})
        columns.update({m: targets[0, :, j] for j, m in enumerate(fleet.metrics)})
        columns.update({observed_name(m): observed[0, :, j] for j, m in enumerate(fleet.metrics)})
        parts.append(pd.DataFrame(columns))
    frame = pd.concat(parts, ignore_index=True)
    frame["server_name"] = frame["server_name"].astype(str)
    frame["profile"] = frame["profile"].astype(str)
    return frame


def time_series_dataset(
    frame: pd.DataFrame,
    metrics: tuple[str, ...],
    *,
    encoder_steps: int,
    horizon_steps: int,
    min_encoder_steps: int,
    target_normalizer: str = "last",
    relative_time_idx: bool = True,
    profile_vocabulary: dict[str, int] | None = None,
) -> Any:
    """The ``TimeSeriesDataSet`` definition shared by training and the serving-equality test.

    Inputs are already on the model scale (``features.normalize``), so every scaler is
    identity. ``profile_vocabulary`` fixes the profile codes (fine-tuning a served model keeps
    its embedding rows); otherwise they are learnt from the frame. Targets are scaled per
    window on their encoder part: around the newest value by the standard deviation
    (``"last"``, ``forecast.scaling.LastValueNormalizer``), by mean and standard deviation
    (``"encoder"``, pytorch-forecasting's ``EncoderNormalizer``), or left as they are
    (``"identity"``). ``relative_time_idx`` adds the step's position relative to the
    origin as a known input (what a trend needs). The serving path builds the same tensors
    directly.
    """
    from pytorch_forecasting import TimeSeriesDataSet
    from pytorch_forecasting.data import MultiNormalizer, NaNLabelEncoder

    from tftmon.forecast.network import target_normalizers

    unknown = [*metrics, *(observed_name(m) for m in metrics)]
    profile_encoder = NaNLabelEncoder(add_nan=True)
    if profile_vocabulary is not None:
        ordered = sorted(profile_vocabulary.items(), key=lambda item: item[1])
        profile_encoder.classes_ = dict(ordered)
        profile_encoder.classes_vector_ = np.array([label for label, _ in ordered])
    return TimeSeriesDataSet(
        frame,
        time_idx="time_idx",
        target=list(metrics),
        group_ids=["server_name"],
        max_encoder_length=encoder_steps,
        min_encoder_length=min_encoder_steps,
        max_prediction_length=horizon_steps,
        min_prediction_length=horizon_steps,
        static_categoricals=["profile"],
        time_varying_known_reals=list(KNOWN_REALS),
        time_varying_unknown_reals=unknown,
        target_normalizer=MultiNormalizer(target_normalizers(target_normalizer, len(metrics))),
        categorical_encoders={
            "profile": profile_encoder,
            "server_name": NaNLabelEncoder(add_nan=True),
        },
        scalers=dict.fromkeys(
            [*KNOWN_REALS, *unknown[len(metrics) :], *([RELATIVE_TIME] * relative_time_idx)]
        ),
        add_relative_time_idx=relative_time_idx,
        add_target_scales=False,
        add_encoder_length=False,
        allow_missing_timesteps=False,
    )


def fleet_from_history(data_dir: Path, step_seconds: int) -> BucketedFleet:
    """The bucket tier of a daemon's history store (what the daemon's windows restore from).

    Read server by server: each read holds one server's buckets as SQLite rows for a moment,
    so peak memory is the dense training arrays plus one server's rows, not the whole table
    as Python tuples (about 400 bytes per bucket).
    """
    from tftmon.store.history import HistoryStore

    path = data_dir / "history.sqlite3"
    if not path.exists():
        raise ConfigError(f"{path}: no history store")
    store = HistoryStore(path, METRICS, step_seconds)
    store.open()
    names, profiles, firsts, series = [], [], [], []
    seen = np.zeros(len(METRICS), dtype=bool)
    try:
        for server in store.servers():
            rows = store.read_buckets(server.server_id, 0)
            if len(rows) == 0:
                continue
            buckets = rows.bucket
            dense = np.full((int(buckets[-1] - buckets[0]) + 1, len(METRICS)), np.nan)
            dense[buckets - buckets[0]] = rows.mean
            seen |= ~np.isnan(rows.mean).all(axis=0)
            names.append(server.name)
            profiles.append(server.profile)
            firsts.append(int(buckets[0]))
            series.append(dense)
    finally:
        store.close()
    present = tuple(m for j, m in enumerate(METRICS) if seen[j])
    if not present:
        raise ConfigError(f"{path}: no closed bucket holds any metric")
    if len(present) < len(METRICS):
        keep = [METRICS.index(m) for m in present]
        for i, dense in enumerate(series):  # one copy at a time, not a second fleet
            series[i] = np.ascontiguousarray(dense[:, keep])
    return BucketedFleet(
        names, profiles, np.asarray(firsts, np.int64), series, present, step_seconds
    )
