"""The Prometheus adapter daemon: ``adapters/prometheus_adapter.py --config FILE.json``."""

from tftmon.cli import prometheus_adapter_main

if __name__ == "__main__":
    raise SystemExit(prometheus_adapter_main())
