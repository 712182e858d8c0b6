"""Prometheus instruments of the daemon, on an injectable registry (one per app)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

INFERENCE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class DaemonMetrics:
    """Every counter, gauge and histogram the daemon exports on ``/metrics``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.records_accepted = Counter(
            "tftmon_records_accepted", "Records stored by POST /feed", registry=r
        )
        self.records_duplicate = Counter(
            "tftmon_records_duplicate", "Records already stored (idempotent re-sends)", registry=r
        )
        self.records_rejected = Counter(
            "tftmon_records_rejected", "Records refused, by reason", ["reason"], registry=r
        )
        self.fields_rejected = Counter(
            "tftmon_fields_rejected",
            "Fields left out of records stored without them, by reason",
            ["reason"],
            registry=r,
        )
        self.records_clamped = Counter(
            "tftmon_records_clamped",
            "Metric values above their range (cpu_pct, mem_pct up to 200) stored at its bound",
            ["metric"],
            registry=r,
        )
        self.records_merged = Counter(
            "tftmon_records_merged",
            "Records merged into an earlier record of their batch (same server and timestamp)",
            registry=r,
        )
        self.feed_requests = Counter(
            "tftmon_feed_requests", "POST /feed requests, by HTTP status", ["status"], registry=r
        )
        self.inference_seconds = Histogram(
            "tftmon_inference_seconds",
            "Duration of one inference cycle over the whole fleet",
            buckets=INFERENCE_BUCKETS,
            registry=r,
        )
        self.inference_errors = Counter(
            "tftmon_inference_errors", "Inference cycles that failed", registry=r
        )
        self.servers_tracked = Gauge("tftmon_servers_tracked", "Servers known", registry=r)
        self.servers_ready = Gauge(
            "tftmon_servers_ready", "Servers with the minimum history to forecast", registry=r
        )
        self.servers_stale = Gauge(
            "tftmon_servers_stale",
            "Servers with no data for TFTMON_STALE_AFTER_S: not forecast nor counted as tracked",
            registry=r,
        )
        self.servers_served = Gauge(
            "tftmon_servers_served",
            "Servers in the latest forecast, by model",
            ["model_type"],
            registry=r,
        )

        self.metrics_servers_omitted = Gauge(
            "tftmon_metrics_servers_omitted",
            "Forecast servers left out of /metrics by TFTMON_METRICS_MAX_SERVERS (lowest risk)",
            registry=r,
        )
        self.model_reloads = Counter(
            "tftmon_model_reloads", "Model reloads, by result (ok, failed)", ["result"], registry=r
        )
        self.remote_write_requests = Counter(
            "tftmon_remote_write_requests",
            "POST /api/v1/write requests, by HTTP status",
            ["status"],
            registry=r,
        )
        self.remote_write_samples_received = Counter(
            "tftmon_remote_write_samples_received",
            "Samples received by POST /api/v1/write",
            registry=r,
        )
        self.remote_write_samples_dropped = Counter(
            "tftmon_remote_write_samples_dropped",
            "Remote-write samples not used, by reason (unmapped, excluded, late, ...)",
            ["reason"],
            registry=r,
        )
        self.remote_write_groups_held = Gauge(
            "tftmon_remote_write_groups_held",
            "Remote-write (server, timestamp) groups held in memory until complete",
            registry=r,
        )
        self.store_errors = Counter(
            "tftmon_store_errors",
            "Failed reads and writes of the SQLite stores, by store and operation",
            ["store", "operation"],
            registry=r,
        )
        self.task_restarts = Counter(
            "tftmon_task_restarts",
            "Restarts of a background loop that raised, by task (inference, retention)",
            ["task"],
            registry=r,
        )
        self.requests_rate_limited = Counter(
            "tftmon_requests_rate_limited",
            "Requests refused 429 because their API key was past its rate, by scope",
            ["scope"],
            registry=r,
        )

    def watch_drift(self, document: Callable[[], dict[str, Any]]) -> None:
        """Export live forecast scores and drift gauges read from ``document()`` at scrape."""
        self.registry.register(_DriftCollector(document))


_SCORES = {
    "mase": "Rolling MASE of the served model's median (live, vs actuals)",
    "naive_mase": "Rolling MASE of the seasonal-naive forecast on the same points",
    "error_ratio": "Rolling model MASE / seasonal-naive MASE",
    "coverage_80": "Rolling share of actuals inside the p10-p90 interval",
    "scaled_quantile_loss": "Rolling pinball loss over all quantiles, scaled like MASE",
    "points": "Effective (decayed) number of scored forecast steps",
}


class _DriftCollector(Collector):
    def __init__(self, document: Callable[[], dict[str, Any]]) -> None:
        self._document = document

    def collect(self) -> Iterator[GaugeMetricFamily]:
        doc = self._document()
        for key, text in _SCORES.items():
            family = GaugeMetricFamily(f"tftmon_forecast_{key}", text, labels=["metric"])
            for metric, scores in (doc.get("metrics") or {}).items():
                if scores.get(key) is not None:
                    family.add_metric([metric], float(scores[key]))
            yield family
        psi = GaugeMetricFamily(
            "tftmon_input_psi",
            "Population stability index of recent inputs vs the training data",
            labels=["profile", "metric"],
        )
        for profile, per_metric in (doc.get("input_psi") or {}).items():
            for metric, value in per_metric.items():
                psi.add_metric([profile, metric], float(value))
        yield psi
        yield GaugeMetricFamily(
            "tftmon_drift_detected",
            "1 when a drift signal is over its threshold",
            value=1.0 if doc.get("drifted") else 0.0,
        )
