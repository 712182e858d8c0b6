"""The daemon's HTTP API: ``create_app()`` builds it; one router per concern."""

from __future__ import annotations

from tftmon.api.app import create_app

__all__ = ["create_app"]
