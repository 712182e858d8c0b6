"""The one way tftmon replaces a file: atomically and durably.

``atomic_write_bytes`` writes to a temporary file in the same folder, flushes and fsyncs
it, gives it its mode, then ``os.replace`` s it over the target and fsyncs the folder (POSIX),
so a reader sees the old file or the new one, never a part, and a crash or power loss at
any point leaves one of the two on disk. Used for the API key files, the forwarder's spool,
the adapters' checkpoints, PID files and model metadata.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

PRIVATE_MODE = 0o600
SHARED_MODE = 0o644  # files other local users may read (model artifacts)


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where a folder cannot be opened,
    e.g. Windows, whose renames are durable enough)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on a folder; the rename still happened
        logger.debug("fsync of folder %s refused", folder)
    finally:
        os.close(fd)


def atomic_write_bytes(
    path: Path, data: bytes, *, mode: int = PRIVATE_MODE, backup: Path | None = None
) -> None:
    """Replace ``path`` by ``data`` atomically and durably, with permissions ``mode``.

    Args:
        path: the file to write; its folder is created when missing.
        data: the new content.
        mode: the file's permissions (default 0600: owner only).
        backup: where the old file (if any) is moved just before the new one takes its
            place (e.g. a checkpoint's previous state).

    Raises:
        OSError: the write failed; ``path`` is unchanged and no temporary file is left.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.chmod(mode)
        if backup is not None and path.exists():
            path.replace(backup)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_text(
    path: Path,
    text: str,
    *,
    mode: int = PRIVATE_MODE,
    backup: Path | None = None,
    encoding: str = "utf-8",
) -> None:
    """``atomic_write_bytes`` of ``text`` encoded (UTF-8 by default)."""
    atomic_write_bytes(path, text.encode(encoding), mode=mode, backup=backup)
