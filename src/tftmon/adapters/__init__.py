"""Adapter daemons: move records from MongoDB, Elasticsearch or Prometheus to the daemon.

``BaseAdapter`` (``base.py``) owns the poll loop, field mapping (``mapping.py``), batching,
the POST with retry, and the durable checkpoint (``checkpoint.py``); each source module
implements only ``fetch(since)``. Drivers are imported lazily, so importing this package
imports no database client.
"""

from __future__ import annotations

ADAPTERS = {
    "mongodb": "tftmon.adapters.mongodb:MongoDBAdapter",
    "elasticsearch": "tftmon.adapters.elasticsearch:ElasticsearchAdapter",
    "prometheus": "tftmon.adapters.prometheus:PrometheusAdapter",
}
