"""What the fleet store hands out: an append's result, snapshots, warm-up rows, deletions."""

from __future__ import annotations

from dataclasses import dataclass, field

from tftmon.store.stored_merge import FieldRefusal
from tftmon.windows import WindowSnapshot


@dataclass(slots=True)
class AppendResult:
    """What an append did: counts, refused rows by request index, and buckets closed.

    ``over_limit``: rows of new servers past ``max_servers``, not stored. ``merged``: rows
    that filled in metrics of a sample stored before; ``refusals``: fields of rows for
    stored samples that were not stored (``store.stored_merge``).
    """

    accepted: int = 0
    duplicates: int = 0
    late: list[int] = field(default_factory=list)
    over_limit: list[int] = field(default_factory=list)
    merged: list[int] = field(default_factory=list)
    refusals: list[FieldRefusal] = field(default_factory=list)
    closed_buckets: int = 0
    new_servers: int = 0


@dataclass(frozen=True, slots=True)
class FleetSnapshot:
    """Windows of the servers that hold data and are not stale, with their names and
    profiles; ``stale``: the names of the stale servers."""

    windows: WindowSnapshot
    names: list[str]
    profiles: list[str]
    stale: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ServerDeletion:
    """What deleting a server removed."""

    name: str
    samples: int
    buckets: int


@dataclass(frozen=True, slots=True)
class ServerWarmupRow:
    """Warm-up of one known server: closed steps held, newest sample (ms, -1 if none)."""

    name: str
    history_steps: int
    last_ts_ms: int
    stale: bool
