"""What an entry point does when the extra it needs is not installed.

The base install holds only what the agents need (forwarder, adapters); the daemon, the
dashboard and the database drivers are extras. An entry point that needs one checks its
packages first and, when one is missing, exits 2 with one line naming the ``pip install``.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Final, ParamSpec

P = ParamSpec("P")

# what the training commands import
TRAINING_MODULES: Final = ("numpy", "pandas", "torch", "lightning", "pytorch_forecasting")


def missing_module(modules: tuple[str, ...]) -> str | None:
    """The first of ``modules`` that cannot be imported (found without importing it)."""
    for name in modules:
        try:
            if importlib.util.find_spec(name) is None:
                return name
        except (ImportError, ValueError):
            return name
    return None


def needs_extra(extra: str, *modules: str) -> Callable[[Callable[P, int]], Callable[P, int]]:
    """Wrap an entry point that needs ``modules`` of the extra ``extra``: without one of them
    it exits 2 with one line such as ``tftmon-daemon: needs the 'daemon' extra (fastapi is
    not installed): pip install 'tftmon[daemon]'``."""

    def wrap(main: Callable[P, int]) -> Callable[P, int]:
        @functools.wraps(main)
        def checked(*args: P.args, **kwargs: P.kwargs) -> int:
            absent = missing_module(modules)
            if absent is not None:
                prog = Path(sys.argv[0]).name or main.__name__
                print(
                    f"{prog}: needs the '{extra}' extra ({absent} is not installed): "
                    f"pip install 'tftmon[{extra}]'",
                    file=sys.stderr,
                )
                return 2
            return main(*args, **kwargs)

        return checked

    return wrap
