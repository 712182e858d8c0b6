"""Model artifacts: ``models/<version>/`` holds ``weights.pt`` (a state dict) and
``metadata.json``; ``models/LATEST`` names the version served.

Only artifacts inside the models folder, written by our own training, are loaded: every
file must be a regular file whose real path (symlinks resolved) lies inside the models
folder; the weights are read with ``torch.load(weights_only=True)`` (tensors only, no
pickled code) and must be a dict of finite tensors; the network is rebuilt from the JSON
hyperparameters in the metadata, whose keys and types are checked first. Errors name files
relative to the models folder (``<version>/weights.pt``), never by absolute path: they reach
``/status`` and the API.
"""

from __future__ import annotations

import io
import json
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from tftmon import __version__
from tftmon.errors import ConfigError
from tftmon.fileio import SHARED_MODE, atomic_write_bytes, atomic_write_text

FORMAT: Final = 1
WEIGHTS: Final = "weights.pt"
METADATA: Final = "metadata.json"
LATEST: Final = "LATEST"
_VERSION: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# hyperparameters that are objects, rebuilt from the metadata instead of stored
_OBJECT_HPARAMS: Final = {"output_transformer", "dataset_parameters", "loss", "logging_metrics"}
# metadata.json: required key -> (JSON type, element type or None)
_META_TYPES: Final[dict[str, tuple[type, type | tuple[type, ...] | None]]] = {
    "metrics": (list, str),
    "quantiles": (list, (int, float)),
    "step_seconds": (int, None),
    "encoder_steps": (int, None),
    "horizon_steps": (int, None),
    "min_encoder_steps": (int, None),
    "profile_vocabulary": (dict, int),
    "hparams": (dict, None),
    "reals": (list, str),
}


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
    weights = io.BytesIO()
    torch.save(state_dict, weights)
    # durable before LATEST can name it: a power cut never leaves a truncated model behind
    atomic_write_bytes(folder / WEIGHTS, weights.getvalue(), mode=SHARED_MODE)
    meta = {"format": FORMAT, "tftmon_version": __version__, "version": version, **metadata}
    text = json.dumps(meta, indent=2, sort_keys=True) + "\n"
    atomic_write_text(folder / METADATA, text, mode=SHARED_MODE)
    return folder


def set_latest(models_dir: Path, version: str) -> None:
    """Point ``models/LATEST`` at ``version`` (atomically)."""
    if not (models_dir / version / METADATA).is_file():
        raise ArtifactError(f"no model {version!r} in {models_dir}")
    atomic_write_text(models_dir / LATEST, version + "\n", mode=SHARED_MODE)


def latest_version(models_dir: Path) -> str | None:
    """The version ``LATEST`` names, or None when there is no ``LATEST``."""
    path = models_dir / LATEST
    if not path.is_file():
        return None
    return path.read_text().strip() or None


def artifact_file(models_dir: Path, version: str, name: str) -> Path:
    """``models_dir/version/name`` as a real path, checked: a regular file inside
    ``models_dir`` once symlinks are resolved.

    Raises:
        ArtifactError: missing, a link out of the models folder or to nothing, or not a
            regular file; named relative to the models folder (``<version>/<name>``).
    """
    path = models_dir / version / name
    label = f"{version}/{name}"
    if not path.is_symlink() and not path.exists():
        raise ArtifactError(f"{label}: missing")
    real = path.resolve()
    if not real.is_relative_to(models_dir.resolve()):
        raise ArtifactError(f"{label}: links to a file outside the models folder")
    if not real.exists():
        raise ArtifactError(f"{label}: a link to nothing")
    if not real.is_file():
        raise ArtifactError(f"{label}: not a regular file")
    return real


def optional_artifact_file(models_dir: Path, version: str, name: str) -> Path | None:
    """``artifact_file``, or None when there is no such file (nor a link of that name)."""
    path = models_dir / version / name
    if not path.is_symlink() and not path.exists():
        return None
    return artifact_file(models_dir, version, name)


def read_metadata(models_dir: Path, version: str) -> ArtifactMeta:
    """Read and check a model's metadata (it must live directly inside ``models_dir``)."""
    if not _VERSION.match(version):
        raise ArtifactError(f"bad model version {version!r} in {LATEST}")
    folder = (models_dir / version).resolve()
    if folder.parent != models_dir.resolve():
        raise ArtifactError(f"model {version!r} is not inside the models folder")
    path = artifact_file(models_dir, version, METADATA)
    label = f"{version}/{METADATA}"
    try:
        raw = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{label}: not valid JSON ({exc})") from exc
    if not isinstance(raw, dict):
        raise ArtifactError(f"{label}: not a JSON object")
    if raw.get("format") != FORMAT:
        raise ArtifactError(
            f"{label}: artifact format {raw.get('format')!r}, this tftmon reads format {FORMAT}"
        )
    missing = set(_META_TYPES) - set(raw)
    if missing:
        raise ArtifactError(f"{label}: missing {sorted(missing)}")
    for key, (kind, item) in _META_TYPES.items():
        if not _fits(raw[key], kind, item):
            raise ArtifactError(f"{label}: {key} is {raw[key]!r:.80}, not {_describe(kind, item)}")
    if not all(0.0 < q < 1.0 for q in raw["quantiles"]):
        raise ArtifactError(f"{label}: quantiles must lie between 0 and 1")
    if not isinstance(raw.get("target_normalizer", ""), str):
        raise ArtifactError(f"{label}: target_normalizer is not a string")
    return ArtifactMeta(version, raw)


def _is(value: Any, kind: type | tuple[type, ...]) -> bool:
    return isinstance(value, kind) and not isinstance(value, bool)


def _fits(value: Any, kind: type, item: type | tuple[type, ...] | None) -> bool:
    """A positive int, any object, or a non-empty list or object of ``item`` values."""
    if not _is(value, kind):
        return False
    if kind is int:
        return bool(value > 0)
    if item is None:
        return True
    items = value.values() if isinstance(value, dict) else value
    return bool(value) and all(_is(x, item) for x in items)


def _describe(kind: type, item: type | tuple[type, ...] | None) -> str:
    if kind is int:
        return "a positive integer"
    if item is None:
        return f"a JSON {'object' if kind is dict else kind.__name__}"
    name = "number" if isinstance(item, tuple) else "string" if item is str else "integer"
    return f"a non-empty {'object of' if kind is dict else 'list of'} {name}s"


def load_weights(models_dir: Path, version: str, expected: Mapping[str, Any]) -> dict[str, Any]:
    """The state dict in ``weights.pt``, checked against the network's own (``expected``):
    a dict of tensors with exactly its names and shapes, every value finite.

    Raises:
        ArtifactError: ``model <version>: weights do not load (<why>)``.
    """
    import torch

    def refuse(why: str) -> ArtifactError:
        return ArtifactError(f"model {version}: weights do not load ({why})")

    path = artifact_file(models_dir, version, WEIGHTS)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise refuse(reason) from exc
    if not isinstance(state, dict):
        raise refuse(f"{WEIGHTS} holds a {type(state).__name__}, not a dict of tensors")
    for name, tensor in state.items():
        if not isinstance(tensor, torch.Tensor):
            raise refuse(f"{name!r:.60} is a {type(tensor).__name__}, not a tensor")
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise refuse(f"{len(missing)} tensors missing {missing[:3]}, {len(unexpected)} unexpected")
    for name, tensor in state.items():
        want = tuple(expected[name].shape)
        if tuple(tensor.shape) != want:
            raise refuse(f"{name} has shape {tuple(tensor.shape)}, the network {want}")
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise refuse(f"{name} holds {bad} non-finite values (NaN or infinity)")
    return state


def weights_path(models_dir: Path, version: str) -> Path:
    """The weights file of a version."""
    return models_dir / version / WEIGHTS
