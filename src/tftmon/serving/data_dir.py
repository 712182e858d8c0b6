"""The daemon's data directory: private modes (0700 folder, 0600 files) and one daemon at a time.

The history (``history.sqlite3``, its ``-wal`` and ``-shm``, the alert tables) holds server
names and metrics; other local users must not read it. SQLite creates the ``-wal`` and
``-shm`` files with the mode of the database file, so creating that file 0600 before the
first connection keeps all three private whatever the process umask is. Looser modes found
on an existing folder or file are tightened with a warning.

``lock_data_dir`` takes ``data_dir/daemon.lock`` for the life of the process, so a second
daemon on the same folder (two writers of one history) stops at start instead.
"""

from __future__ import annotations

import logging
import os
import stat
import sys
from pathlib import Path
from typing import Final

from tftmon.errors import ConfigError
from tftmon.filelock import FileLock

logger = logging.getLogger(__name__)

LOCK_NAME: Final = "daemon.lock"
DIR_MODE: Final = 0o700
FILE_MODE: Final = 0o600


def _tighten(path: Path, mode: int) -> None:
    current = stat.S_IMODE(path.stat().st_mode)
    if current & ~mode:
        logger.warning(
            "%s had mode %04o, readable by other users: set to %04o", path, current, mode
        )
        path.chmod(mode)


def prepare_data_dir(data_dir: Path, *private_files: Path) -> None:
    """Create ``data_dir`` (0700) and each of ``private_files`` (0600, empty) if missing, and
    tighten the modes of the folder and every file directly in it.

    On Windows the modes mean nothing (access is by ACL); only the folder is created.
    """
    data_dir.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    if sys.platform == "win32":
        return
    _tighten(data_dir, DIR_MODE)
    for path in private_files:
        if not path.exists():  # an empty file is an empty SQLite database
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    for path in data_dir.iterdir():
        if path.is_file() and not path.is_symlink():
            _tighten(path, FILE_MODE)


def lock_data_dir(data_dir: Path) -> FileLock:
    """Take ``data_dir/daemon.lock`` without waiting; the caller holds it until it exits.

    Raises:
        ConfigError: another process holds it (the message names the folder and its PID).
    """
    lock = FileLock(data_dir / LOCK_NAME)
    if not lock.acquire(blocking=False):
        pid = lock.holder_pid()
        holder = f"PID {pid}" if pid is not None else "another process"
        raise ConfigError(
            f"data directory {data_dir.resolve()} is in use by another daemon ({holder}): "
            "stop it first, or give this one its own TFTMON_DATA_DIR"
        )
    return lock
