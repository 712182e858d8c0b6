"""Hot swap: a new ``models/LATEST`` or ``POST /admin/reload`` swaps the model between
cycles; requests keep succeeding meanwhile; a model that does not load is refused."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import API_KEY, hours_ago, make_settings, records
from tests.servers import wait_for
from tests.tiny_model import HORIZON
from tftmon.api import create_app
from tftmon.forecast.artifacts import METADATA, set_latest


def two_versions(tiny_model: Path, tmp_path: Path) -> Path:
    models = tmp_path / "models"
    shutil.copytree(tiny_model / "tiny", models / "tiny")
    shutil.copytree(tiny_model / "tiny", models / "tiny2")
    meta = models / "tiny2" / METADATA
    meta.write_text(meta.read_text().replace('"version": "tiny"', '"version": "tiny2"'))
    set_latest(models, "tiny")
    return models


def app_client(tmp_path: Path, models: Path, **overrides: object) -> TestClient:
    settings = make_settings(
        tmp_path, models_dir=models, horizon_steps=HORIZON, encoder_steps=48, **overrides
    )
    return TestClient(create_app(settings), headers={"X-API-Key": API_KEY})


def version(client: TestClient) -> str:
    return str(client.get("/status").json()["model"]["model_version"])


def test_admin_reload_swaps_and_requests_keep_succeeding(tiny_model: Path, tmp_path: Path) -> None:
    models = two_versions(tiny_model, tmp_path)
    # the hammer below reads faster than a key's default read limit (50/s): no limit here
    with app_client(tmp_path, models, model_watch=False, rate_limit_read_per_s=0) as client:
        client.post("/feed", json=records(["ppml0001", "ppdb001"], hours_ago(2), 200))
        client.app.state.daemon.cycle.run_cycle()
        assert version(client) == "tiny"
        codes: list[int] = []
        stop = threading.Event()

        def hammer() -> None:
            while not stop.is_set():
                codes.append(client.get("/predictions/current").status_code)
                codes.append(client.get("/status").status_code)

        worker = threading.Thread(target=hammer)
        worker.start()
        try:
            for name in ("tiny2", "tiny", "tiny2"):
                set_latest(models, name)
                answer = client.post("/admin/reload")
                assert answer.status_code == 200, answer.text
                assert answer.json()["model_version"] == name
        finally:
            stop.set()
            worker.join()
        assert codes and set(codes) == {200}
        assert version(client) == "tiny2"
        wait_for(
            lambda: (
                client.get("/predictions/current").json()["metadata"]["model_version"] == "tiny2"
            )
        )  # the reload woke the inference loop: the new model forecasts at once
        text = client.get("/metrics").text
        assert 'tftmon_model_reloads_total{result="ok"} 3.0' in text
        assert client.post("/admin/reload", headers={"X-API-Key": ""}).status_code == 401


def test_a_model_that_does_not_load_is_refused(tiny_model: Path, tmp_path: Path) -> None:
    models = two_versions(tiny_model, tmp_path)
    (models / "tiny2" / "weights.pt").write_bytes(b"not a state dict")
    with app_client(tmp_path, models, model_watch=False) as client:
        set_latest(models, "tiny2")
        answer = client.post("/admin/reload")
        assert answer.status_code == 409
        assert answer.json()["code"] == "reload_failed"
        status = client.get("/status").json()
        assert status["model"]["model_version"] == "tiny"
        assert "weights do not load" in status["model_reload_error"]


def test_the_daemon_follows_latest(tiny_model: Path, tmp_path: Path) -> None:
    models = two_versions(tiny_model, tmp_path)
    with app_client(tmp_path, models) as client:
        assert version(client) == "tiny"
        set_latest(models, "tiny2")
        wait_for(lambda: version(client) == "tiny2", timeout=20)
        assert client.get("/status").json()["model_reload_error"] is None


def test_a_broken_latest_is_refused_once_and_the_old_model_serves(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = two_versions(tiny_model, tmp_path)
    (models / "tiny2" / "weights.pt").write_bytes(b"")
    with app_client(tmp_path, models) as client:
        set_latest(models, "tiny2")
        wait_for(
            lambda: client.get("/status").json()["model_reload_error"] is not None,
            20,
            "the reload of the broken version to fail",
        )
        assert version(client) == "tiny"
        slot = client.app.state.daemon.models  # the inference loop polls ``slot.check``
        check, polls = slot.check, [0]

        def counted_check() -> bool:
            try:
                return check()
            finally:
                polls[0] += 1

        monkeypatch.setattr(slot, "check", counted_check)
        # two whole polls of LATEST begun after the failure: either would have retried it
        wait_for(lambda: polls[0] >= 2, 20, "two more polls of models/LATEST")
        text = client.get("/metrics").text
        assert 'tftmon_model_reloads_total{result="failed"} 1.0' in text
        assert client.get("/predictions/current").status_code == 200


def test_reloading_the_served_version_loads_nothing_and_bad_latest_never_raises(
    tiny_model: Path, tmp_path: Path
) -> None:
    models = two_versions(tiny_model, tmp_path)
    with app_client(tmp_path, models, model_watch=False) as client:
        slot = client.app.state.daemon.models
        served = slot.forecaster
        answer = client.post("/admin/reload").json()  # LATEST names what is served
        assert answer == {
            "reloaded": True,
            "model_version": "tiny",
            "previous_version": "tiny",
            "error": None,
        }
        assert slot.forecaster is served  # not loaded a second time
        assert 'result="ok"} 1.0' not in client.get("/metrics").text
        (models / "LATEST").write_bytes(b"\xff\xfe not text")
        slot.source.watch = True
        assert slot.check() is False  # logged, and the loop goes on
        assert version(client) == "tiny"


def test_reload_refuses_nan_weights_with_one_reason_and_no_absolute_path(
    tiny_model: Path, tmp_path: Path
) -> None:
    import torch

    models = two_versions(tiny_model, tmp_path)
    weights = models / "tiny2" / "weights.pt"
    state = torch.load(weights, weights_only=True)
    torch.save({k: torch.full_like(v, float("nan")) for k, v in state.items()}, weights)
    with app_client(tmp_path, models, model_watch=False) as client:
        set_latest(models, "tiny2")
        answer = client.post("/admin/reload")
        assert answer.status_code == 409
        status = client.get("/status")
        why = status.json()["model_reload_error"]
        assert why.startswith("model tiny2: weights do not load") and "non-finite" in why
        assert answer.json()["detail"] == f"model not reloaded: {why}"  # the same words
        assert version(client) == "tiny"
        for text in (answer.text, status.text, client.get("/drift/status").text):
            assert str(tmp_path) not in text and str(tmp_path.resolve()) not in text


def test_a_message_from_below_loses_the_models_folders_path(tmp_path: Path) -> None:
    """An error raised below tftmon (an OSError names its file) is cut to a relative name."""
    from tftmon.serving.models import model_problem

    models = tmp_path / "models"
    models.mkdir()
    missing = FileNotFoundError(2, "No such file or directory", str(models / "v2" / "weights.pt"))
    assert model_problem(missing, models) == (
        "FileNotFoundError: [Errno 2] No such file or directory: 'v2/weights.pt'"
    )
    linked = tmp_path / "link"
    linked.symlink_to(models)  # the same folder under another name: both forms are cut
    assert model_problem(ValueError(f"{models}/x and {models}"), linked) == (
        "ValueError: x and <models>"
    )
    assert model_problem(ImportError("no torch"), None) == "missing dependency (no torch)"
