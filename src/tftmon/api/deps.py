"""Dependencies of the routes: the app state and API-key authentication with scopes.

The keys live in one ``tftmon.keys.KeyRing`` on the app (``install_keyring``; by default
built from the settings at the first request), read on every request, so a reload of the
keys (SIGHUP, a changed ``.env``) applies to the next request. Each router needs one scope:
``ingest`` for the ``ingest`` routers, ``admin`` for ``admin``, ``read`` for the rest.

An accepted key then takes a token from its bucket (``RateLimiter``): one per key digest and
route class, ``ingest`` (``TFTMON_RATE_LIMIT_INGEST_PER_S``/``_BURST``) or ``read`` (the
read and admin routers, ``TFTMON_RATE_LIMIT_READ_PER_S``/``_BURST``); an empty bucket is a
429 ``rate_limited`` with ``Retry-After``, counted in ``tftmon_requests_rate_limited_total``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Annotated, Final

from fastapi import APIRouter, Depends, FastAPI, Header, Request

from tftmon.api.errors import error_responses
from tftmon.api.state import AppState
from tftmon.errors import AuthError, ForbiddenError, RateLimitedError
from tftmon.keys import KeyRing, key_digest
from tftmon.settings import Settings

_TAG_SCOPES: Final = {"ingest": "ingest", "admin": "admin"}
MAX_BUCKETS: Final = 1024  # keys are few; past this (old keys after many reloads) the oldest go
_SETUP_LOCK: Final = threading.Lock()


def rate_class(scope: str) -> str:
    """The bucket a route's scope draws from: ``ingest``, or ``read`` (read and admin)."""
    return "ingest" if scope == "ingest" else "read"


class RateLimiter:
    """Token buckets, one per (key digest, route class): ``rate`` tokens a second up to
    ``burst``; a request takes one. Thread-safe, O(1) per request, at most ``max_buckets``.

    Args:
        limits: route class -> (requests per second, burst); a rate of 0 (or a class not
            named) is not limited.
        clock: seconds, monotonic (tests pass a fake).
    """

    def __init__(
        self,
        limits: Mapping[str, tuple[float, int]],
        *,
        clock: Callable[[], float] = time.monotonic,
        max_buckets: int = MAX_BUCKETS,
    ) -> None:
        self._limits = {c: (r, max(1, b)) for c, (r, b) in limits.items() if r > 0}
        self._clock = clock
        self._max = max_buckets
        self._lock = threading.Lock()
        self._buckets: dict[tuple[bytes, str], list[float]] = {}  # [tokens, last refill]

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        """The limits of ``TFTMON_RATE_LIMIT_*``."""
        return cls(
            {
                "ingest": (settings.rate_limit_ingest_per_s, settings.rate_limit_ingest_burst),
                "read": (settings.rate_limit_read_per_s, settings.rate_limit_read_burst),
            }
        )

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, digest: bytes, route_class: str) -> float:
        """Take a token for the key with ``digest``: 0.0 when one was free, else the
        seconds until one is (nothing is taken then)."""
        limit = self._limits.get(route_class)
        if limit is None:
            return 0.0
        rate, burst = limit
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get((digest, route_class))
            if bucket is None:
                if len(self._buckets) >= self._max:
                    del self._buckets[next(iter(self._buckets))]
                bucket = self._buckets[(digest, route_class)] = [float(burst), now]
            tokens = min(float(burst), bucket[0] + (now - bucket[1]) * rate)
            bucket[1] = now
            if tokens >= 1.0:
                bucket[0] = tokens - 1.0
                return 0.0
            bucket[0] = tokens
            return (1.0 - tokens) / rate


def get_state(request: Request) -> AppState:
    """The app state built by the lifespan."""
    state: AppState = request.app.state.tftmon
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def install_keyring(app: FastAPI, ring: KeyRing) -> None:
    """Make ``ring`` the set of keys ``app`` checks (the daemon reloads it in place)."""
    app.state.keyring = ring


def install_rate_limiter(app: FastAPI, limiter: RateLimiter) -> None:
    """Make ``limiter`` the buckets ``app`` draws from (default: from the settings)."""
    app.state.rate_limiter = limiter


def _keyring(request: Request, state: AppState) -> KeyRing:
    ring: KeyRing | None = getattr(request.app.state, "keyring", None)
    if ring is None:
        ring = KeyRing(state.settings.api_keys)
        install_keyring(request.app, ring)
    return ring


def _rate_limiter(request: Request, state: AppState) -> RateLimiter:
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is None:
        with _SETUP_LOCK:  # requests run on many threads: build one set of buckets only
            limiter = getattr(request.app.state, "rate_limiter", None)
            if limiter is None:
                limiter = RateLimiter.from_settings(state.settings)
                install_rate_limiter(request.app, limiter)
    return limiter


def _limit(candidate: str, request: Request, state: AppState, scope: str) -> None:
    route_class = rate_class(scope)
    wait = _rate_limiter(request, state).take(key_digest(candidate), route_class)
    if wait > 0:
        state.metrics.requests_rate_limited.labels(route_class).inc()
        retry_after = max(1, math.ceil(wait))
        raise RateLimitedError(
            f"this API key is past its {route_class} request rate; retry in {retry_after} s",
            retry_after_s=retry_after,
        )


def _check(candidate: str | None, request: Request, how: str, scope: str) -> None:
    state = get_state(request)
    ring = _keyring(request, state)
    if not len(ring) and state.settings.allow_no_auth:
        return
    if not candidate:
        raise AuthError(f"missing API key: send it in {how}")
    scopes = ring.scopes_of(candidate)
    if scopes is None:
        raise AuthError("invalid API key")
    if scope not in scopes:
        raise ForbiddenError(
            f"this API key lacks the '{scope}' scope that {request.method} "
            f"{request.url.path} needs (it has: {'+'.join(sorted(scopes))})"
        )
    _limit(candidate, request, state, scope)


def require_key(scope: str, *, bearer: bool = False) -> Callable[..., None]:
    """A dependency that needs a key with ``scope`` in ``X-API-Key`` (``bearer``: or in
    ``Authorization: Bearer <key>``, for Prometheus)."""
    if not bearer:

        def check_header(
            request: Request, x_api_key: Annotated[str | None, Header()] = None
        ) -> None:
            _check(x_api_key, request, "the X-API-Key header", scope)

        return check_header

    def check_header_or_bearer(
        request: Request,
        x_api_key: Annotated[str | None, Header()] = None,
        authorization: Annotated[str | None, Header()] = None,
    ) -> None:
        candidate = x_api_key
        if candidate is None and authorization and authorization.lower().startswith("bearer "):
            candidate = authorization[7:].strip()
        _check(candidate, request, "the X-API-Key header or Authorization: Bearer", scope)

    return check_header_or_bearer


def protected_router(tag: str, *, bearer: bool = False, scope: str | None = None) -> APIRouter:
    """A router whose every route needs an API key with ``scope`` (default: from the tag,
    ``ingest``, ``admin`` or else ``read``; ``bearer``: or a bearer token), with the 401,
    403, 422 and 429 answers documented in the one error shape."""
    needed = scope or _TAG_SCOPES.get(tag, "read")
    responses = error_responses(401, 403, 422, 429)
    return APIRouter(
        tags=[tag], dependencies=[Depends(require_key(needed, bearer=bearer))], responses=responses
    )
