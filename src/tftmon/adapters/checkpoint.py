"""An adapter's durable position in its source: written atomically after each ack.

The state file holds the source position after the last record the daemon acknowledged
(for example ``[timestamp, tiebreak id]``). It is written to a temporary file, fsynced and
renamed, and the previous state is kept beside it as ``<file>.prev``: a crash mid-write
leaves either the new state, or no state file and the previous one, never a torn file that
is believed. A state file that cannot be read anyway (a disk fault, a hand edit) falls back
to the previous one, and failing that to a backfill: records are re-sent, never skipped,
and the daemon drops the duplicates.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from tftmon.fileio import atomic_write_bytes
from tftmon.timefmt import now_z

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Checkpoint:
    """Where an adapter stands.

    Attributes:
        position: the source's own sort values of the last acknowledged record.
        timestamp: that record's time (ISO 8601), for people reading the file.
        source: what the position belongs to (kind + address); another source starts afresh.
        records_sent: records acknowledged by the daemon since the state file was created.
        updated_at: when the file was written.
    """

    position: list[Any]
    timestamp: str | None
    source: str
    records_sent: int = 0
    updated_at: str = ""


class CheckpointFile:
    """Loads and atomically saves one adapter's ``Checkpoint``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.previous = path.with_name(path.name + ".prev")

    def load(self, source: str) -> Checkpoint | None:
        """The last saved checkpoint for ``source``; None means start with a backfill."""
        for stale in self.path.parent.glob(f"{self.path.name}.*.tmp"):
            stale.unlink(missing_ok=True)  # a write a crash interrupted before its rename
        for candidate in (self.path, self.previous):
            if not candidate.exists():
                continue
            try:
                data = orjson.loads(candidate.read_bytes())
                checkpoint = Checkpoint(**data)
                if not isinstance(checkpoint.position, list):
                    raise TypeError("position is not a list")
            except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
                logger.warning("state file %s is unreadable (%s); ignoring it", candidate, exc)
                continue
            if checkpoint.source != source:
                logger.warning(
                    "state file %s belongs to %s, not %s; starting afresh",
                    candidate,
                    checkpoint.source,
                    source,
                )
                return None
            if candidate is self.previous:
                logger.warning(
                    "resuming from the previous state %s (re-sends are dropped)", candidate
                )
            return checkpoint
        return None

    def save(self, checkpoint: Checkpoint) -> Checkpoint:
        """Write ``checkpoint`` durably; returns it with ``updated_at`` filled in."""
        stamped = Checkpoint(**{**asdict(checkpoint), "updated_at": now_z()})
        data = orjson.dumps(asdict(stamped), option=orjson.OPT_INDENT_2)
        atomic_write_bytes(self.path, data, mode=0o644, backup=self.previous)
        return stamped
