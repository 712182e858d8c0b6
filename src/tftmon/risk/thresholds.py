"""Warning and critical thresholds per metric, with per-profile overrides.

The shipped ``thresholds.toml`` is the one source of the defaults; a user's file
(``TFTMON_THRESHOLDS_FILE``) is merged over it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tftmon.errors import ConfigError
from tftmon.schemas import METRICS, check_covers_metrics

FloatArray = npt.NDArray[np.float64]


def _shipped() -> dict[str, Any]:
    return tomllib.loads(resources.files("tftmon.risk").joinpath("thresholds.toml").read_text())


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Warning and critical thresholds per metric, with per-profile overrides."""

    default: Mapping[str, tuple[float, float]]
    by_profile: Mapping[str, Mapping[str, tuple[float, float]]]

    @classmethod
    def defaults(cls) -> Thresholds:
        """The shipped defaults, without profile overrides."""
        return cls(cls.load().default, {})

    @classmethod
    def load(cls, path: Path | None = None) -> Thresholds:
        """The shipped ``thresholds.toml``, with ``path`` (if given) merged over it.

        Raises:
            ConfigError: unreadable TOML, an unknown metric, or warning above critical.
        """
        layers = [_shipped()]
        if path is not None:
            try:
                layers.append(tomllib.loads(path.read_text()))
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"thresholds file {path}: {exc}") from exc
        default: dict[str, tuple[float, float]] = {}
        by_profile: dict[str, dict[str, tuple[float, float]]] = {}
        for layer in layers:
            default.update(_pairs(layer.get("default", {}), "default"))
            for profile, table in layer.get("profile", {}).items():
                by_profile.setdefault(profile, {}).update(_pairs(table, f"profile.{profile}"))
        check_covers_metrics(default, "thresholds.toml [default]")
        return cls(default, by_profile)

    def arrays(
        self, profiles: Sequence[str], metrics: Sequence[str] = METRICS
    ) -> tuple[FloatArray, FloatArray]:
        """``(warning, critical)`` thresholds as float64[S, M] for servers of these profiles."""
        base_w = np.array([self.default[m][0] for m in metrics])
        base_c = np.array([self.default[m][1] for m in metrics])
        warn = np.tile(base_w, (len(profiles), 1))
        crit = np.tile(base_c, (len(profiles), 1))
        for i, profile in enumerate(profiles):
            for j, metric in enumerate(metrics):
                override = self.by_profile.get(profile, {}).get(metric)
                if override is not None:
                    warn[i, j], crit[i, j] = override
        return warn, crit


def _pairs(table: Mapping[str, object], where: str) -> dict[str, tuple[float, float]]:
    out = {}
    for metric, value in table.items():
        if metric not in METRICS:
            raise ConfigError(f"thresholds [{where}]: unknown metric {metric!r}")
        if not isinstance(value, Mapping) or {"warning", "critical"} - set(value):
            raise ConfigError(f"thresholds [{where}] {metric}: needs warning and critical")
        warning, critical = float(value["warning"]), float(value["critical"])
        if not warning < critical:
            raise ConfigError(f"thresholds [{where}] {metric}: warning must be below critical")
        out[metric] = (warning, critical)
    return out
