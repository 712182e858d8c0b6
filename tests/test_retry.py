"""tftmon.retry: one backoff policy (growth, cap, jitter) and retry_call; its users."""

from __future__ import annotations

import itertools
import threading

import httpx
import pytest

from tftmon.retry import Backoff, retry_call


def test_waits_grow_by_the_factor_up_to_the_cap() -> None:
    backoff = Backoff(initial_s=0.5, factor=2.0, cap_s=3.0, jitter=0.0)
    assert [backoff.delay(n) for n in range(6)] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    assert list(itertools.islice(backoff, 4)) == [0.5, 1.0, 2.0, 3.0]
    assert backoff.delay(10**9) == 3.0  # a loop failing for days does not overflow


def test_jitter_cuts_a_wait_by_at_most_its_share() -> None:
    backoff = Backoff(initial_s=4.0, cap_s=4.0, jitter=0.5)
    waits = [backoff.delay(0) for _ in range(200)]
    assert all(2.0 <= w <= 4.0 for w in waits)
    assert len(set(waits)) > 1


def test_invalid_policies_are_refused() -> None:
    for bad in ({"initial_s": -1}, {"factor": 0.5}, {"jitter": 1.5}, {"cap_s": -1}):
        with pytest.raises(ValueError):
            Backoff(**bad)  # type: ignore[arg-type]


def test_retry_call_retries_then_returns_or_raises_the_last_error() -> None:
    waits: list[float] = []
    outcomes: list[object] = [OSError("a"), OSError("b"), "done"]

    def call() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return str(outcome)

    backoff = Backoff(initial_s=1.0, cap_s=10.0, jitter=0.0)
    assert retry_call(call, retries=2, backoff=backoff, sleep=waits.append) == "done"
    assert waits == [1.0, 2.0]

    def fails() -> None:
        raise OSError("down")

    waits.clear()
    with pytest.raises(OSError, match="down"):
        retry_call(fails, retries=1, backoff=backoff, retry_on=(OSError,), sleep=waits.append)
    assert waits == [1.0]
    with pytest.raises(KeyError):  # not retried
        retry_call(lambda: {}["x"], retries=5, backoff=backoff, retry_on=(OSError,))


def test_the_notifier_dispatcher_backs_off_through_it_with_a_cap() -> None:
    """Its waits used to double without a bound (2**attempt); now at most a minute."""
    from tftmon.alerting.notifiers import MAX_BACKOFF_S, NotificationDispatcher

    waits: list[float] = []
    done = threading.Event()

    class Down:
        name = "down"

        def send(self, events: object, active: object) -> None:
            raise httpx.ConnectError("refused")

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 12:
            done.set()

    dispatcher = NotificationDispatcher([Down()], retries=12, backoff_s=1.0, sleep=sleep)
    dispatcher.submit([{"id": 1}], [])
    assert done.wait(10)
    dispatcher.close()
    assert max(waits) <= MAX_BACKOFF_S
    assert waits[-1] >= MAX_BACKOFF_S / 2  # grown up to the cap, jitter at most half
    assert dispatcher.failed == 1


def test_the_adapter_poll_loop_waits_by_it() -> None:
    """2, 4, 8 ... s after consecutive failures, never past the poll interval."""
    from types import SimpleNamespace

    from tftmon.adapters.base import BaseAdapter
    from tftmon.errors import SourceError

    class Stop(threading.Event):
        def __init__(self) -> None:
            super().__init__()
            self.waits: list[float] = []

        def wait(self, timeout: float | None = None) -> bool:
            self.waits.append(float(timeout or 0))
            if len(self.waits) == 5:
                self.set()
            return self.is_set()

    def poll(**kwargs: object) -> None:
        raise SourceError("source down")

    config = SimpleNamespace(interval_s=10.0)
    adapter = SimpleNamespace(poll=poll, config=config, close=lambda: None)
    stop = Stop()
    BaseAdapter.run(adapter, stop)  # type: ignore[arg-type]
    assert stop.waits == [2.0, 4.0, 8.0, 10.0, 10.0]
