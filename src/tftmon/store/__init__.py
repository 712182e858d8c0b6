"""State of the daemon: the durable history store and the in-memory rolling windows."""

from __future__ import annotations

from tftmon.store.columns import BucketColumns, SampleColumns

__all__ = ["BucketColumns", "SampleColumns"]
