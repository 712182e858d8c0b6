"""tftmon.filelock: one holder at a time, across processes, with the holder's PID."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tftmon.filelock import FileLock, locked


def test_a_second_holder_is_refused_until_the_first_lets_go(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "x.lock"
    first, second = FileLock(path), FileLock(path)
    assert first.acquire(blocking=False) and first.held
    assert not second.acquire(blocking=False)
    assert not second.acquire(timeout=0.2)
    import os

    assert second.holder_pid() == os.getpid()
    first.release()
    assert second.acquire(blocking=False)
    second.release()
    assert path.exists()  # the file stays; only the lock goes


def test_the_lock_holds_against_another_process(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from tftmon.filelock import FileLock\n"
        "lock = FileLock(Path(sys.argv[1]))\n"
        "assert lock.acquire(blocking=False)\n"
        "print('held', flush=True)\n"
        "time.sleep(30)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        lock = FileLock(path)
        assert not lock.acquire(blocking=False)
        assert lock.holder_pid() == child.pid
    finally:
        child.kill()
        child.wait(timeout=10)
    # a killed holder leaves the file but not the lock
    deadline = time.monotonic() + 5
    assert lock.acquire(timeout=max(0.0, deadline - time.monotonic()))
    lock.release()


def test_locked_waits_for_the_holder(tmp_path: Path) -> None:
    import threading

    path = tmp_path / "x.lock"
    order: list[str] = []
    holder = FileLock(path)
    holder.acquire()

    def wait_for_it() -> None:
        with locked(path):
            order.append("waiter")

    thread = threading.Thread(target=wait_for_it)
    thread.start()
    time.sleep(0.2)
    order.append("holder")
    holder.release()
    thread.join(timeout=5)
    assert order == ["holder", "waiter"]
