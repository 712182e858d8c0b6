"""Promotion history, rollback and retention of model versions (no training needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tftmon.forecast.artifacts import METADATA, ArtifactError, latest_version, set_latest
from tftmon.forecast.registry import history, install, promote, prune, rollback, versions


def fake_version(models: Path, name: str, created: str) -> None:
    folder = models / name
    folder.mkdir(parents=True)
    meta = {
        "format": 1,
        "created": created,
        **{key: [] for key in ("metrics", "quantiles", "profile_vocabulary", "hparams")},
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
    import subprocess
    import sys
    import time

    from tftmon.forecast.registry import registry_lock

    holder = (
        "import sys, time; from pathlib import Path\n"
        "from tftmon.forecast.registry import registry_lock\n"
        "with registry_lock(Path(sys.argv[1])):\n"
        "    print('held', flush=True); time.sleep(1.5)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", holder, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    started = time.monotonic()
    with registry_lock(tmp_path):
        waited = time.monotonic() - started
    proc.wait(10)
    assert waited > 0.5
