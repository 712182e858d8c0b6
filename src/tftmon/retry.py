"""The one backoff policy of tftmon: exponential waits with a cap and jitter.

Every retry loop (the HTTP client, the alert notifiers, the adapters' poll loop) asks a
``Backoff`` how long to wait before attempt ``n + 1`` instead of doing its own arithmetic,
so caps and jitter cannot drift apart between copies::

    backoff = Backoff(initial_s=0.5, cap_s=30.0)
    for attempt in range(retries + 1):
        ...
        sleep(backoff.delay(attempt))

``retry_call`` wraps the common case of calling a function until it stops raising.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Backoff:
    """Waits of ``initial_s * factor**attempt``, at most ``cap_s``, each multiplied by a
    random factor in ``[1 - jitter, 1]`` (so senders do not retry in lockstep).

    Args:
        initial_s: the first wait (attempt 0).
        factor: growth per attempt (2: doubling).
        cap_s: the longest wait, before jitter.
        jitter: the share of a wait that may be cut at random (0: none, 0.5: up to half).
    """

    initial_s: float = 0.5
    factor: float = 2.0
    cap_s: float = 30.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.initial_s < 0 or self.cap_s < 0 or self.factor < 1 or not 0 <= self.jitter <= 1:
            raise ValueError(
                f"invalid backoff: initial {self.initial_s}, factor {self.factor}, "
                f"cap {self.cap_s}, jitter {self.jitter}"
            )

    def ceiling(self, attempt: int) -> float:
        """The wait after failed attempt ``attempt`` (0-based) before jitter."""
        if self.initial_s == 0:
            return 0.0
        # stop growing once past the cap (no overflow for a loop that failed for days)
        grown = self.initial_s
        for _ in range(max(0, attempt)):
            grown *= self.factor
            if grown >= self.cap_s:
                return self.cap_s
        return min(grown, self.cap_s)

    def delay(self, attempt: int) -> float:
        """The wait after failed attempt ``attempt`` (0-based), jitter applied."""
        wait = self.ceiling(attempt)
        return wait * random.uniform(1.0 - self.jitter, 1.0) if self.jitter else wait

    def __iter__(self) -> Iterator[float]:
        """The waits after attempts 0, 1, 2, ... (endless)."""
        attempt = 0
        while True:
            yield self.delay(attempt)
            attempt += 1


def retry_call(
    call: Callable[[], T],
    *,
    retries: int,
    backoff: Backoff,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
    sleep: Callable[[float], None] = time.sleep,
    what: str = "call",
) -> T:
    """``call()``, retried ``retries`` times after an exception of ``retry_on`` with the
    waits of ``backoff``; the last failure is raised."""
    for attempt, wait in enumerate(backoff):
        try:
            return call()
        except retry_on as exc:
            if attempt >= retries:
                raise
            logger.warning("%s failed (%s); retrying in %.1f s", what, exc, wait)
            sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover
