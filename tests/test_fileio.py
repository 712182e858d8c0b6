"""tftmon.fileio: a file is replaced whole or not at all, fsynced, with its mode."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tftmon import fileio
from tftmon.fileio import atomic_write_bytes, atomic_write_text


def test_writes_the_new_content_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "keys.env"
    atomic_write_text(path, "A=1\n")
    assert path.read_text() == "A=1\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    atomic_write_bytes(path, b"B=2\n", mode=0o644)
    assert path.read_bytes() == b"B=2\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(p.name for p in path.parent.iterdir()) == ["keys.env"]  # no temp left


def test_a_crash_before_the_replace_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.json"
    path.write_text("old")

    def crash(src: object, dst: object) -> None:
        raise OSError("power lost")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="power lost"):
        atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_a_failed_write_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.json"
    path.write_text("old")

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError):
        atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_the_file_and_its_folder_are_fsynced_before_and_after_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync-dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync-file")
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        events.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    atomic_write_bytes(tmp_path / "spool.json", b"[]")
    if os.name == "posix":
        assert events == ["fsync-file", "replace", "fsync-dir"]
    else:
        assert events[:2] == ["fsync-file", "replace"]


def test_backup_keeps_the_previous_file(tmp_path: Path) -> None:
    path, previous = tmp_path / "state.json", tmp_path / "state.json.prev"
    atomic_write_text(path, "one", backup=previous)
    assert not previous.exists()
    atomic_write_text(path, "two", backup=previous)
    assert (path.read_text(), previous.read_text()) == ("two", "one")


def test_fsync_dir_tolerates_a_folder_it_cannot_open(tmp_path: Path) -> None:
    fileio.fsync_dir(tmp_path / "missing")  # no error


def test_the_former_copies_use_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Key files, the forwarder's spool and adapter checkpoints go through fileio."""
    from tftmon.adapters.checkpoint import Checkpoint, CheckpointFile
    from tftmon.forwarder import Spool
    from tftmon.keys import write_keys

    written: list[str] = []
    real = fileio.atomic_write_bytes

    def spy(path: Path, data: bytes, **kwargs: object) -> None:
        written.append(path.name)
        real(path, data, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(fileio, "atomic_write_bytes", spy)
    write_keys(tmp_path / ".env", ["k" * 43])
    assert stat.S_IMODE((tmp_path / ".env").stat().st_mode) == 0o600
    monkeypatch.setattr("tftmon.forwarder.atomic_write_bytes", spy)
    Spool(tmp_path / "spool").put([{"a": 1}])
    monkeypatch.setattr("tftmon.adapters.checkpoint.atomic_write_bytes", spy)
    CheckpointFile(tmp_path / "state.json").save(Checkpoint([1], None, "src"))
    assert written == [".env", "000000000000.json", "state.json"]


def test_model_artifacts_are_written_durably(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Weights, metadata, calibration and LATEST go through fileio (0644), and a version
    moved into place has its folder fsynced."""
    import numpy as np

    from tftmon.forecast import artifacts, registry
    from tftmon.risk import calibration

    written: list[str] = []
    real = fileio.atomic_write_bytes

    def spy(path: Path, data: bytes, **kwargs: object) -> None:
        written.append(path.name)
        real(path, data, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(artifacts, "atomic_write_bytes", spy)
    monkeypatch.setattr(fileio, "atomic_write_bytes", spy)  # atomic_write_text's call
    folder = artifacts.save_artifact(tmp_path, "v1", {"w": [1.0]}, {"metrics": ["cpu_pct"]})
    artifacts.set_latest(tmp_path, "v1")
    maps = {"warning_8h": (np.array([0.0, 1.0]), np.array([0.0, 1.0]))}
    calibration.Calibration(maps, {}).save(folder)
    assert written == ["weights.pt", "metadata.json", "LATEST", "calibration.json"]
    for name in ("v1/weights.pt", "v1/metadata.json", "LATEST", "v1/calibration.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644
    synced: list[Path] = []
    monkeypatch.setattr(registry, "fsync_dir", synced.append)
    staged = tmp_path / "staging" / "v2"
    staged.mkdir(parents=True)
    registry.install(staged, tmp_path)
    assert synced == [tmp_path]
