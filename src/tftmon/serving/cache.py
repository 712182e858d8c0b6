"""The latest predictions as served: one JSON body plus the byte span of each server in it.

A ``CacheWriter`` writes the body one server at a time as the inference cycle produces
them (orjson holds the GIL while it writes: one call over a large fleet would stall request
threads), so forecast arrays never pile up for the whole fleet. A second, compact body
(``view=summary``) keeps every scalar of each server and drops the forecast lists, for fleet
views that do not draw forecasts. A filtered request slices either body; per-server
summaries feed ``/metrics``.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

_OPT = orjson.OPT_SERIALIZE_NUMPY
_HEAD = b'{"predictions":{'
SUMMARY_FIELDS = (
    "risk_score",
    "incident_probability_30m",
    "incident_probability_8h",
    "alert",
    "model_type",
)
FORECAST_FIELDS = frozenset({"p10", "p50", "p90", "quantiles"})


def compact_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A server's entry without its forecast lists (every scalar is kept)."""
    return {
        key: (
            {k: v for k, v in value.items() if k not in FORECAST_FIELDS}
            if isinstance(value, dict)
            else value
        )
        for key, value in entry.items()
    }


@dataclass(frozen=True, slots=True)
class PredictionsCache:
    """The result of one inference cycle, ready to serve."""

    body: bytes
    spans: dict[str, tuple[int, int]]
    compact: bytes
    compact_spans: dict[str, tuple[int, int]]
    summary: dict[str, dict[str, Any]]
    alerts: list[dict[str, Any]]
    rest: bytes  # the document without "predictions", as a JSON object
    time: datetime
    inference_ms: float
    exposition: bytes = b""  # forecasts in the Prometheus text format (serving.exposition)

    def select(self, names: Iterable[str] | None = None, *, compact: bool = False) -> bytes:
        """The document restricted to ``names`` (unknown names are left out; None: all).

        With ``compact`` the servers' metrics hold no forecast lists.
        """
        body, spans = (self.compact, self.compact_spans) if compact else (self.body, self.spans)
        if names is None:
            return body
        wanted = [n for n in dict.fromkeys(names) if n in spans]
        keep = set(wanted)
        fragments = b",".join(body[slice(*spans[n])] for n in wanted)
        rest = orjson.loads(self.rest)
        rest["alerts"] = [a for a in self.alerts if a["server"] in keep]
        return _close(_HEAD + fragments, orjson.dumps(rest))


def _close(head: bytes, rest: bytes) -> bytes:
    return head + b"}" + (b"}" if rest == b"{}" else b"," + rest[1:])


class CacheWriter:
    """Builds a ``PredictionsCache`` server by server."""

    def __init__(self) -> None:
        self._buf = io.BytesIO()
        self._buf.write(_HEAD)
        self._spans: dict[str, tuple[int, int]] = {}
        self._compact = io.BytesIO()
        self._compact.write(_HEAD)
        self._compact_spans: dict[str, tuple[int, int]] = {}
        self._summary: dict[str, dict[str, Any]] = {}

    def add(self, name: str, entry: dict[str, Any]) -> None:
        """Write one server's entry."""
        key = orjson.dumps(name)
        _write(self._buf, self._spans, name, key + b":" + orjson.dumps(entry, option=_OPT))
        _write(
            self._compact,
            self._compact_spans,
            name,
            key + b":" + orjson.dumps(compact_entry(entry), option=_OPT),
        )
        self._summary[name] = {key: entry[key] for key in SUMMARY_FIELDS}

    def finish(
        self, rest: dict[str, Any], time: datetime, inference_ms: float, exposition: bytes = b""
    ) -> PredictionsCache:
        """Close the document with everything but ``predictions``; ``exposition`` rides along."""
        tail = orjson.dumps(rest, option=_OPT)
        for buf in (self._buf, self._compact):
            buf.write(b"}")
            buf.write(b"}" if tail == b"{}" else b"," + tail[1:])
        return PredictionsCache(
            body=self._buf.getvalue(),
            spans=self._spans,
            compact=self._compact.getvalue(),
            compact_spans=self._compact_spans,
            summary=self._summary,
            alerts=list(rest.get("alerts", [])),
            rest=tail,
            time=time,
            inference_ms=inference_ms,
            exposition=exposition,
        )


def _write(buf: io.BytesIO, spans: dict[str, tuple[int, int]], name: str, fragment: bytes) -> None:
    if spans:
        buf.write(b",")
    start = buf.tell()
    buf.write(fragment)
    spans[name] = (start, buf.tell())
