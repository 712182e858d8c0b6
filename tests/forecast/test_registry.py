"""Promotion history, rollback and retention of model versions (no training needed)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.servers import wait_for
from tftmon.forecast.artifacts import METADATA, ArtifactError, latest_version, set_latest
from tftmon.forecast.registry import (
    history,
    install,
    promote,
    prune,
    registry_lock,
    rollback,
    versions,
)


def fake_version(models: Path, name: str, created: str) -> None:
    folder = models / name
    folder.mkdir(parents=True)
    meta = {
        "format": 1,
        "created": created,
        "metrics": ["cpu_pct"],
        "quantiles": [0.5],
        "profile_vocabulary": {"generic": 0},
        "hparams": {},
        "reals": ["cpu_pct"],
        **dict.fromkeys(("step_seconds", "encoder_steps", "horizon_steps", "min_encoder_steps"), 1),
    }
    (folder / METADATA).write_text(json.dumps(meta))


def test_rollback_walks_back_through_promotions(tmp_path: Path) -> None:
    for i, name in enumerate(["v1", "v2", "v3"]):
        fake_version(tmp_path, name, f"2026-01-0{i + 1}")
    set_latest(tmp_path, "v1")
    assert promote(tmp_path, "v2") == "v1"
    assert promote(tmp_path, "v3", score=0.1) == "v2"
    assert [e["action"] for e in history(tmp_path)] == ["promote", "promote"]
    assert rollback(tmp_path) == ("v2", "v3")
    assert latest_version(tmp_path) == "v2"
    assert rollback(tmp_path) == ("v1", "v2")
    with pytest.raises(ArtifactError, match="no previous version"):
        rollback(tmp_path)  # v1 was never promoted here
    assert rollback(tmp_path, to="v3") == ("v3", "v1")
    with pytest.raises(ArtifactError):
        rollback(tmp_path, to="nope")
    assert latest_version(tmp_path) == "v3"


def test_prune_keeps_the_newest_the_served_and_the_previous(tmp_path: Path) -> None:
    for i in range(6):
        fake_version(tmp_path, f"v{i}", f"2026-01-0{i + 1}")
    (tmp_path / ".staging-x").mkdir()  # not a version: left alone
    set_latest(tmp_path, "v0")
    promote(tmp_path, "v1")  # served v1, previous v0
    removed = prune(tmp_path, keep=2)
    assert sorted(removed) == ["v2", "v3"]
    assert versions(tmp_path) == ["v0", "v1", "v4", "v5"]
    assert (tmp_path / ".staging-x").is_dir()


def test_install_is_one_rename_and_refuses_to_overwrite(tmp_path: Path) -> None:
    staging = tmp_path / ".staging-v9"
    fake_version(staging, "v9", "2026-01-09")
    assert install(staging / "v9", tmp_path) == tmp_path / "v9"
    fake_version(staging, "v9", "2026-01-09")
    with pytest.raises(ArtifactError, match="exists"):
        install(staging / "v9", tmp_path)


def test_prune_spares_a_pinned_version(tmp_path: Path) -> None:
    for i in range(5):
        fake_version(tmp_path, f"v{i}", f"2026-01-0{i + 1}")
    set_latest(tmp_path, "v4")
    assert sorted(prune(tmp_path, keep=1, protect={"v0"})) == ["v1", "v2", "v3"]
    assert versions(tmp_path) == ["v0", "v4"]


def test_the_registry_lock_serialises_writers(tmp_path: Path) -> None:
    """A second holder waits: two processes never interleave LATEST and HISTORY updates."""
    holder = (
        "import sys; from pathlib import Path\n"
        "from tftmon.forecast.registry import registry_lock\n"
        "with registry_lock(Path(sys.argv[1])):\n"
        "    print('held', flush=True); sys.stdin.readline()\n"
    )
    released = threading.Event()  # set just before the first holder is told to let go
    trying, acquired = threading.Event(), threading.Event()
    acquired_while_held: list[bool] = []

    def second_holder() -> None:
        trying.set()
        with registry_lock(tmp_path):
            acquired_while_held.append(not released.is_set())
            acquired.set()

    with subprocess.Popen(
        [sys.executable, "-c", holder, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        try:
            assert proc.stdout.readline().strip() == "held"
            threading.Thread(target=second_holder, daemon=True).start()
            wait_for(trying.is_set, 10, "the second holder to ask for the lock")
            # a lock that does not exclude is taken within microseconds: allow half a second
            assert not acquired.wait(0.5), "the lock was taken while another process held it"
            released.set()
            proc.stdin.write("\n")
            proc.stdin.flush()
            wait_for(acquired.is_set, 10, "the lock once the first holder let it go")
            assert acquired_while_held == [False]
        finally:
            if proc.poll() is None:
                proc.kill()
