"""Map errors to HTTP answers of one shape, ``schemas.ErrorResponse``, and document them.

Every handler builds its body through ``error_body`` and every route documents its error
answers with ``error_responses``, so the bodies and the OpenAPI document cannot drift.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tftmon.errors import AuthError, RateLimitedError, RequestError, StoreError, field_problems
from tftmon.schemas import ErrorResponse

logger = logging.getLogger(__name__)

STORE_RETRY_AFTER_S: Final = 5  # the Retry-After of a 503 store_unavailable
FEED_PATHS: Final = ("/feed", "/feed/data")

ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "the body is not JSON (code malformed_json)",
    401: "missing or invalid API key (code unauthorized)",
    403: "a valid key without the route's scope (code forbidden)",
    404: "no such server or route (code not_found)",
    409: "the model did not load; the old one still serves (code reload_failed)",
    413: "body or batch too large (code payload_too_large)",
    429: "the API key is past its request rate; retry after Retry-After seconds "
    "(code rate_limited)",
    503: "the store could not read or write; retry after Retry-After seconds "
    "(code store_unavailable)",
    422: "invalid request (code invalid_request, with errors), a body that is not a list of "
    "records (code invalid_body) or no valid record (code no_valid_records, with rejected)",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` entry of a route's error answers."""
    return {c: {"model": ErrorResponse, "description": ERROR_DESCRIPTIONS[c]} for c in codes}


def error_body(detail: str, code: str, **extra: Any) -> dict[str, Any]:
    """An error answer's body in the shape ``ErrorResponse`` documents.

    Not validated again: ``extra`` holds what the raising code already built from the
    schema's models (e.g. the per-record rejections of a refused batch, up to 10,000).
    """
    return {"detail": detail, "code": code, **extra}


def store_unavailable(exc: StoreError) -> JSONResponse:
    """The answer to a request the store failed: 503 ``store_unavailable`` with
    ``Retry-After``; nothing of the request was stored, so the sender should retry it."""
    body = error_body(f"the store failed, retry later: {exc}", "store_unavailable")
    headers = {"Retry-After": str(STORE_RETRY_AFTER_S)}
    return JSONResponse(body, status_code=503, headers=headers)


def _count_feed(request: Request, status: int) -> None:
    """Count a ``/feed`` request that ended in a handler here (the route counts the rest)."""
    state = getattr(request.app.state, "tftmon", None)
    if state is not None and request.url.path in FEED_PATHS:
        state.metrics.feed_requests.labels(str(status)).inc()


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(RequestError)
    async def _request_error(request: Request, exc: RequestError) -> JSONResponse:
        headers: dict[str, str] | None = None
        if isinstance(exc, AuthError):
            headers = {"WWW-Authenticate": "ApiKey"}
        elif isinstance(exc, RateLimitedError):
            headers = {"Retry-After": str(exc.retry_after_s)}
        body = error_body(exc.detail, exc.code, **exc.extra)
        return JSONResponse(body, status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"field": field, "message": message} for field, message in field_problems(exc.errors())
        ]
        detail = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        return JSONResponse(error_body(detail, "invalid_request", errors=problems), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(  # a 405 keeps its Allow header
            error_body(str(exc.detail), code), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(StoreError)
    async def _store(request: Request, exc: StoreError) -> JSONResponse:
        logger.error("store failed on %s %s: %s", request.method, request.url.path, exc)
        _count_feed(request, 503)
        return store_unavailable(exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        _count_feed(request, 500)
        return _internal_error(exc)

    app.add_middleware(_AnswerInternalErrors)


def _internal_error(exc: BaseException) -> JSONResponse:
    body = error_body(f"internal error: {type(exc).__name__}", "internal_error")
    return JSONResponse(body, status_code=500)


class _AnswerInternalErrors:
    """Answer an unhandled exception with the 500 error body and keep the connection.

    Starlette's outermost ``ServerErrorMiddleware`` answers too, but re-raises, and the
    server then closes the connection; here the exception ends with the answer.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            if started:  # too late for an answer: let the server close the connection
                raise
            logger.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            _count_feed(Request(scope), 500)
            await _internal_error(exc)(scope, receive, send)
