"""Serve a trained Temporal Fusion Transformer: one batched, chunked forward pass per cycle.

The model is loaded once. Each cycle builds the network's input tensors straight from the
windows' arrays (``features.model_inputs`` and ``features.time_features``, the same
transform training used), runs ``model(x)`` under ``torch.inference_mode()`` in chunks
(bounded memory; 64 series per chunk is fastest on CPU), and maps the outputs back to
metric units. No ``TimeSeriesDataSet``, ``DataLoader`` or ``Trainer`` per cycle.

Servers with fewer closed steps than the model's minimum encoder length, and metrics the
model was not trained on, are forecast by the baseline and labelled so.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tftmon.forecast import ForecasterInfo, ForecastOutput
from tftmon.forecast.artifacts import ArtifactError, ArtifactMeta, latest_version
from tftmon.forecast.baseline import SEASON_SLACK, BaselineForecaster
from tftmon.forecast.damped import DampedTrendForecaster
from tftmon.forecast.device_inputs import InputLayout, device_inputs
from tftmon.forecast.features import (
    KNOWN_REALS,
    RELATIVE_TIME,
    denormalize,
    observed_name,
)
from tftmon.forecast.general_inputs import general_inputs
from tftmon.forecast.memo import PastForecasts
from tftmon.forecast.network import GPU_CHUNK, batch_sizes, load_network, serving_network
from tftmon.forecast.selection import (
    DEFAULT_MARGIN,
    DEFAULT_STEPS,
    choose,
    earlier,
    median_errors,
    window_extra,
    young_cycle,
)
from tftmon.schemas import METRIC_SPECS, METRICS
from tftmon.windows import WindowSnapshot

logger = logging.getLogger(__name__)


class TFTForecaster:
    """A loaded TFT artifact behind the ``Forecaster`` protocol."""

    def __init__(
        self,
        meta: ArtifactMeta,
        network: Any,
        *,
        device: str = "cpu",
        chunk_size: int = 64,
        horizon_steps: int | None = None,
        selection_steps: int = DEFAULT_STEPS,
        selection_margin: float = DEFAULT_MARGIN,
    ) -> None:
        self.meta = meta
        self.selection_steps = selection_steps
        self.selection_margin = selection_margin
        self.network = network
        self.device = device
        self.chunk_size = chunk_size
        self.metric_index = [METRICS.index(m) for m in meta.metrics]
        reals = list(meta.raw["reals"])
        self._reals = reals
        self._known = [reals.index(k) for k in KNOWN_REALS]
        self._target_cols = [reals.index(m) for m in meta.metrics]
        self._mask_cols = [reals.index(observed_name(m)) for m in meta.metrics]
        self._relative_time = reals.index(RELATIVE_TIME) if RELATIVE_TIME in reals else None
        self.layout = InputLayout(
            n_reals=len(reals),
            metrics=tuple(meta.metrics),
            target_cols=self._target_cols,
            mask_cols=self._mask_cols,
            known_cols=self._known,
            relative_time=self._relative_time,
            encoder_steps=meta.encoder_steps,
            step_seconds=meta.step_seconds,
            normalizer=meta.target_normalizer,
        )
        self._profiles = meta.profiles
        self.serving = serving_network(network, meta, device)
        self.compiled: Any = None  # a forecast.compiled.CompiledServing once started
        # the selection's judge reads forecasts kept from earlier cycles, where the network
        # forecasts every metric (the baseline's part of a forecast reads more than it keys)
        covers = len(self.metric_index) == len(METRICS)
        self.past = PastForecasts(min(selection_steps, meta.horizon_steps)) if covers else None
        self._baseline = BaselineForecaster(
            meta.horizon_steps, meta.step_seconds, quantiles=meta.quantiles
        )
        self._damped = DampedTrendForecaster(
            meta.horizon_steps, meta.step_seconds, quantiles=meta.quantiles
        )
        self._info = ForecasterInfo(
            model_type="TFT",
            version=meta.version,
            device=device,
            quantiles=meta.quantiles,
            horizon_steps=meta.horizon_steps,
            step_seconds=meta.step_seconds,
            min_history_steps=meta.min_encoder_steps,
            validation=meta.raw.get("validation"),
            training_data=meta.raw.get("training_data"),
            input_reference=meta.raw.get("input_reference"),
        )
        if horizon_steps is not None and horizon_steps != meta.horizon_steps:
            raise ArtifactError(
                f"model {meta.version} forecasts {meta.horizon_steps} steps, the daemon is "
                f"set to {horizon_steps} (TFTMON_HORIZON_STEPS)"
            )

    @classmethod
    def load(
        cls,
        models_dir: Path,
        version: str | None = None,
        *,
        device: str = "auto",
        step_seconds: int | None = None,
        horizon_steps: int | None = None,
        selection_steps: int = DEFAULT_STEPS,
    ) -> TFTForecaster:
        """Load ``models_dir/<version>`` (default: the one ``LATEST`` names).

        Raises:
            ArtifactError: no artifact, a malformed one, or one that does not fit the
                daemon's settings or this code.
        """
        version = version or latest_version(models_dir)
        if version is None:
            raise ArtifactError("no model: the models folder has no LATEST")
        meta, network, resolved = load_network(models_dir, version, device, step_seconds)
        forecaster = cls(
            meta,
            network,
            device=resolved,
            # 64 servers per forward is fastest on CPU; a GPU wants far larger batches
            chunk_size=GPU_CHUNK if resolved == "cuda" else 64,
            horizon_steps=horizon_steps,
            selection_steps=selection_steps,
        )
        forecaster._info = replace(forecaster._info, artifact_dir=models_dir / version)
        logger.info("loaded TFT model %s on %s", version, resolved)
        return forecaster

    @property
    def info(self) -> ForecasterInfo:
        """Identity and shape of the forecasts."""
        return self._info

    def forecast(self, snapshot: WindowSnapshot) -> ForecastOutput:
        """The served forecast: the network's, or per metric the classical forecast that
        beat it clearly over the last ``selection_steps`` (``forecast.selection``)."""
        out = self.network_forecast(snapshot)
        v = self.selection_steps
        if v <= 0 or snapshot.values.shape[1] < v + self.meta.min_encoder_steps:
            return out
        h = min(v, self.meta.horizon_steps)  # steps judged after a past origin
        actual = snapshot.values[:, -v:, :][:, :h]
        i50 = int(np.abs(np.asarray(self.meta.quantiles) - 0.5).argmin())
        if self.past is not None:  # this forecast is a later cycle's past one
            tft = np.flatnonzero([t == "TFT" for t in out.model_type])
            keys = self.input_keys(snapshot.rows(tft))
            self.past.put(keys, snapshot.end_bucket[tft], out.quantiles[tft, :h, :, i50])
        medians, judged = self._past_medians(earlier(snapshot, v), h, i50)
        short = {"tft": median_errors(medians, actual)}
        short["tft"][~judged] = np.nan
        long: dict[str, npt.NDArray[np.float64]] = {}
        season = self._baseline.season_steps
        # the damped trend from each judge's origin and from now, in one pass
        spans = [span for span in (v, window_extra(v)) if snapshot.values.shape[1] > span]
        damped = dict(
            zip([*spans, 0], self._damped.forecast_earlier(snapshot, (*spans, 0)), strict=True)
        )
        for span, errors in ((v, short), (window_extra(v), long)):
            if snapshot.values.shape[1] <= span:
                errors.update(damped_trend=np.full_like(short["tft"], np.nan))
                errors.update(seasonal_naive=np.full_like(short["tft"], np.nan))
                continue
            before = earlier(snapshot, span)
            h = min(span, self.meta.horizon_steps)
            actual = snapshot.values[:, -span:, :][:, :h]
            medians = damped[span].quantiles[:, :h, :, i50]
            errors["damped_trend"] = median_errors(medians, actual)
            medians = self._baseline.median(before)[:, :h]
            errors["seasonal_naive"] = median_errors(medians, actual)
            held = snapshot.history_steps >= season + span  # yesterday was there to copy
            errors["seasonal_naive"][~held] = np.nan
        selected = choose(short, long, self.selection_margin)
        young = young_cycle(
            snapshot.values, snapshot.history_steps, season, slack=SEASON_SLACK
        ) & np.isnan(long["seasonal_naive"])
        with np.errstate(invalid="ignore"):  # a short judge, where there is one, can veto
            beaten = short["tft"] < (1 - self.selection_margin) * short["seasonal_naive"]
        selected[young & ~beaten & np.isfinite(short["tft"])] = 2
        selected[np.asarray([t != "TFT" for t in out.model_type])] = 0
        quantiles = out.quantiles
        for k in (1, 2):
            use = selected == k
            if use.any():
                rows = np.flatnonzero(use.any(axis=1))
                if k == 1:
                    other = damped[0].quantiles[rows]
                else:
                    other = self._baseline.forecast(snapshot.rows(rows)).quantiles
                mask = use[rows][:, None, :, None]
                quantiles[rows] = np.where(mask, other, quantiles[rows])
        return ForecastOutput(quantiles, out.model_type, selected)

    def _past_medians(
        self, past: WindowSnapshot, h: int, i50: int
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
        """The network's medians ``[S, h, M]`` from the windows ``past`` and where they are
        its own (not the baseline's): kept from the cycle that forecast those very windows
        (``forecast.memo``), the network run on the rest."""
        m = past.values.shape[2]
        if self.past is None:
            hit = np.zeros(len(past), bool)
            medians = np.full((len(past), h, m), np.nan, np.float32)
        else:
            hit, medians = self.past.get(self.input_keys(past), (h, m))
        judged = hit.copy()
        miss = np.flatnonzero(~hit & (past.history_steps >= self.meta.min_encoder_steps))
        if miss.size:
            computed = self.network_forecast(past.rows(miss), steps=h)
            medians[miss] = computed.quantiles[:, :h, :, i50]
            judged[miss] = [t == "TFT" for t in computed.model_type]
        return medians, judged

    def profile_codes(
        self, snapshot: WindowSnapshot, rows: npt.NDArray[np.intp] | None = None
    ) -> npt.NDArray[np.int64]:
        """The profile code of each server (0, the unknown code, without profiles)."""
        rows = np.arange(len(snapshot)) if rows is None else rows
        if not snapshot.profiles:
            return np.zeros(len(rows), np.int64)
        return np.asarray([self._profiles.get(snapshot.profiles[i], 0) for i in rows], np.int64)

    def input_keys(self, snapshot: WindowSnapshot) -> list[bytes]:
        """Digests of what the network reads of each window (``PastForecasts.keys``)."""
        e_max = min(self.meta.encoder_steps, snapshot.values.shape[1])
        window = snapshot.values[:, -e_max:, :][:, :, self.metric_index]
        return PastForecasts.keys(
            window,
            np.clip(snapshot.history_steps, 1, e_max).astype(np.int64),
            snapshot.end_bucket,
            self.profile_codes(snapshot),
        )

    def network_forecast(
        self, snapshot: WindowSnapshot, steps: int | None = None
    ) -> ForecastOutput:
        """TFT forecasts for servers with enough history, the baseline for the rest.

        ``steps``: only the first ``steps`` of the horizon are wanted (the selection's
        judge); the network's later steps are NaN. With causal attention its first steps
        do not depend on later ones, so they are the same either way.

        The baseline runs only where it serves: servers still warming up, and metrics the
        network was not trained on.
        """
        ready_mask = snapshot.history_steps >= self.meta.min_encoder_steps
        ready = np.flatnonzero(ready_mask)
        if ready.size == 0:
            return self._baseline.forecast(snapshot)
        cols = self.metric_index
        s, m = len(snapshot), snapshot.values.shape[2]
        shape = (s, self.meta.horizon_steps, m, len(self.meta.quantiles))
        quantiles = np.full(shape, np.nan, np.float32)
        model_type = ["baseline"] * s
        baseline_rows = np.flatnonzero(~ready_mask if len(cols) == m else np.ones(s, bool))
        if baseline_rows.size:
            quantiles[baseline_rows] = self._baseline.forecast(
                snapshot.rows(baseline_rows)
            ).quantiles
        for start in range(0, ready.size, self.chunk_size):
            rows = ready[start : start + self.chunk_size]
            normalized = self.forward_normalized(snapshot.rows(rows), steps)  # [B, H, Mm, Q]
            values = denormalize(np.sort(normalized, axis=-1), self.meta.metrics)
            lower = np.array([METRIC_SPECS[i].lower for i in cols], np.float32)
            upper = np.array(
                [np.inf if METRIC_SPECS[i].upper is None else METRIC_SPECS[i].upper for i in cols],
                np.float32,
            )
            values = np.clip(values, lower[None, None, :, None], upper[None, None, :, None])
            # a metric the server never reported in its window (the baseline's NaN)
            absent = np.asarray(np.isnan(snapshot.values[rows][:, :, cols]).all(axis=1))
            values[np.broadcast_to(absent[:, None, :, None], values.shape)] = np.nan
            wanted = np.arange(values.shape[1])
            quantiles[np.ix_(rows, wanted, np.asarray(cols, np.intp))] = values
            for r in rows.tolist():
                model_type[r] = "TFT"
        return ForecastOutput(quantiles, model_type)

    def inputs(self, snapshot: WindowSnapshot) -> dict[str, Any]:
        """The general network's input tensors (``forecast.general_inputs``)."""
        codes = self.profile_codes(snapshot)
        horizon = self.meta.horizon_steps
        return general_inputs(self.layout, snapshot, self.metric_index, codes, horizon, self.device)

    def forward_normalized(
        self, snapshot: WindowSnapshot, steps: int | None = None
    ) -> npt.NDArray[np.float32]:
        """Raw network quantiles on the model scale, ``[B, steps, Mm, Q]`` (not yet sorted).

        Windows holding the full encoder that end at the same bucket go through the
        serving network (``forecast.serving_net``) in one group per bucket; the rest
        (servers still warming up) through the network's own forward.
        """
        import torch

        meta = self.meta
        causal = bool(self.network.hparams.causal_attention)
        steps = (
            meta.horizon_steps if steps is None or not causal else min(steps, meta.horizon_steps)
        )
        out = np.empty((len(snapshot), steps, len(meta.metrics), len(meta.quantiles)), np.float32)
        served = np.zeros(len(snapshot), bool)
        e = meta.encoder_steps
        with torch.inference_mode():
            for rows in self._full_groups(snapshot):
                args = device_inputs(
                    self.layout,
                    snapshot.values[rows, -e:, :][:, :, self.metric_index],
                    int(snapshot.end_bucket[rows[0]]),
                    self.profile_codes(snapshot, rows),
                    steps,
                    self.device,
                )
                serve = self.compiled or self.serving
                out[rows] = serve(*args).float().cpu().numpy()
                served[rows] = True
            rest = np.flatnonzero(~served)
            if rest.size:
                prediction = self.network(self.inputs(snapshot.rows(rest)))["prediction"]
                stacked = torch.stack(list(prediction), dim=2)[:, :steps]  # [B, H, Mm, Q]
                out[rest] = stacked.float().cpu().numpy()
        return out

    @property
    def serving_state(self) -> str:
        """How full windows are served: ``compiled``, ``compiling``, ``eager``, ``failed: …``,
        or ``general`` (the network's own forward: a network the serving one does not cover)."""
        if self.serving is None:
            return "general"
        return "eager" if self.compiled is None else str(self.compiled.state)

    def start_compile(
        self, *, mode: str = "default", cache_dir: Path | None = None, sizes: Any = None
    ) -> None:
        """Compile the serving network in the background (``forecast.compiled``) for the
        chunk sizes and horizons the cycle asks for; the eager network serves meanwhile."""
        if self.serving is None:
            return
        import torch

        from tftmon.forecast.compiled import CompiledServing

        meta = self.meta
        horizons = [meta.horizon_steps]
        if self.selection_steps > 0 and self.network.hparams.causal_attention:
            horizons.append(min(self.selection_steps, meta.horizon_steps))
        self.compiled = CompiledServing(
            self.serving,
            sizes=sizes or batch_sizes(self.chunk_size),
            horizons=horizons,
            mode=mode,
            cache_dir=cache_dir,
        )
        n_reals, e = len(self._reals), meta.encoder_steps
        example = [
            torch.zeros(1, e, n_reals, device=self.device),
            torch.zeros(e, n_reals, device=self.device),
            torch.zeros(meta.horizon_steps, n_reals, device=self.device),
            torch.zeros(1, dtype=torch.long, device=self.device),
            torch.ones(1, len(meta.metrics), 2, device=self.device),
        ]
        self.compiled.start(example)

    def _full_groups(self, snapshot: WindowSnapshot) -> list[npt.NDArray[np.intp]]:
        """Rows whose windows hold the full encoder, grouped by the bucket they end at."""
        e = self.meta.encoder_steps
        if self.serving is None or snapshot.values.shape[1] < e:
            return []
        full = np.flatnonzero(snapshot.history_steps >= e)
        ends = snapshot.end_bucket[full]
        return [full[ends == end] for end in np.unique(ends).tolist()]
