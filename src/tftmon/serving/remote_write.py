"""``POST /api/v1/write``'s converter: Prometheus remote-write series become tftmon records.

Samples are grouped by (server, timestamp); one group becomes one record once it is
complete, and goes through the same validation and store as ``POST /feed``. Counters need
the previous sample of each series, kept in memory (bounded by ``max_series``); a counter
reset, or a series' first sample, gives no rate for that step, so the metric is left out.

Prometheus shards series over concurrent requests and cuts batches by size, so one scrape
may arrive in several requests. A group is therefore held (in memory, not yet durable)
while a series of the server that sent the previous scrape has not sent this one, until
that series sends a newer sample, or the hold time passes (2 × the server's observed
scrape interval, at most ``max_hold_s``); then it is stored with what it has. Held groups
are checked when a request arrives: a sender that stops leaves its last groups held.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from tftmon.schemas import METRIC_SPECS, SERVER_NAME_PATTERN
from tftmon.serving.remote_write_mapping import PART, MetricRule, RemoteWriteMapping
from tftmon.serving.remote_write_wire import Series, decode_labels

logger = logging.getLogger(__name__)

# the values of the ``reason`` label of tftmon_remote_write_samples_dropped
DROP_REASONS: Final = (
    "unmapped",  # no metric of the mapping uses the series' name
    "excluded",  # the mapping's match/exclude matchers leave it out
    "no_server",  # the server label is missing or empty
    "bad_server",  # the server name is not a valid server_name
    "not_finite",  # NaN (also Prometheus' staleness markers) or infinite
    "out_of_order",  # not newer than the series' previous sample
    "late",  # its (server, timestamp) record was already stored
    "series_limit",  # more series than the converter keeps state for
)
MAX_HELD_PER_SERVER: Final = 8
MAX_UNSTORED: Final = 100_000
_SERVER_NAME: Final = re.compile(SERVER_NAME_PATTERN)
_NEVER: Final = -(1 << 62)
_SWEEP_EVERY_S: Final = 10.0
_STALE_MS: Final = 10 * 60 * 1000


class _Server:
    __slots__ = ("emitted_ts", "groups", "interval_ms", "name", "routes")

    def __init__(self, name: str) -> None:
        self.name = name
        self.groups: dict[int, _Group] = {}
        self.routes: set[_Route] = set()
        self.emitted_ts = _NEVER
        self.interval_ms = 0


class _Route:
    """One mapped series: its server, rule and role, and its newest sample."""

    __slots__ = ("counter", "role", "rule", "server", "ts", "value")

    def __init__(self, server: _Server, rule: MetricRule, role: int) -> None:
        self.server = server
        self.rule = rule
        self.counter = rule.counter
        self.role = role
        self.ts = _NEVER
        self.value: float | None = None


class _Group:
    __slots__ = ("created", "entries", "ts")

    def __init__(self, ts: int, created: float) -> None:
        self.ts = ts
        self.created = created
        # rule index -> series -> (role, rate or value; None: no rate this step)
        self.entries: dict[int, dict[_Route, tuple[int, float | None]]] = {}


@dataclass(slots=True)
class Conversion:
    """What one request's series gave: records to store and samples counted."""

    records: list[dict[str, Any]]
    received: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    held: int = 0  # groups held (all servers) after this request


class RemoteWriteConverter:
    """Turns decoded series into records (thread-safe; one per daemon)."""

    def __init__(
        self,
        mapping: RemoteWriteMapping,
        *,
        max_series: int = 500_000,
        max_hold_s: float = 60.0,
        max_future_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.mapping = mapping
        # samples before 1970 or further ahead than /feed takes are dropped before they
        # touch a series' state (a far-future one would block the series for good)
        self.max_future_ms = int(max_future_s * 1000)
        self._wall_clock = wall_clock
        self.max_series = max_series
        self.max_hold_s = max_hold_s
        self._clock = clock
        self._lock = threading.Lock()
        # held by the caller around ``convert`` and the storing of its records, so records
        # reach the store in the order they were made (a server's older step first)
        self.store_order = threading.Lock()
        self._routes: dict[bytes, _Route | str] = {}  # label bytes -> series, or drop reason
        self._servers: dict[str, _Server] = {}
        self._holding: set[_Server] = set()
        self._unstored: list[dict[str, Any]] = []
        self._newest_ts = _NEVER
        self._last_sweep = -_SWEEP_EVERY_S

    def convert(self, series: Iterable[Series]) -> Conversion:
        """Route each sample, and return the records of every group now ready.

        Raises:
            MalformedBodyError: a series' labels are not well-formed.
        """
        with self._lock:
            now = self._clock()
            latest_ok = int(self._wall_clock() * 1000) + self.max_future_ms
            out = Conversion(records=self._unstored)
            self._unstored = []
            dropped = out.dropped
            routes = self._routes
            touched: set[_Server] = set()
            received = 0
            newest = self._newest_ts
            for key, samples in series:
                received += len(samples)
                route = routes.get(key)
                if route is None:  # a new series: a sweep may need the newest time
                    if samples and newest < samples[-1][0] <= latest_ok:
                        newest = samples[-1][0]
                    self._newest_ts = newest
                    route = self._route(key, now)
                if isinstance(route, str):
                    dropped[route] += len(samples)
                    continue
                server = route.server
                touched.add(server)
                for ts, v in samples:
                    if not 0 <= ts <= latest_ok:
                        dropped["out_of_range"] += 1
                        continue
                    if v - v != 0.0:  # NaN (a staleness marker too) or infinite
                        dropped["not_finite"] += 1
                        if ts > route.ts:
                            route.ts = ts
                            route.value = None
                        continue
                    prev_ts = route.ts
                    if ts <= prev_ts:
                        dropped["out_of_order"] += 1
                        continue
                    val: float | None = v
                    if route.counter:
                        pv = route.value
                        val = (
                            (v - pv) * 1000.0 / (ts - prev_ts)
                            if pv is not None and v >= pv
                            else None
                        )
                    route.ts = ts
                    route.value = v
                    if ts > newest:
                        newest = ts
                    if ts <= server.emitted_ts:
                        dropped["late"] += 1
                        continue
                    group = server.groups.get(ts)
                    if group is None:
                        group = server.groups[ts] = _Group(ts, now)
                    per_rule = group.entries.get(route.rule.index)
                    if per_rule is None:
                        per_rule = group.entries[route.rule.index] = {}
                    per_rule[route] = (route.role, val)
            self._newest_ts = newest
            out.received = received
            for server in touched | self._holding:
                self._emit_ready(server, now, out.records)
            out.held = sum(len(s.groups) for s in self._holding)
            return out

    def requeue(self, records: list[dict[str, Any]]) -> None:
        """Keep records the store could not take; the next ``convert`` returns them first."""
        with self._lock:
            kept = (records + self._unstored)[-MAX_UNSTORED:]
            if len(kept) < len(records) + len(self._unstored):
                logger.warning(
                    "remote write: %d unstored records dropped (more than %d waiting)",
                    len(records) + len(self._unstored) - len(kept),
                    MAX_UNSTORED,
                )
            self._unstored = kept

    def flush(self) -> list[dict[str, Any]]:
        """Every held group as a record now, complete or not, after the unstored records
        (at shutdown: what was acknowledged to the sender is stored, not dropped)."""
        with self._lock:
            records, self._unstored = self._unstored, []
            for server in self._holding:
                for ts in sorted(server.groups):
                    group = server.groups[ts]
                    record = _record(server.name, group, self.mapping, _incomplete(server, group))
                    if record is not None:
                        records.append(record)
                server.groups.clear()
            self._holding.clear()
            return records

    def held_groups(self) -> int:
        """Groups held in memory now (not yet stored)."""
        with self._lock:
            return sum(len(s.groups) for s in self._holding)

    # ------------------------------------------------------------------ routing

    def _route(self, key: bytes, now: float) -> _Route | str:
        labels = decode_labels(key)
        name = labels.get("__name__", "")
        mapping = self.mapping
        rule = mapping.by_series.get(name)
        reason = None
        role = rule.role(name, labels) if rule is not None else None
        server_name = mapping.server_of(labels)
        if rule is None:
            reason = "unmapped"
        elif role is None:
            reason = "excluded"
        elif server_name is None:
            reason = "no_server"
        elif not _SERVER_NAME.fullmatch(server_name):
            reason = "bad_server"
        if len(self._routes) >= self.max_series and not self._sweep(now):
            return reason or "series_limit"  # not kept: looked at again next time
        if reason is not None or rule is None or role is None or server_name is None:
            self._routes[key] = reason or "unmapped"
            return reason or "unmapped"
        server = self._servers.get(server_name)
        if server is None:
            server = self._servers[server_name] = _Server(server_name)
        route = _Route(server, rule, role)
        server.routes.add(route)
        self._routes[key] = route
        return route

    def _sweep(self, now: float) -> bool:
        """Forget dropped series and those silent for 10 minutes; whether there is room."""
        if now - self._last_sweep >= _SWEEP_EVERY_S:
            self._last_sweep = now
            horizon = self._newest_ts - _STALE_MS
            routes = self._routes  # changed in place: ``convert`` holds it
            doomed = [
                key
                for key, route in routes.items()
                if isinstance(route, str) or (route.ts < horizon and not route.server.groups)
            ]
            for key in doomed:
                route = routes.pop(key)
                if not isinstance(route, str):
                    route.server.routes.discard(route)
            for name in [n for n, s in self._servers.items() if not s.routes and not s.groups]:
                del self._servers[name]
            logger.info("remote write: %d series kept after a sweep", len(routes))
        return len(self._routes) < self.max_series

    # ------------------------------------------------------------------ records

    def _emit_ready(self, server: _Server, now: float, records: list[dict[str, Any]]) -> None:
        groups = server.groups
        while groups:
            ts = min(groups)
            group = groups[ts]
            if not (
                len(groups) > MAX_HELD_PER_SERVER
                or self._complete(server, group)
                or now - group.created >= self._hold_s(server, ts)
            ):
                break
            del groups[ts]
            record = _record(server.name, group, self.mapping, _incomplete(server, group))
            if record is not None:
                records.append(record)
            if server.emitted_ts != _NEVER:
                server.interval_ms = ts - server.emitted_ts
            server.emitted_ts = ts
        if groups:
            self._holding.add(server)
        else:
            self._holding.discard(server)

    @staticmethod
    def _complete(server: _Server, group: _Group) -> bool:
        """No series that sent the previous scrape is still to send this one."""
        ts = group.ts
        since = server.emitted_ts
        entries = group.entries
        for route in server.routes:
            if since <= route.ts < ts and route not in entries.get(route.rule.index, ()):
                return False
        return True

    def _hold_s(self, server: _Server, ts: int) -> float:
        interval = server.interval_ms
        if not interval and server.emitted_ts != _NEVER:
            interval = ts - server.emitted_ts
        if interval <= 0:
            return self.max_hold_s
        return min(self.max_hold_s, 2 * interval / 1000.0)


def _incomplete(server: _Server, group: _Group) -> set[int]:
    """The rules of which a series that sent the previous scrape has nothing in ``group``."""
    since = server.emitted_ts
    entries = group.entries
    return {
        route.rule.index
        for route in server.routes
        if route.ts >= since and route not in entries.get(route.rule.index, ())
    }


def _record(
    server: str, group: _Group, mapping: RemoteWriteMapping, incomplete: set[int]
) -> dict[str, Any] | None:
    """The record of a group, without the metrics ``incomplete`` names (a part of the CPUs
    or disks is not the whole); ``None`` when no metric could be computed."""
    record: dict[str, Any] = {}
    for rule in mapping.rules:
        entries = group.entries.get(rule.index)
        if entries and rule.index not in incomplete:
            value = metric_value(rule, entries.values())
            if value is not None:
                record[rule.metric] = value
    if not record:
        return None
    record["timestamp"] = datetime.fromtimestamp(group.ts / 1000.0, UTC)
    record["server_name"] = server
    return record


def metric_value(rule: MetricRule, entries: Iterable[tuple[int, float | None]]) -> float | None:
    """A metric from its series' (role, rate or value) at one step, within its valid range;
    ``None`` when a series has no rate this step or the formula is undefined."""
    whole = part = 0.0
    wholes = parts = 0
    for role, val in entries:
        if val is None:
            return None
        if role == PART:
            part += val
            parts += 1
        else:
            whole += val
            wholes += 1
    kind = rule.kind
    if kind == "busy_percent":
        total = whole + part
        if total <= 0 or not parts:
            return None
        value = 100.0 * (1.0 - part / total)
    elif kind == "used_percent":
        if not parts or not wholes or whole <= 0:
            return None
        value = 100.0 * (1.0 - part / whole)
    elif kind == "rate_sum":
        value = rule.scale * whole
    else:  # gauge: the mean
        if not wholes:
            return None
        value = rule.scale * whole / wholes
    spec = METRIC_SPECS[rule.index]
    value = max(spec.lower, value)
    return value if spec.upper is None else min(spec.upper, value)
