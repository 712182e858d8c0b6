"""Dependencies of the routes: the app state and API-key authentication."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request

from tftmon.api.errors import error_responses
from tftmon.api.state import AppState
from tftmon.errors import AuthError


def get_state(request: Request) -> AppState:
    """The app state built by the lifespan."""
    state: AppState = request.app.state.tftmon
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def _key_matches(candidate: str, keys: list[str]) -> bool:
    matched = False
    for key in keys:  # compare with every key, so timing does not tell which one matched
        matched |= secrets.compare_digest(candidate.encode(), key.encode())
    return matched


def _check(candidate: str | None, state: AppState, how: str) -> None:
    keys = state.settings.api_keys
    if not keys and state.settings.allow_no_auth:
        return
    if not candidate:
        raise AuthError(f"missing API key: send it in {how}")
    if not _key_matches(candidate, keys):
        raise AuthError("invalid API key")


def require_api_key(state: StateDep, x_api_key: Annotated[str | None, Header()] = None) -> None:
    """Every endpoint but ``/health``: a valid ``X-API-Key``."""
    _check(x_api_key, state, "the X-API-Key header")


def require_api_key_or_bearer(
    state: StateDep,
    x_api_key: Annotated[str | None, Header()] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> None:
    """``/metrics``: ``X-API-Key`` or ``Authorization: Bearer <key>`` (for Prometheus)."""
    candidate = x_api_key
    if candidate is None and authorization and authorization.lower().startswith("bearer "):
        candidate = authorization[7:].strip()
    _check(candidate, state, "the X-API-Key header or Authorization: Bearer")


def protected_router(tag: str, *, bearer: bool = False) -> APIRouter:
    """A router whose every route needs the API key (``bearer``: or a bearer token), with
    the 401 and 422 answers documented in the one error shape."""
    check = require_api_key_or_bearer if bearer else require_api_key
    return APIRouter(tags=[tag], dependencies=[Depends(check)], responses=error_responses(401, 422))
