"""Dependencies of the routes: the app state and API-key authentication with scopes.

The keys live in one ``tftmon.keys.KeyRing`` on the app (``install_keyring``; by default
built from the settings at the first request), read on every request, so a reload of the
keys (SIGHUP, a changed ``.env``) applies to the next request. Each router needs one scope:
``ingest`` for the ``ingest`` routers, ``admin`` for ``admin``, ``read`` for the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Final

from fastapi import APIRouter, Depends, FastAPI, Header, Request

from tftmon.api.errors import error_responses
from tftmon.api.state import AppState
from tftmon.errors import AuthError, ForbiddenError
from tftmon.keys import KeyRing

_TAG_SCOPES: Final = {"ingest": "ingest", "admin": "admin"}


def get_state(request: Request) -> AppState:
    """The app state built by the lifespan."""
    state: AppState = request.app.state.tftmon
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def install_keyring(app: FastAPI, ring: KeyRing) -> None:
    """Make ``ring`` the set of keys ``app`` checks (the daemon reloads it in place)."""
    app.state.keyring = ring


def _keyring(request: Request, state: AppState) -> KeyRing:
    ring: KeyRing | None = getattr(request.app.state, "keyring", None)
    if ring is None:
        ring = KeyRing(state.settings.api_keys)
        install_keyring(request.app, ring)
    return ring


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
    403 and 422 answers documented in the one error shape."""
    needed = scope or _TAG_SCOPES.get(tag, "read")
    responses = error_responses(401, 403, 422)
    return APIRouter(
        tags=[tag], dependencies=[Depends(require_key(needed, bearer=bearer))], responses=responses
    )
