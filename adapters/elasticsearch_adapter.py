"""The Elasticsearch adapter daemon: ``adapters/elasticsearch_adapter.py --config FILE.json``."""

from tftmon.cli import elasticsearch_adapter_main

if __name__ == "__main__":
    raise SystemExit(elasticsearch_adapter_main())
