"""The daemon's background loops: inference cycles (with model checks) and retention."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor

from tftmon.serving.cycle import InferenceCycle
from tftmon.store.fleet import FleetStore

logger = logging.getLogger(__name__)


async def inference_loop(
    cycle: InferenceCycle,
    interval_s: float,
    min_gap_s: float,
    wake: asyncio.Event,
    model_poll_s: float = 2.0,
) -> None:
    """Run a cycle every ``interval_s``, or sooner when ``wake`` is set, off the event loop.

    Between cycles, every ``model_poll_s``, the model source is checked (``models/LATEST``);
    a new model is swapped in by the same thread that runs cycles, and used at once.
    """
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(1, thread_name_prefix="tftmon-inference") as executor:
        while True:
            await loop.run_in_executor(executor, cycle.run_cycle)
            await asyncio.sleep(min_gap_s)
            deadline = loop.time() + max(0.0, interval_s - min_gap_s)
            while not wake.is_set():
                if await loop.run_in_executor(executor, cycle.models.check):
                    break  # a new model: forecast with it at once
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=min(remaining, model_poll_s))
            wake.clear()


async def retention_loop(fleet: FleetStore, retention_days: float, bucket_days: float) -> None:
    """Prune the history store once an hour (the first time at start)."""
    loop = asyncio.get_running_loop()
    while True:
        newest = await loop.run_in_executor(None, fleet.history.newest_ts_ms)
        if newest is not None:
            try:
                await loop.run_in_executor(
                    None, fleet.history.prune, newest, retention_days, bucket_days
                )
            except Exception:
                logger.exception("retention pruning failed; will retry in an hour")
        await asyncio.sleep(3600)
