"""The one HTTP client of the daemon's API (httpx), used by adapters, generator, dashboard.

Transport errors, 5xx answers and 429 ``rate_limited`` are retried with exponential backoff
and jitter (``tftmon.retry.Backoff``); an answer with ``Retry-After`` (429, 503) is waited
for as long as it asks, up to ``max_backoff_s``. Any other 4xx answer is raised at once as
``DaemonResponseError`` (sending it again would not help).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

import httpx

from tftmon.errors import DaemonResponseError, DaemonUnavailableError
from tftmon.retry import Backoff

logger = logging.getLogger(__name__)

DEFAULT_URL = "http://127.0.0.1:8000"
RETRIED_4XX = frozenset({429})  # rate limited: the same request succeeds later


class TftmonClient:
    """A synchronous client of one daemon.

    Args:
        base_url: the daemon, e.g. ``http://127.0.0.1:8000``.
        api_key: sent as ``X-API-Key``.
        timeout: seconds per attempt.
        retries: attempts after the first for transport errors, 5xx and 429 answers.
        backoff_s: first wait between attempts; doubles each time, with jitter.
        max_backoff_s: the longest wait (also of a ``Retry-After`` the daemon asks for).
        transport: an httpx transport (tests inject one); default: the network.
        sleep: how to wait (tests inject one).
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        api_key: str | None = None,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        headers = {"X-API-Key": api_key} if api_key else {}
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._backoff = Backoff(initial_s=backoff_s, cap_s=max_backoff_s)
        self._sleep = sleep

    def __enter__(self) -> TftmonClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    # ------------------------------------------------------------------ endpoints

    def feed(self, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """``POST /feed``; returns the daemon's answer (accepted, duplicates, rejected...)."""
        return self._request("POST", "/feed", json=list(records))  # type: ignore[no-any-return]

    def feed_raw(self, body: bytes) -> dict[str, Any]:
        """``POST /feed`` with a body already encoded as JSON."""
        headers = {"Content-Type": "application/json"}
        return self._request("POST", "/feed", content=body, headers=headers)  # type: ignore[no-any-return]

    def health(self) -> dict[str, Any]:
        """``GET /health`` (no key needed)."""
        return self._request("GET", "/health")  # type: ignore[no-any-return]

    def status(self) -> dict[str, Any]:
        """``GET /status``."""
        return self._request("GET", "/status")  # type: ignore[no-any-return]

    def predictions(
        self, servers: Sequence[str] | None = None, *, summary: bool = False
    ) -> dict[str, Any]:
        """``GET /predictions/current``, optionally for some servers only.

        With ``summary`` the servers' metrics hold no forecast lists (``view=summary``).
        """
        params = {"servers": ",".join(servers)} if servers else {}
        if summary:
            params["view"] = "summary"
        return self._request("GET", "/predictions/current", params=params or None)  # type: ignore[no-any-return]

    def active_alerts(self) -> list[dict[str, Any]]:
        """``GET /alerts/active``."""
        return self._request("GET", "/alerts/active")  # type: ignore[no-any-return]

    def alert_history(
        self,
        since: datetime | None = None,
        *,
        limit: int | None = None,
        before_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """``GET /alerts/history``: one page of events (opened, level_changed, resolved).

        A page holds the newest ``limit`` events (1 to 10,000; the daemon's default 1000)
        at or after ``since`` and with an ``id`` below ``before_id``, listed oldest first.
        For the page before, pass the ``id`` of this page's first event as ``before_id``; a
        page shorter than ``limit`` is the last one (``iter_alert_history`` walks them). An
        invalid value is answered 422: ``DaemonResponseError``.
        """
        params: dict[str, str | int] = {}
        if since is not None:
            params["since"] = since.isoformat()
        if limit is not None:
            params["limit"] = limit
        if before_id is not None:
            params["before_id"] = before_id
        return self._request("GET", "/alerts/history", params=params or None)  # type: ignore[no-any-return]

    def iter_alert_history(
        self, since: datetime | None = None, *, page_size: int = 1000
    ) -> Iterator[dict[str, Any]]:
        """Every stored event at or after ``since``, **newest first**, fetched a page of
        ``page_size`` at a time as the iteration walks back (stop early to fetch less)."""
        before_id: int | None = None
        while True:
            page = self.alert_history(since, limit=page_size, before_id=before_id)
            yield from reversed(page)
            if len(page) < page_size:
                return
            before_id = int(page[0]["id"])

    def server_history(self, name: str, hours: float = 24.0) -> dict[str, Any]:
        """``GET /servers/{name}/history``."""
        return self._request("GET", f"/servers/{name}/history", params={"hours": hours})  # type: ignore[no-any-return]

    def drift_status(self) -> dict[str, Any]:
        """``GET /drift/status``: live scores of the served model and the drift verdict."""
        return self._request("GET", "/drift/status")  # type: ignore[no-any-return]

    def reload_model(self) -> dict[str, Any]:
        """``POST /admin/reload``: swap in the model ``models/LATEST`` names."""
        return self._request("POST", "/admin/reload")  # type: ignore[no-any-return]

    def metrics_text(self) -> str:
        """``GET /metrics`` (Prometheus text format)."""
        return self._request("GET", "/metrics", text=True)  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ transport

    def _request(self, method: str, path: str, *, text: bool = False, **kwargs: Any) -> Any:
        attempt = 0
        while True:
            asked: float | None = None
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 400:
                    return response.text if text else response.json()
                if response.status_code < 500 and response.status_code not in RETRIED_4XX:
                    raise _response_error(response)
                problem = f"HTTP {response.status_code}"
                asked = retry_after_s(response)
            if attempt >= self.retries:
                raise DaemonUnavailableError(
                    f"{method} {self.base_url}{path} failed after {attempt + 1} attempts: {problem}"
                )
            wait = self._backoff.delay(attempt)
            if asked is not None:  # the daemon said when: no sooner, and no later than the cap
                wait = min(self.max_backoff_s, max(asked, wait))
            logger.warning("%s %s: %s; retrying in %.1f s", method, path, problem, wait)
            self._sleep(wait)
            attempt += 1


def retry_after_s(response: httpx.Response) -> float | None:
    """The seconds of a ``Retry-After: <seconds>`` header (None: absent or an HTTP date)."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _response_error(response: httpx.Response) -> DaemonResponseError:
    try:
        body = response.json()
        detail = str(body.get("detail", response.text))
        code = str(body.get("code", "error"))
    except (ValueError, AttributeError):
        body, detail, code = response.text, response.text[:500], "error"
    return DaemonResponseError(response.status_code, code, detail, body)
