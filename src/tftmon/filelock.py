"""An exclusive lock on a file between processes: ``fcntl.flock`` on POSIX, ``msvcrt.locking``
on Windows; the holder's PID is written into the file so a refused process can name it.

The lock belongs to the open file: it is released when ``release`` is called, the file is
closed, or the process ends (even by ``kill -9``), so a stale lock file never blocks anyone.
Used for the daemon's data directory (``data_dir/daemon.lock``) and the model registry
(``models/.lock``).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Final

# Windows locks are mandatory: lock one byte far past the PID so that others can read it
_WINDOWS_OFFSET: Final = 1 << 20
_POLL_S: Final = 0.05


def _try_lock(fd: int) -> bool:
    """Take the lock without waiting; False when another open file holds it."""
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, _WINDOWS_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, _WINDOWS_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)


class FileLock:
    """An exclusive lock on ``path`` (created mode 0600 if missing).

    ``with FileLock(path):`` waits for the lock; ``acquire(blocking=False)`` tries once.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self, *, blocking: bool = True, timeout: float | None = None) -> bool:
        """Take the lock and write this process's PID into the file.

        Args:
            blocking: wait until the lock is free (polled every 50 ms); else try once.
            timeout: with ``blocking``, give up after this many seconds (None: never).

        Returns:
            Whether the lock is held now.
        """
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = None if timeout is None else time.monotonic() + timeout
        while not _try_lock(fd):
            if not blocking or (deadline is not None and time.monotonic() >= deadline):
                os.close(fd)
                return False
            time.sleep(_POLL_S)
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        """Let the lock go (nothing when it is not held); the file stays."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            _unlock(fd)
        os.close(fd)

    def holder_pid(self) -> int | None:
        """The PID written by the process that took the lock last (None: unknown)."""
        try:
            text = self.path.read_text(encoding="ascii", errors="replace").split()
        except OSError:
            return None
        return int(text[0]) if text and text[0].isdigit() else None

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the lock on ``path`` for the ``with`` block, waiting for it if needed."""
    with FileLock(path):
        yield
