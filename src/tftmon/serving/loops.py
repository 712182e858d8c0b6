"""The daemon's background loops (inference cycles with model checks, retention) and the
supervisor that keeps them running and says on ``/health`` what is failing.

A loop that raises is logged at once (with its traceback), counted
(``tftmon_task_restarts_total{task=...}``) and started again after a backoff that doubles
from ``backoff_s`` to ``max_backoff_s``; the backoff starts over once the loop reports
progress again (``Beat``). While a loop is failing, ``Supervisor.reasons()`` names it with
its last error, and so do the other watched conditions (a store whose writes fail, an
inference cycle that failed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from tftmon.retry import Backoff
from tftmon.serving.cycle import InferenceCycle
from tftmon.store.fleet import FleetStore
from tftmon.store.sqlite import SQLiteFile
from tftmon.timefmt import iso_z

logger = logging.getLogger(__name__)

Beat = Callable[[], None]  # a loop calls it after each round that went through
TaskBody = Callable[[Beat], Awaitable[None]]


async def inference_loop(
    cycle: InferenceCycle,
    interval_s: float,
    min_gap_s: float,
    wake: asyncio.Event,
    model_poll_s: float = 2.0,
    beat: Beat = lambda: None,
) -> None:
    """Run a cycle every ``interval_s``, or sooner when ``wake`` is set, off the event loop.

    Between cycles, every ``model_poll_s``, the model source is checked (``models/LATEST``);
    a new model is swapped in by the same thread that runs cycles, and used at once.
    """
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(1, thread_name_prefix="tftmon-inference") as executor:
        while True:
            await loop.run_in_executor(executor, cycle.run_cycle)
            beat()
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


async def retention_loop(
    fleet: FleetStore,
    retention_days: float,
    bucket_days: float,
    beat: Beat = lambda: None,
    every_s: float = 3600.0,
) -> None:
    """Prune the history store every ``every_s`` (the first time at start)."""
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
            else:
                beat()
        else:
            beat()
        await asyncio.sleep(every_s)


@dataclass(slots=True)
class TaskFailure:
    """A supervised loop that raised: its newest error, since when, and restarts so far."""

    error: str
    since: float
    restarts: int
    retry_in_s: float


class Supervisor:
    """Runs the daemon's loops, restarts any that raise, and collects why it is degraded.

    Args:
        on_restart: called with the task's name at every restart (the metrics counter).
        backoff_s, max_backoff_s: the first wait before a restart, doubling up to the most.
    """

    def __init__(
        self,
        on_restart: Callable[[str], None] = lambda name: None,
        *,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
    ) -> None:
        self.on_restart = on_restart
        # the one backoff policy (tftmon.retry), without jitter: one daemon, nothing to spread
        self.backoff = Backoff(backoff_s, 2.0, max(max_backoff_s, backoff_s), jitter=0.0)
        self.failures: dict[str, TaskFailure] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._checks: list[tuple[str, Callable[[], str | None]]] = []

    # ------------------------------------------------------------------ tasks

    def start(self, name: str, body: TaskBody) -> asyncio.Task[None]:
        """Run ``body(beat)`` as a supervised task named ``tftmon-<name>``."""
        task = asyncio.create_task(self._run(name, body), name=f"tftmon-{name}")
        self._tasks.append(task)
        return task

    async def stop(self) -> None:
        """Cancel every task and wait for them."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def _run(self, name: str, body: TaskBody) -> None:
        attempt = 0

        def beat() -> None:
            nonlocal attempt
            attempt = 0
            if self.failures.pop(name, None) is not None:
                logger.info("task %s works again", name)

        while True:
            delay = self.backoff.delay(attempt)
            try:
                await body(beat)
                error = "stopped without an error"
                logger.error("task %s stopped on its own; restarting in %.1f s", name, delay)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                logger.exception("task %s failed; restarting in %.1f s", name, delay)
            old = self.failures.get(name)
            self.failures[name] = TaskFailure(
                error,
                old.since if old else time.time(),
                (old.restarts if old else 0) + 1,
                delay,
            )
            self.on_restart(name)
            await asyncio.sleep(delay)
            attempt += 1

    # ------------------------------------------------------------------ health

    def watch(self, name: str, check: Callable[[], str | None]) -> None:
        """Add a condition to ``reasons()``: ``check()`` returns what is wrong, or None."""
        self._checks.append((name, check))

    def watch_store(self, store: SQLiteFile) -> None:
        """Report ``store`` while its writes fail (until one commits again)."""

        def check() -> str | None:
            failure = store.write_failure
            if failure is None:
                return None
            return f"{failure.error} since {iso_z(failure.since, timespec='seconds')}"

        self.watch("store", check)

    def reasons(self) -> list[str]:
        """Why the daemon is degraded: failing tasks and watched conditions (empty: ok)."""
        out = [
            f"task {name}: {f.error} (since {iso_z(f.since, timespec='seconds')}, "
            f"{f.restarts} restarts, "
            f"next in {f.retry_in_s:g} s)"
            for name, f in sorted(self.failures.items())
        ]
        for name, check in self._checks:
            problem = check()
            if problem:
                out.append(f"{name}: {problem}")
        return out
