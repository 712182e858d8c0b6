"""The supervisor restarts a loop that raised or stopped, with a doubling backoff, and
reports it until the loop makes progress again."""

from __future__ import annotations

import asyncio
import itertools
import time

from tftmon.serving.loops import Beat, Supervisor


def test_restarts_with_doubling_backoff_until_the_loop_works() -> None:
    restarts: list[tuple[str, float]] = []  # (task, wait before the restart)
    runs: list[float] = []
    seen: list[list[str]] = []

    async def body(beat: Beat) -> None:
        runs.append(time.monotonic())
        if len(runs) <= 4:
            raise ValueError(f"broken {len(runs)}")
        beat()
        await asyncio.sleep(3600)

    async def main() -> None:
        sup = Supervisor(
            lambda name: restarts.append((name, sup.failures[name].retry_in_s)),
            backoff_s=0.05,
            max_backoff_s=0.1,
        )
        sup.start("demo", body)
        while len(restarts) < 4:
            await asyncio.sleep(0.001)
        seen.append(sup.reasons())
        while len(runs) < 5:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.01)
        seen.append(sup.reasons())
        await sup.stop()

    asyncio.run(main())
    assert restarts == [("demo", 0.05), ("demo", 0.1), ("demo", 0.1), ("demo", 0.1)]
    gaps = [b - a for a, b in itertools.pairwise(runs)]
    assert all(gap >= wait for gap, (_, wait) in zip(gaps, restarts, strict=True))
    assert seen[0][0].startswith("task demo: ValueError: broken 4 (since ")
    assert seen[0][0].endswith(", 4 restarts, next in 0.1 s)")
    assert seen[1] == []  # a beat clears it


def test_a_loop_that_returns_is_restarted_and_watched_checks_are_reported() -> None:
    runs = 0

    async def body(beat: Beat) -> None:
        nonlocal runs
        runs += 1

    async def main() -> list[str]:
        sup = Supervisor(backoff_s=0.01, max_backoff_s=0.01)
        sup.watch("store", lambda: "history store write failed: disk full")
        sup.watch("inference", lambda: None)
        sup.start("quiet", body)
        while runs < 3:
            await asyncio.sleep(0.005)
        reasons = sup.reasons()
        await sup.stop()
        return reasons

    reasons = asyncio.run(main())
    assert reasons[0].startswith("task quiet: stopped without an error")
    assert reasons[1:] == ["store: history store write failed: disk full"]
