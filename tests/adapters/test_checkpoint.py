"""The durable checkpoint: atomic saves, the previous state kept, torn files not believed."""

from __future__ import annotations

from pathlib import Path

from tftmon.adapters.checkpoint import Checkpoint, CheckpointFile


def cp(position: list[object], source: str = "src") -> Checkpoint:
    return Checkpoint(position=position, timestamp="2026-11-26T10:00:00Z", source=source)


def test_round_trip_and_previous_kept(tmp_path: Path) -> None:
    state = CheckpointFile(tmp_path / "a" / "state.json")
    assert state.load("src") is None
    state.save(cp([1, "x"]))
    saved = state.save(cp([2, "y"]))
    assert saved.updated_at
    assert state.load("src") == saved
    assert CheckpointFile(state.previous).load("src").position == [1, "x"]  # type: ignore[union-attr]
    assert not list(tmp_path.glob("a/*.tmp"))


def test_a_torn_state_file_falls_back_to_the_previous_one(tmp_path: Path) -> None:
    state = CheckpointFile(tmp_path / "state.json")
    state.save(cp([1]))
    state.save(cp([2]))
    state.path.write_bytes(state.path.read_bytes()[:17])  # a crash mid-write
    assert state.load("src").position == [1]  # type: ignore[union-attr]


def test_both_unreadable_means_a_backfill(tmp_path: Path) -> None:
    state = CheckpointFile(tmp_path / "state.json")
    state.path.write_text('{"position": 5}')
    state.previous.write_text("")
    assert state.load("src") is None


def test_a_crash_between_the_two_renames_resumes_from_the_previous(tmp_path: Path) -> None:
    state = CheckpointFile(tmp_path / "state.json")
    state.save(cp([1]))
    state.save(cp([2]))
    state.path.unlink()  # the new file never got its name
    (tmp_path / "state.json.4242.tmp").write_text('{"position": [3]')
    assert state.load("src").position == [1]  # type: ignore[union-attr]
    assert not list(tmp_path.glob("*.tmp"))  # the interrupted write is cleared away


def test_another_source_starts_afresh(tmp_path: Path) -> None:
    state = CheckpointFile(tmp_path / "state.json")
    state.save(cp([1], source="mongodb:a/db.c"))
    assert state.load("mongodb:b/db.c") is None
