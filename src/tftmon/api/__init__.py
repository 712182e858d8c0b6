"""The daemon's HTTP API: ``create_app()`` builds it; one router per concern.

Owns the routes, their authentication (``deps.py``), the error shapes and their
documentation (``errors.py``) and the narrow views routes see (``state.py``). It may
import ``serving`` (the composition root and the views' types) and the foundation; the
parts themselves are built in ``serving.compose``, not here.
"""

from __future__ import annotations

from tftmon.api.app import create_app

__all__ = ["create_app"]
