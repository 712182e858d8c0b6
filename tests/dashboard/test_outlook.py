"""Outlooks in words: when a crossing is expected, and what a pair or alert is at."""

from __future__ import annotations

from typing import Any

from tftmon.dashboard.outlook import Outlook, crossing_text, when_text


def test_when_text() -> None:
    assert when_text(None, over=True) == "now"
    assert when_text(0) == "at the next step"
    assert when_text(30) == "in ~30 min"
    assert when_text(300) == "in ~5.0 h"
    assert when_text(None) == "within 8 h"


def test_crossing_text_agrees_with_the_cause() -> None:
    def text(*args: Any) -> str:
        return crossing_text(Outlook(*args))

    assert text("critical", 95.0, 97.1, "current", None, 0.3) == "at 97.1 now (critical 95)"
    assert text("warning", 80.0, None, "current", 0, 1.0) == "over warning 80 now"
    assert (
        text("critical", 95.0, 72.25, "forecast", 130, 0.9, "8 h")
        == "90% likely to reach critical 95 within 8 h, in ~2.2 h (now 72.25)"
    )
    assert (
        text("warning", 1500.0, None, "forecast", None, 0.62, "8 h")
        == "62% likely to reach warning 1,500 within 8 h"
    )
    assert text("warning", 80.0, 70.0, "forecast", 0, None) == (
        "expected to reach warning 80 at the next step (now 70)"
    )
    assert text("warning", 80.0, None, "forecast", None, None) == "may reach warning 80"
