"""Where a client process finds the daemon and the API key to send it.

Clients (the adapters, the forwarder, the model commands, the dashboard) read the daemon URL
and key from their flags, then the environment, then the ``.env`` the daemon reads too (the
environment wins over ``.env``, as for the daemon). The daemon itself reads its settings
through ``tftmon.settings``; both read keys through ``tftmon.keys``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from tftmon.keys import ENV_VAR, keys_of, read_env_file

DEFAULT_PORT: Final = "8000"


def client_settings(url: str | None) -> tuple[str, str | None]:
    """Daemon URL and API key for a client process (flags, environment, then .env).

    Args:
        url: the daemon URL given on the command line, if any; else ``TFTMON_DAEMON_URL``,
            else ``http://127.0.0.1:$TFTMON_PORT`` (port 8000 by default).

    Returns:
        The daemon URL and the key to send: ``TFTMON_API_KEY``, else the newest key of
        ``TFTMON_API_KEYS`` in ``./.env``, else of the ``TFTMON_API_KEYS`` variable; ``None``
        when there is none. ``TFTMON_DAEMON_URL``, ``TFTMON_PORT`` and ``TFTMON_API_KEY``
        are read from the environment, else from ``./.env``.
    """
    dotenv = read_env_file(Path(".env"))

    def setting(name: str) -> str | None:
        return os.environ.get(name) or dotenv.get(name) or None

    port = setting("TFTMON_PORT") or DEFAULT_PORT
    base = url or setting("TFTMON_DAEMON_URL") or f"http://127.0.0.1:{port}"
    key = setting("TFTMON_API_KEY")
    if not key:
        keys = keys_of(dotenv.get(ENV_VAR, "")) or keys_of(os.environ.get(ENV_VAR, ""))
        key = keys[-1] if keys else None
    return base, key
