"""State of the daemon: the durable history and alert stores and the in-memory windows.

Owns the SQLite files (``history.py``, ``alerts.py`` over ``sqlite.py``), the rolling
per-server windows as numpy arrays (``window.py``), the grouping of samples into model-step
buckets (``buckets.py``) and the fleet that ties them together under one lock
(``fleet.py``). It may import only the foundation (``errors``, ``schemas``, ``windows``);
it knows nothing of forecasters, risk, serving or the API.
"""

from __future__ import annotations

from tftmon.store.columns import BucketColumns, SampleColumns

__all__ = ["BucketColumns", "SampleColumns"]
