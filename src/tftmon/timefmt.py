"""Times as the API writes and reads them: ISO 8601 in UTC with a ``Z``.

One place for the format, so every document, header, checkpoint and log line that shows
a time agrees. Imports nothing from tftmon.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

ISO_Z_SECONDS: Final = "%Y-%m-%dT%H:%M:%SZ"
"""``iso_z(t, timespec="seconds")`` as a strftime pattern, for formatting whole columns at
once (``Series.dt.strftime``, ``DatetimeIndex.strftime``) where a call per value is too slow."""


def iso_z(moment: datetime | float, *, timespec: str = "auto") -> str:
    """An aware datetime or epoch seconds as ISO 8601 UTC with ``Z`` (naive means UTC).

    >>> iso_z(0)
    '1970-01-01T00:00:00Z'
    >>> iso_z(1.5, timespec="milliseconds")
    '1970-01-01T00:00:01.500Z'
    """
    if isinstance(moment, datetime):
        when = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    else:
        when = datetime.fromtimestamp(moment, UTC)
    return when.isoformat(timespec=timespec).replace("+00:00", "Z")


def now_z(*, timespec: str = "seconds") -> str:
    """The current time as ISO 8601 UTC with ``Z``."""
    return iso_z(datetime.now(UTC), timespec=timespec)


def parse_iso(value: str) -> datetime:
    """An ISO 8601 time with ``Z`` or an offset as an aware datetime (naive means UTC).

    Raises:
        ValueError: not an ISO 8601 time.
    """
    moment = datetime.fromisoformat(value)  # reads "Z" itself since Python 3.11
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
