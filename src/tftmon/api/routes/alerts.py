"""``GET /alerts/active`` and ``GET /alerts/history``: the alert lifecycle."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Final

from fastapi import Query

from tftmon.api.deps import StateDep, protected_router
from tftmon.schemas import AlertEvent, TrackedAlert

router = protected_router("alerts")

MAX_PAGE: Final = 10_000

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
        datetime | None, Query(description="ISO 8601; only events at or after it")
    ] = None,
    before_id: Annotated[
        int | None, Query(ge=1, description="only events with a smaller id (the page before)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="events per page")] = 1000,
) -> list[dict[str, Any]]:
    """Alerts opened, changed level or resolved: a page of the stored history."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return state.alerts.history(since, before_id=before_id, limit=limit)
