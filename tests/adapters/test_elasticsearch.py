"""The Elasticsearch adapter against a real Elasticsearch API (noida-db) and a real daemon."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch, helpers

from tests.adapters.conftest import adapter_config, client_of, ingested
from tests.servers import DaemonProcess, ElasticServer
from tftmon.adapters.elasticsearch import ElasticsearchAdapter
from tftmon.errors import SourceError

pytestmark = pytest.mark.integration
_names = itertools.count()

MAPPINGS = {
    "properties": {
        "@timestamp": {"type": "date"},
        "host": {"properties": {"name": {"type": "keyword"}}},
    }
}


def metricbeat(servers: int, count: int, end: datetime) -> list[dict[str, Any]]:
    out = []
    for i in range(count):
        t = end - timedelta(seconds=(count - i) * 10)
        for s in range(servers):
            out.append(
                {
                    "@timestamp": t.isoformat().replace("+00:00", "Z"),
                    "host": {"name": f"ppweb{s:03d}"},
                    "system": {
                        "cpu": {"total": {"norm": {"pct": 0.42}}},
                        "memory": {"actual": {"used": {"pct": 0.61}}},
                    },
                }
            )
    return out


def index_docs(server: ElasticServer, documents: list[dict[str, Any]]) -> str:
    """Index into two daily indices of a fresh pattern; returns the pattern."""
    prefix = f"metricbeat{next(_names)}"
    es = Elasticsearch(server.url)
    for day in ("a", "b"):
        es.indices.create(index=f"{prefix}-{day}", mappings=MAPPINGS)
    half = len(documents) // 2
    actions = [
        {"_index": f"{prefix}-{'a' if i < half else 'b'}", "_source": d}
        for i, d in enumerate(documents)
    ]
    helpers.bulk(es, actions, refresh=True)
    es.close()
    return f"{prefix}-*"


def test_pages_with_a_point_in_time_and_resumes_exactly_once(
    elastic_server: ElasticServer, daemon: DaemonProcess, tmp_path: Path
) -> None:
    end = datetime.now(UTC).replace(microsecond=0)
    no_host = {"@timestamp": end.isoformat().replace("+00:00", "Z"), "system": {}}  # unordered
    older = metricbeat(3, 5, end - timedelta(hours=2))
    pattern = index_docs(elastic_server, metricbeat(3, 100, end) + older + [no_host])
    source = {"hosts": [elastic_server.url], "index": pattern, "settle_s": 0}
    config = adapter_config(
        tmp_path, source, batch_size=32, max_pages_per_poll=3, mapping={"preset": "metricbeat"}
    )
    with client_of(daemon) as client:
        first = ElasticsearchAdapter(config, client)
        report = first.poll()
        assert (report.accepted, report.more) == (96, True)  # ties of 3 hosts split by pages
        sample = first.mapping.map_one(metricbeat(1, 1, end)[0])[0]
        assert sample is not None and sample["cpu_pct"] == pytest.approx(42.0)  # not 4200
        first.close()
        second = ElasticsearchAdapter(config.model_copy(update={"max_pages_per_poll": 50}), client)
        report = second.poll()
        assert (report.accepted, report.duplicates, report.more) == (204, 0, False)
        assert second.poll().fetched == 0
        second.close()
    assert ingested(daemon) == 300  # the 2-hour-old documents are outside the backfill


def test_unreachable_elasticsearch_is_a_source_error(tmp_path: Path) -> None:
    source = {"hosts": ["http://127.0.0.1:9"], "index": "x-*", "request_timeout_s": 1}
    adapter = ElasticsearchAdapter(
        adapter_config(tmp_path, source, mapping={"preset": "metricbeat"}), None
    )
    with pytest.raises(SourceError, match="Elasticsearch"):
        adapter.fetch(None)
    assert adapter.checkpoint is None
    adapter.close()
