"""The model folder's lifecycle: promotion, rollback and retention of ``models/<version>/``.

``models/HISTORY.jsonl`` records every change of ``LATEST`` made here, one JSON object a
line: ``{"time", "action" ("promote" or "rollback"), "version", "previous", ...}``. A
rollback returns to the version that was served before the current one was promoted, so
successive rollbacks walk back through the promotions.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from tftmon.fileio import fsync_dir
from tftmon.filelock import locked
from tftmon.forecast.artifacts import (
    METADATA,
    ArtifactError,
    latest_version,
    read_metadata,
    set_latest,
)
from tftmon.timefmt import now_z

logger = logging.getLogger(__name__)

HISTORY: Final = "HISTORY.jsonl"


def history(models_dir: Path) -> list[dict[str, Any]]:
    """Every recorded change of ``LATEST``, oldest first (unreadable lines are skipped)."""
    path = models_dir / HISTORY
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict):
            out.append(entry)
    return out


def _append(models_dir: Path, entry: dict[str, Any]) -> None:
    entry = {"time": now_z(), **entry}
    with (models_dir / HISTORY).open("a") as f:
        f.write(json.dumps(entry, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


def install(staged: Path, models_dir: Path) -> Path:
    """Move a complete version folder into ``models_dir`` in one rename (same filesystem)."""
    target = models_dir / staged.name
    if target.exists():
        raise ArtifactError(f"{target} exists already")
    staged.rename(target)
    fsync_dir(models_dir)  # the rename itself survives a power cut
    return target


@contextlib.contextmanager
def registry_lock(models_dir: Path) -> Iterator[None]:
    """Hold ``models/.lock`` while changing ``LATEST``, ``HISTORY.jsonl`` or the versions, so
    a retrain from cron, a rollback by hand and a second retrain never interleave (POSIX and
    Windows: ``tftmon.filelock``)."""
    with locked(models_dir / ".lock"):
        yield


def promote(models_dir: Path, version: str, **details: Any) -> str | None:
    """Point ``LATEST`` at ``version`` and record it; returns the version served before."""
    previous = latest_version(models_dir)
    read_metadata(models_dir, version)  # refuse a folder that is not a model
    set_latest(models_dir, version)
    _append(models_dir, {"action": "promote", "version": version, "previous": previous, **details})
    logger.info("promoted %s (previously %s)", version, previous)
    return previous


def rollback_target(models_dir: Path) -> str | None:
    """The version served before the current one was promoted (None: nothing to go back to)."""
    current = latest_version(models_dir)
    for entry in reversed(history(models_dir)):
        if entry.get("action") == "promote" and entry.get("version") == current:
            previous = entry.get("previous")
            return str(previous) if previous else None
    return None


def rollback(models_dir: Path, to: str | None = None) -> tuple[str, str | None]:
    """Point ``LATEST`` back at the previous version (or ``to``); returns (now, before)."""
    current = latest_version(models_dir)
    target = to or rollback_target(models_dir)
    if target is None:
        raise ArtifactError(
            f"no previous version of {current!r} is recorded in {models_dir / HISTORY}: "
            "name one with --to"
        )
    read_metadata(models_dir, target)
    set_latest(models_dir, target)
    _append(models_dir, {"action": "rollback", "version": target, "previous": current})
    logger.info("rolled back from %s to %s", current, target)
    return target, current


def versions(models_dir: Path) -> list[str]:
    """Model versions in ``models_dir``, oldest first (by their metadata's creation time)."""
    found = []
    for folder in models_dir.iterdir() if models_dir.is_dir() else []:
        meta = folder / METADATA
        if folder.name.startswith(".") or not meta.is_file():
            continue
        try:
            created = str(json.loads(meta.read_text()).get("created", ""))
        except (OSError, json.JSONDecodeError):
            created = ""
        found.append((created, folder.name))
    return [name for _, name in sorted(found)]


def prune(models_dir: Path, keep: int, protect: set[str] | None = None) -> list[str]:
    """Delete all but the ``keep`` newest versions; never the served one, the one a rollback
    would return to, nor any in ``protect``. Returns the versions removed."""
    spared = {latest_version(models_dir), rollback_target(models_dir), *(protect or set())}
    all_versions = versions(models_dir)
    newest = set(all_versions[-keep:]) if keep > 0 else set()
    removed = []
    for version in all_versions:
        if version in newest or version in spared:
            continue
        try:
            shutil.rmtree(models_dir / version)
        except OSError as exc:  # promoted already: a folder left behind is no failure
            logger.warning("could not remove old model %s: %s", version, exc)
            continue
        removed.append(version)
        logger.info("removed old model %s (keeping %d)", version, keep)
    return removed
