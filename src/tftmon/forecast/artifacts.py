"""Model artifacts: ``models/<version>/`` holds ``weights.pt`` (a state dict) and
``metadata.json``; ``models/LATEST`` names the version served.

Only artifacts inside the models folder, written by our own training, are loaded: the
weights are read with ``torch.load(weights_only=True)`` (tensors only, no pickled code),
and the network is rebuilt from the JSON hyperparameters in the metadata.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from tftmon import __version__
from tftmon.errors import ConfigError

FORMAT: Final = 1
WEIGHTS: Final = "weights.pt"
METADATA: Final = "metadata.json"
LATEST: Final = "LATEST"
_VERSION: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# hyperparameters that are objects, rebuilt from the metadata instead of stored
_OBJECT_HPARAMS: Final = {"output_transformer", "dataset_parameters", "loss", "logging_metrics"}


class ArtifactError(ConfigError):
    """A model artifact is missing, malformed, or does not match this code."""


@dataclass(frozen=True, slots=True)
class ArtifactMeta:
    """What ``metadata.json`` says about a model."""

    version: str
    raw: dict[str, Any]

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(self.raw["metrics"])

    @property
    def quantiles(self) -> tuple[float, ...]:
        return tuple(self.raw["quantiles"])

    @property
    def step_seconds(self) -> int:
        return int(self.raw["step_seconds"])

    @property
    def encoder_steps(self) -> int:
        return int(self.raw["encoder_steps"])

    @property
    def horizon_steps(self) -> int:
        return int(self.raw["horizon_steps"])

    @property
    def min_encoder_steps(self) -> int:
        return int(self.raw["min_encoder_steps"])

    @property
    def profiles(self) -> dict[str, int]:
        return dict(self.raw["profile_vocabulary"])

    @property
    def target_normalizer(self) -> str:
        return str(self.raw.get("target_normalizer", "identity"))

    @property
    def relative_time_idx(self) -> bool:
        """Whether the network takes the step position relative to the origin as an input."""
        return "relative_time_idx" in self.raw.get("reals", [])

    @property
    def hparams(self) -> dict[str, Any]:
        return dict(self.raw["hparams"])


def json_hparams(hparams: dict[str, Any]) -> dict[str, Any]:
    """The JSON-able part of a TFT's hyperparameters."""
    out = {}
    for key, value in hparams.items():
        if key in _OBJECT_HPARAMS:
            continue
        out[key] = json.loads(json.dumps(value, default=_plain))
    return out


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} in metadata.json")


def save_artifact(
    models_dir: Path, version: str, state_dict: Any, metadata: dict[str, Any]
) -> Path:
    """Write ``models_dir/version/`` (weights + metadata); does not touch ``LATEST``."""
    import torch

    if not _VERSION.match(version):
        raise ArtifactError(f"bad model version {version!r}")
    folder = models_dir / version
    folder.mkdir(parents=True, exist_ok=False)
    torch.save(state_dict, folder / WEIGHTS)
    meta = {"format": FORMAT, "tftmon_version": __version__, "version": version, **metadata}
    (folder / METADATA).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return folder


def set_latest(models_dir: Path, version: str) -> None:
    """Point ``models/LATEST`` at ``version`` (atomically)."""
    if not (models_dir / version / METADATA).is_file():
        raise ArtifactError(f"no model {version!r} in {models_dir}")
    tmp = models_dir / f"{LATEST}.{os.getpid()}.tmp"  # two writers never share a temp file
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(version + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(models_dir / LATEST)


def latest_version(models_dir: Path) -> str | None:
    """The version ``LATEST`` names, or None when there is no ``LATEST``."""
    path = models_dir / LATEST
    if not path.is_file():
        return None
    return path.read_text().strip() or None


def read_metadata(models_dir: Path, version: str) -> ArtifactMeta:
    """Read and check a model's metadata (it must live directly inside ``models_dir``)."""
    if not _VERSION.match(version):
        raise ArtifactError(f"bad model version {version!r} in {models_dir / LATEST}")
    folder = (models_dir / version).resolve()
    if folder.parent != models_dir.resolve():
        raise ArtifactError(f"model {version!r} is not inside {models_dir}")
    path = folder / METADATA
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ArtifactError(f"{path}: missing") from exc
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path}: not valid JSON ({exc})") from exc
    if raw.get("format") != FORMAT:
        raise ArtifactError(
            f"{path}: artifact format {raw.get('format')!r}, this tftmon reads format {FORMAT}"
        )
    needed = {
        "metrics",
        "quantiles",
        "step_seconds",
        "encoder_steps",
        "horizon_steps",
        "min_encoder_steps",
        "profile_vocabulary",
        "hparams",
    }
    missing = needed - set(raw)
    if missing:
        raise ArtifactError(f"{path}: missing {sorted(missing)}")
    return ArtifactMeta(version, raw)


def weights_path(models_dir: Path, version: str) -> Path:
    """The weights file of a version."""
    return models_dir / version / WEIGHTS
