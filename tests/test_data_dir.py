"""The data directory: private modes (0700 folder, 0600 files) and one daemon at a time."""

from __future__ import annotations

import logging
import os
import stat
import sys
import time
from pathlib import Path

import pytest

from tests.servers import DaemonProcess, daemon_refusal
from tftmon.errors import ConfigError
from tftmon.serving.data_dir import lock_data_dir, prepare_data_dir

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@posix_only
def test_a_daemon_keeps_its_files_private_whatever_the_umask(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)  # as an older version left it
    (data / "notes.txt").write_text("x")
    (data / "notes.txt").chmod(0o644)
    daemon = DaemonProcess(data_dir=data, log=tmp_path / "daemon.log")
    old = os.umask(0o022)  # the usual default, inherited: 0755 folders, 0644 files
    try:
        daemon.start()
    finally:
        os.umask(old)
    try:
        with daemon.client() as http:
            assert http.post("/feed", json=[]).status_code == 422  # the stores are open
        assert mode(data) == 0o700
        files = {p.name: mode(p) for p in data.iterdir()}
        expected = {"history.sqlite3", "history.sqlite3-wal", "history.sqlite3-shm", "daemon.lock"}
        assert expected <= set(files)
        assert set(files.values()) == {0o600}, files
        assert "readable by other users" in daemon.log.read_text()
    finally:
        daemon.kill()


@posix_only
def test_looser_modes_are_tightened_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    old_file = data / "history.sqlite3"
    old_file.write_bytes(b"")
    old_file.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        prepare_data_dir(data, old_file)
    assert mode(data) == 0o700 and mode(old_file) == 0o600
    assert "readable by other users" in caplog.text
    assert str(data) in caplog.text


def test_a_second_lock_on_the_folder_names_the_holder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    prepare_data_dir(data)
    held = lock_data_dir(data)
    try:
        with pytest.raises(ConfigError, match=f"PID {os.getpid()}") as refused:
            lock_data_dir(data)
        assert str(data.resolve()) in str(refused.value)
    finally:
        held.release()
    lock_data_dir(data).release()  # free again once let go


def test_a_second_daemon_on_the_same_folder_exits_at_once(tmp_path: Path) -> None:
    first = DaemonProcess(data_dir=tmp_path / "data", log=tmp_path / "first.log")
    first.start()
    try:
        assert first.proc is not None
        env = {
            **os.environ,
            "TFTMON_API_KEYS": "second-key-0123456789abcdefghij",
            "TFTMON_DATA_DIR": str(first.data_dir),
        }
        started = time.monotonic()
        line = daemon_refusal(env, tmp_path)
        assert str(first.data_dir.resolve()) in line
        assert f"PID {first.proc.pid}" in line
        assert time.monotonic() - started < 30
        assert first.proc.poll() is None  # the first one goes on serving
    finally:
        first.kill()
