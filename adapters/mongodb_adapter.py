"""The MongoDB adapter daemon: ``adapters/mongodb_adapter.py --config FILE.json``."""

from tftmon.cli import mongodb_adapter_main

if __name__ == "__main__":
    raise SystemExit(mongodb_adapter_main())
