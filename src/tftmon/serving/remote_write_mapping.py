"""The mapping of ``POST /api/v1/write``: which label names the server and how each tftmon
metric is computed from Prometheus series, read from a TOML file and checked at start.

The shipped ``remote_write_node_exporter.toml`` maps node_exporter's series; the setting
``TFTMON_REMOTE_WRITE_MAPPING`` names another file. Each ``[metrics.<metric>]`` table has a
``kind``:

- ``busy_percent``: 100 × (1 − rate of the ``idle`` series / rate of all ``series``)
- ``used_percent``: 100 × (1 − ``free`` / ``total``), gauges summed per server
- ``rate_sum``: ``scale`` × the summed rates of the counters ``series``
- ``gauge``: ``scale`` × the mean of the gauges ``series``

and may narrow its series with ``match`` (every label must fully match its regex) and
``exclude`` (a series is skipped when any label fully matches its regex).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final

from tftmon.errors import ConfigError
from tftmon.schemas import METRICS

DEFAULT_FILE: Final = "remote_write_node_exporter.toml"
KINDS: Final = ("busy_percent", "used_percent", "rate_sum", "gauge")
WHOLE: Final = 0  # a series counted in the whole (all CPU time, total memory, a sum, a mean)
PART: Final = 1  # a series of the part (idle CPU time, free memory)

_METRIC_KEYS: Final = {
    "busy_percent": {"kind", "series", "idle", "match", "exclude"},
    "used_percent": {"kind", "free", "total", "match", "exclude"},
    "rate_sum": {"kind", "series", "scale", "match", "exclude"},
    "gauge": {"kind", "series", "scale", "match", "exclude"},
}
_LABEL_NAME: Final = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")

Matchers = tuple[tuple[str, re.Pattern[str]], ...]
_Fail = Callable[[str, str], ConfigError]


@dataclass(frozen=True, slots=True)
class MetricRule:
    """How one tftmon metric is computed from series."""

    metric: str
    index: int  # position in ``METRICS``
    kind: str
    counter: bool  # the series are counters (rates are taken)
    series: dict[str, int]  # series name -> WHOLE or PART (used_percent)
    idle: Matchers  # busy_percent: the series of the part
    match: Matchers
    exclude: Matchers
    scale: float

    def role(self, name: str, labels: dict[str, str]) -> int | None:
        """``WHOLE`` or ``PART`` for a series of this rule; ``None`` when it is excluded."""
        if not _matches_all(self.match, labels) or _matches_any(self.exclude, labels):
            return None
        if self.kind == "busy_percent":
            return PART if _matches_all(self.idle, labels) else WHOLE
        return self.series[name]


@dataclass(frozen=True, slots=True)
class RemoteWriteMapping:
    """The mapping file, checked: the server label and the rule of each mapped metric."""

    source: str
    server_label: str
    strip_port: bool
    rules: tuple[MetricRule, ...]
    by_series: dict[str, MetricRule]

    def server_of(self, labels: dict[str, str]) -> str | None:
        """The server a series belongs to, or ``None`` without the server label."""
        value = labels.get(self.server_label)
        if not value:
            return None
        if self.strip_port:
            host, sep, port = value.rpartition(":")
            if sep and port.isdigit() and host:
                value = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        return value


def _matches_all(matchers: Matchers, labels: dict[str, str]) -> bool:
    return all(p.fullmatch(labels.get(name, "")) for name, p in matchers)


def _matches_any(matchers: Matchers, labels: dict[str, str]) -> bool:
    return any(p.fullmatch(labels.get(name, "")) for name, p in matchers)


def load_mapping(path: Path | None = None) -> RemoteWriteMapping:
    """The mapping of ``path``, or the shipped node_exporter mapping.

    Raises:
        ConfigError: unreadable TOML, or a key that is unknown, missing or invalid; the
            message names the file and the key.
    """
    if path is None:
        source = f"shipped {DEFAULT_FILE}"
        text = resources.files("tftmon.serving").joinpath(DEFAULT_FILE).read_text()
    else:
        source = str(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f"remote-write mapping {source}: {exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"remote-write mapping {source}: {exc}") from exc
    return parse_mapping(data, source)


def parse_mapping(data: dict[str, Any], source: str) -> RemoteWriteMapping:
    """Check a mapping read from TOML (see ``load_mapping``)."""

    def fail(key: str, problem: str) -> ConfigError:
        return ConfigError(f"remote-write mapping {source}: {key}: {problem}")

    _no_unknown(data, {"server", "metrics"}, "", fail)
    server = data.get("server", {})
    if not isinstance(server, dict):
        raise fail("server", "must be a table")
    _no_unknown(server, {"label", "strip_port"}, "server.", fail)
    label = server.get("label", "instance")
    if not isinstance(label, str) or not _LABEL_NAME.fullmatch(label):
        raise fail("server.label", f"not a label name: {label!r}")
    strip_port = server.get("strip_port", True)
    if not isinstance(strip_port, bool):
        raise fail("server.strip_port", "must be true or false")
    metrics = data.get("metrics")
    if not isinstance(metrics, dict) or not metrics:
        raise fail("metrics", "needs at least one [metrics.<metric>] table")
    rules: list[MetricRule] = []
    by_series: dict[str, MetricRule] = {}
    for metric, table in metrics.items():
        key = f"metrics.{metric}"
        if metric not in METRICS:
            raise fail(key, f"unknown metric; the metrics are {', '.join(METRICS)}")
        if not isinstance(table, dict):
            raise fail(key, "must be a table")
        rule = _rule(metric, table, key, fail)
        for name in rule.series:
            if name in by_series:
                raise fail(key, f"series {name!r} is already used by {by_series[name].metric}")
            by_series[name] = rule
        rules.append(rule)
    return RemoteWriteMapping(source, label, strip_port, tuple(rules), by_series)


def _rule(metric: str, table: dict[str, Any], key: str, fail: _Fail) -> MetricRule:
    kind = table.get("kind")
    if kind not in KINDS:
        raise fail(f"{key}.kind", f"must be one of {', '.join(KINDS)} (got {kind!r})")
    _no_unknown(table, _METRIC_KEYS[kind], f"{key}.", fail)
    series: dict[str, int] = {}
    if kind == "used_percent":
        for part, role in (("free", PART), ("total", WHOLE)):
            for name in _names(table.get(part), f"{key}.{part}", fail):
                series[name] = role
    else:
        series = dict.fromkeys(_names(table.get("series"), f"{key}.series", fail), WHOLE)
    scale = table.get("scale", 1.0)
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not scale > 0:
        raise fail(f"{key}.scale", f"must be a positive number (got {scale!r})")
    idle = _matchers(table.get("idle", {}), f"{key}.idle", fail)
    if kind == "busy_percent" and not idle:
        raise fail(f"{key}.idle", 'needs the matchers of the idle series, e.g. {mode = "idle"}')
    return MetricRule(
        metric=metric,
        index=METRICS.index(metric),
        kind=kind,
        counter=kind in ("busy_percent", "rate_sum"),
        series=series,
        idle=idle,
        match=_matchers(table.get("match", {}), f"{key}.match", fail),
        exclude=_matchers(table.get("exclude", {}), f"{key}.exclude", fail),
        scale=float(scale),
    )


def _names(value: Any, key: str, fail: _Fail) -> list[str]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names:
        raise fail(key, "needs a series name or a list of them")
    for name in names:
        if not isinstance(name, str) or not re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", name):
            raise fail(key, f"not a metric name: {name!r}")
    return names


def _matchers(value: Any, key: str, fail: _Fail) -> Matchers:
    if not isinstance(value, dict):
        raise fail(key, 'must be a table of label = "regex"')
    out = []
    for name, pattern in value.items():
        if not _LABEL_NAME.fullmatch(name) or not isinstance(pattern, str):
            raise fail(f"{key}.{name}", 'must be label = "regex"')
        try:
            out.append((name, re.compile(pattern)))
        except re.error as exc:
            raise fail(f"{key}.{name}", f"bad regex {pattern!r}: {exc}") from exc
    return tuple(out)


def _no_unknown(table: dict[str, Any], allowed: set[str], prefix: str, fail: _Fail) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise fail(f"{prefix}{unknown[0]}", f"unknown key; expected one of {sorted(allowed)}")
