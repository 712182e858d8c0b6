"""Prometheus adapter: ``query_range`` over the HTTP API, one PromQL query per metric.

Each poll asks for the window after the checkpoint (at most ``max_window_s`` long, ending
``lag_s`` before now so that late scrapes have landed), on a grid of ``step_s``, and merges
the answers into one record per server and step. The server is the ``instance`` label (or
``server_label``), without its port unless ``strip_port`` is false. The default queries
read node_exporter; add ``latency_ms`` with a query of your own (e.g. blackbox_exporter's
``probe_duration_seconds``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any, Final

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from tftmon.adapters.base import BaseAdapter, Batch
from tftmon.adapters.checkpoint import Checkpoint
from tftmon.errors import ConfigError, SourceError
from tftmon.schemas import METRICS, check_covers_metrics
from tftmon.timefmt import iso_z

logger = logging.getLogger(__name__)

NODE_EXPORTER_QUERIES: Final[dict[str, str]] = {
    "cpu_pct": '100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[1m])))',
    "mem_pct": "100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)",
    "disk_io_mb_s": "sum by (instance) (rate(node_disk_read_bytes_total[1m])"
    " + rate(node_disk_written_bytes_total[1m])) / 1e6",
}
# node_exporter measures no service latency: a latency_ms query is the user's to add
check_covers_metrics(NODE_EXPORTER_QUERIES, "NODE_EXPORTER_QUERIES", left_out=["latency_ms"])


class PrometheusSource(BaseModel):
    """The ``source`` section of a Prometheus adapter's config."""

    model_config = ConfigDict(extra="forbid")

    url: str = "http://127.0.0.1:9090"
    queries: dict[str, str] = Field(default_factory=lambda: dict(NODE_EXPORTER_QUERIES))
    server_label: str = "instance"
    strip_port: bool = True
    step_s: float = Field(30.0, ge=1)
    lag_s: float = Field(30.0, ge=0)
    max_window_s: float = Field(3600.0, gt=0)
    timeout_s: float = Field(30.0, gt=0)
    headers: dict[str, str] = Field(default_factory=dict, description="e.g. Authorization")

    @field_validator("queries")
    @classmethod
    def _metrics_only(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = set(value) - set(METRICS)
        if unknown:
            raise ValueError(f"queries for unknown metrics {sorted(unknown)}; one of {METRICS}")
        if not value:
            raise ValueError("at least one query is needed")
        return value


class PrometheusAdapter(BaseAdapter[PrometheusSource]):
    """Reads node metrics from a Prometheus server."""

    kind = "prometheus"
    source_model = PrometheusSource

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._http = httpx.Client(
            base_url=self.source.url.rstrip("/"),
            timeout=self.source.timeout_s,
            headers=self.source.headers,
        )

    def source_id(self) -> str:
        return f"prometheus:{self.source.url.rstrip('/')}"

    def fetch(self, since: Checkpoint | None) -> Batch:
        step = self.source.step_s
        latest = math.floor((self.now().timestamp() - self.source.lag_s) / step) * step
        if since is None:
            start = math.ceil(self.backfill_start().timestamp() / step) * step
        else:
            start = float(since.position[0]) + step
        end = min(latest, start + self.source.max_window_s - step)
        if end < start:
            return Batch([], None)
        rows: dict[tuple[str, float], dict[str, Any]] = {}
        for metric, promql in self.source.queries.items():
            for series in self._query_range(metric, promql, start, end):
                name = self._server(series.get("metric", {}))
                if name is None:
                    continue
                for stamp, text in series.get("values", []):
                    value = float(text)
                    if not math.isfinite(value):
                        continue  # NaN when a rate has too few samples: no value, not a zero
                    row = rows.setdefault(
                        (name, float(stamp)), {"timestamp": float(stamp), "server_name": name}
                    )
                    row[metric] = value
        documents: list[Mapping[str, Any]] = [
            rows[key] for key in sorted(rows, key=lambda k: (k[1], k[0]))
        ]
        return Batch(documents, [end], timestamp=iso_z(end), more=end < latest)

    def _server(self, labels: dict[str, str]) -> str | None:
        value = labels.get(self.source.server_label)
        if not value:
            return None
        if self.source.strip_port and value.count(":") == 1:
            value = value.rsplit(":", 1)[0]
        return value

    def _query_range(
        self, metric: str, promql: str, start: float, end: float
    ) -> list[dict[str, Any]]:
        params: dict[str, str | float] = {
            "query": promql,
            "start": start,
            "end": end,
            "step": self.source.step_s,
        }
        try:
            response = self._http.get("/api/v1/query_range", params=params)
        except httpx.HTTPError as exc:
            raise SourceError(f"Prometheus {self.source.url}: {exc}") from exc
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code == 400 or body.get("errorType") == "bad_data":
            raise ConfigError(
                f"Prometheus refused the {metric} query {promql!r}: {body.get('error')}"
            )
        if response.status_code >= 400 or body.get("status") != "success":
            raise SourceError(
                f"Prometheus {self.source.url}: HTTP {response.status_code} {body.get('error', '')}"
            )
        result = body["data"]["result"]
        return result if isinstance(result, list) else []

    def close(self) -> None:
        self._http.close()
