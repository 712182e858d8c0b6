"""``GET /alerts/active`` and ``GET /alerts/history``: the alert lifecycle."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import Query
from fastapi.exceptions import RequestValidationError

from tftmon.api.deps import StateDep, protected_router
from tftmon.schemas import AlertEvent, TrackedAlert
from tftmon.timefmt import parse_iso

router = protected_router("alerts")

MAX_PAGE: Final = 10_000
_DATE_TIME: Final = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")

HISTORY_DESCRIPTION: Final = """\
Events are stored in the daemon's data dir and survive restarts (the newest 100,000 are
kept). A page holds the newest `limit` events matching the query, listed oldest first.
To page back in time, pass the `id` of a page's first event as `before_id`; a page shorter
than `limit` is the last one. `since` keeps only events at or after a time.
"""


@router.get("/alerts/active", response_model=list[TrackedAlert])
def active_alerts(state: StateDep) -> list[dict[str, Any]]:
    """Open alerts (one per server and metric), worst first."""
    return state.alerts.active()


@router.get("/alerts/history", response_model=list[AlertEvent], description=HISTORY_DESCRIPTION)
def alert_history(
    state: StateDep,
    since: Annotated[
        str | None,
        Query(
            description="ISO 8601 date and time (Z or an offset; none: UTC); only events at or "
            "after it",
            json_schema_extra={"format": "date-time"},
        ),
    ] = None,
    before_id: Annotated[
        int | None, Query(ge=1, description="only events with a smaller id (the page before)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="events per page")] = 1000,
) -> list[dict[str, Any]]:
    """Alerts opened, changed level or resolved: a page of the stored history."""
    return state.alerts.history(_since(since), before_id=before_id, limit=limit)


def _since(text: str | None) -> datetime | None:
    """The ``since`` query as an aware time; refuses what the document's date-time is not
    (an epoch number, a date without a time), as ``/feed`` refuses them."""
    if text is None:
        return None
    problem = "expected an ISO 8601 date and time such as 2026-12-04T10:00:00Z"
    if not _DATE_TIME.match(text):
        raise _invalid(problem)
    try:
        return parse_iso(text)
    except ValueError:
        raise _invalid(problem) from None


def _invalid(message: str) -> RequestValidationError:
    return RequestValidationError(
        [{"loc": ("query", "since"), "msg": message, "type": "value_error"}]
    )
