"""The one error hierarchy of tftmon, mapped to HTTP in ``api/errors.py``.

::

    TftmonError
     ├── ConfigError            settings or files that make a process refuse to start
     ├── StoreError             the history store could not read or write
     ├── SourceError            an adapter's data source (MongoDB, Elasticsearch, Prometheus) failed
     ├── ClientError            the daemon could not be reached or refused a request
     │    ├── DaemonUnavailableError  no answer after every retry (transport error, 5xx)
     │    └── DaemonResponseError     a 4xx answer (``status_code``, ``code``, ``detail``)
     └── RequestError           something a client sent or asked for (4xx)
          ├── MalformedBodyError    body is not JSON, or not a list / {"records": [...]} (400/422)
          ├── PayloadTooLargeError  too many records or bytes (413)
          ├── NoValidRecordsError   a batch in which no record could be stored (422)
          ├── AuthError             missing or unknown API key (401)
          ├── ForbiddenError        a valid key without the route's scope (403)
          ├── NotFoundError         an unknown server or resource (404)
          ├── RateLimitedError      a key past its request rate (429, ``Retry-After``)
          └── ModelReloadError      a model reload that failed; the old model stays (409)

Every ``RequestError`` carries an HTTP status and a stable machine-readable ``code``;
the API answers with ``{"detail": ..., "code": ...}`` plus any ``extra`` fields.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def field_problems(errors: Iterable[Mapping[str, Any]], default: str = "") -> list[tuple[str, str]]:
    """``(dotted field, message)`` of each error of a pydantic ``ValidationError.errors()``."""
    return [(".".join(str(p) for p in e["loc"]) or default, str(e["msg"])) for e in errors]


class TftmonError(Exception):
    """Base class of every error tftmon raises on purpose."""


class ConfigError(TftmonError):
    """Invalid settings or files: the process refuses to start."""


class StoreError(TftmonError):
    """The history store failed to read or write."""


class SourceError(TftmonError):
    """An adapter could not read its data source; it retries without losing its position."""


class ClientError(TftmonError):
    """The daemon's API could not be used (raised by ``tftmon.client``)."""


class DaemonUnavailableError(ClientError):
    """No usable answer from the daemon after every retry."""


class DaemonResponseError(ClientError):
    """The daemon refused a request (4xx); retrying the same request will not help."""

    def __init__(self, status_code: int, code: str, detail: str, body: Any = None) -> None:
        super().__init__(f"HTTP {status_code} {code}: {detail}")
        self.status_code = status_code
        self.code = code
        self.detail = detail
        self.body = body


class RequestError(TftmonError):
    """A client error; the API maps it to ``status_code`` with ``code``."""

    status_code: int = 400
    code: str = "bad_request"

    def __init__(self, detail: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra: dict[str, Any] = extra or {}


class MalformedBodyError(RequestError):
    """The request body is not valid JSON or not of an accepted shape."""

    status_code = 400
    code = "malformed_body"

    def __init__(
        self, detail: str, *, code: str = "malformed_body", status_code: int = 400
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.status_code = status_code


class PayloadTooLargeError(RequestError):
    """More records or bytes than the daemon accepts in one request."""

    status_code = 413
    code = "payload_too_large"


class NoValidRecordsError(RequestError):
    """No record of a batch could be stored; ``extra["rejected"]`` says why for each."""

    status_code = 422
    code = "no_valid_records"


class AuthError(RequestError):
    """A missing or unknown API key."""

    status_code = 401
    code = "unauthorized"


class ForbiddenError(RequestError):
    """A valid API key without the scope the route needs."""

    status_code = 403
    code = "forbidden"


class NotFoundError(RequestError):
    """An unknown server or resource."""

    status_code = 404
    code = "not_found"


class ModelReloadError(RequestError):
    """``POST /admin/reload`` could not load the model; the old one is still served."""

    status_code = 409
    code = "reload_failed"


class RateLimitedError(RequestError):
    """An API key sent more requests than its rate allows; ``retry_after_s`` is the wait
    until the next one is accepted (sent as ``Retry-After``)."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s
