"""An alert or a (server, metric) pair against one threshold, in words (no Streamlit).

The outlook says whether the pair is over the threshold now or predicted to reach it, how
likely within the 8 h window, and when; alerts are worded from the latest forecast of their
pair when there is one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from tftmon.dashboard.pair_risk import fmt_value, pair_risk

HORIZON_HOURS: Final = 8.0  # the window of the 8 h probabilities
WINDOW: Final = f"{HORIZON_HOURS:g} h"


@dataclass(frozen=True, slots=True)
class Outlook:
    """One pair against one threshold, as the dashboard words it."""

    kind: str  # which threshold: "warning" or "critical"
    threshold: float | None
    current: float | None
    cause: str  # "current": at or over it now; "forecast": predicted
    minutes: int | None  # to the expected crossing; None: none expected, or unknown
    probability: float | None
    window: str | None = None  # what ``probability`` is within ("8 h"); None: unsaid


def when_text(minutes: int | None, *, over: bool = False) -> str:
    """When a crossing is expected: now, at the next step, in about N min or h, or within 8 h."""
    if over:
        return "now"
    if minutes is None:
        return f"within {WINDOW}"
    if minutes == 0:
        return "at the next step"
    return f"in ~{minutes} min" if minutes < 120 else f"in ~{minutes / 60:.1f} h"


def crossing_text(o: Outlook) -> str:
    """An outlook in words that agree with its cause and forecast.

    ``at 97.1 now (critical 95)``; ``80% likely to reach critical 95 within 8 h, in ~25 min
    (now 72.3)``; ``expected to reach warning 80 in ~2.5 h``.
    """
    limit = f"{o.kind} {fmt_value(o.threshold)}"
    if o.cause == "current":
        return (
            f"over {limit} now" if o.current is None else f"at {fmt_value(o.current)} now ({limit})"
        )
    if o.probability is not None:
        text = f"{o.probability:.0%} likely to reach {limit}"
    else:
        text = f"{'may' if o.minutes is None else 'expected to'} reach {limit}"
    if o.window:
        text += f" within {o.window}"
    if o.minutes is not None:
        text += f"{',' if o.probability is not None else ''} {when_text(o.minutes)}"
    return text if o.current is None else f"{text} (now {fmt_value(o.current)})"


def alert_cause(alert: Mapping[str, Any]) -> str:
    """``current`` when the alert says so or its current value is at the threshold, else
    ``forecast`` (alerts of older daemons carry no cause)."""
    value, threshold = alert.get("current_value"), alert.get("threshold")
    at_threshold = value is not None and threshold is not None and value >= threshold
    return "current" if alert.get("cause") == "current" or at_threshold else "forecast"


def alert_outlook(
    alert: Mapping[str, Any], predictions: Mapping[str, Mapping[str, Any]] | None = None
) -> Outlook:
    """An alert's threshold as the latest forecast of its pair sees it, when ``predictions``
    has the pair; else as the alert itself says (its values date from its last change)."""
    entry = (predictions or {}).get(alert["server"], {}).get(alert["metric"])
    live = _live_outlook(alert, entry) if isinstance(entry, Mapping) else None
    if live is not None:
        return live
    cause = alert_cause(alert)
    return Outlook(
        kind=alert["level"],
        threshold=alert["threshold"],
        current=alert.get("current_value"),
        cause=cause,
        minutes=None if cause == "current" else alert.get("minutes_ahead"),
        probability=alert.get("probability"),
    )


def _live_outlook(alert: Mapping[str, Any], entry: Mapping[str, Any]) -> Outlook | None:
    risk = pair_risk(alert["server"], alert["metric"], entry)
    kind = risk.kind_of(alert["threshold"])
    if kind is None:  # thresholds changed since the alert: its own values are all we have
        return None
    return Outlook(
        kind=kind,
        threshold=alert["threshold"],
        current=risk.current,
        cause="current" if risk.reached(kind) else "forecast",
        minutes=risk.minutes_to(kind),
        probability=risk.p_8h(kind),
        window=WINDOW,
    )
