"""The compiled serving network: built in the background, same outputs, eager meanwhile."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from tests.conftest import API_KEY, hours_ago, make_settings, records
from tests.forecast.test_serving_net import same_end
from tests.tiny_model import HORIZON
from tftmon.api import create_app
from tftmon.forecast.compiled import CompiledServing, padded
from tftmon.forecast.network import batch_sizes
from tftmon.forecast.tft import TFTForecaster
from tftmon.serving.compose import compiles
from tftmon.training.dataset import BucketedFleet

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="inductor needs a compiler")


def test_padding_repeats_a_real_row_and_keeps_shared_inputs() -> None:
    args = [
        torch.arange(6.0).view(3, 2),
        torch.ones(4),
        torch.ones(2),
        torch.arange(3),
        torch.ones(3, 1, 2),
    ]
    out = padded(args, 5)
    assert out[0].shape == (5, 2) and out[3].tolist() == [0, 1, 2, 0, 0]
    assert out[1].shape == (4,) and out[4].shape == (5, 1, 2)


def test_batch_sizes_grow_by_four_up_to_the_chunk() -> None:
    assert batch_sizes(64) == [8, 32, 64]
    assert batch_sizes(2048) == [8, 32, 128, 512, 2048]
    assert batch_sizes(4) == [4]


def test_auto_compiles_on_cuda_and_where_a_compiler_is() -> None:
    assert compiles("on", "cpu") and not compiles("off", "cuda")
    assert compiles("auto", "cuda")
    assert compiles("auto", "cpu") == (shutil.which("g++") is not None)


@pytest.mark.slow
def test_the_compiled_network_serves_what_the_eager_one_does(
    tiny_model: Path, tiny_fleet: BucketedFleet, tmp_path: Path
) -> None:
    forecaster = TFTForecaster.load(tiny_model, device="cpu")
    snap = same_end(tiny_fleet)
    eager = forecaster.forward_normalized(snap)
    forecaster.start_compile(cache_dir=tmp_path / "cache", sizes=[8])
    assert forecaster.serving_state in ("compiling", "compiled")
    assert isinstance(forecaster.compiled, CompiledServing)
    assert forecaster.compiled.wait(timeout=240), forecaster.serving_state
    assert forecaster.serving_state == "compiled"
    assert any((tmp_path / "cache").iterdir())  # inductor's code, kept for a restart
    calls = []
    real = forecaster.compiled.module
    forecaster.compiled.module = lambda *a: calls.append(a) or real(*a)  # eager, counted
    compiled = forecaster.forward_normalized(snap)  # 6 servers, padded to 8
    assert not calls, "the compiled graphs were not used"
    np.testing.assert_allclose(compiled, eager, atol=1e-5, rtol=0)
    first = forecaster.forward_normalized(snap, steps=forecaster.selection_steps or 5)
    assert first.shape[1] <= HORIZON
    np.testing.assert_allclose(first, eager[:, : first.shape[1]], atol=1e-5, rtol=0)


def test_a_failed_compile_leaves_the_eager_network_serving(
    tiny_model: Path, tiny_fleet: BucketedFleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    forecaster = TFTForecaster.load(tiny_model, device="cpu")
    snap = same_end(tiny_fleet)
    eager = forecaster.forward_normalized(snap)

    def no_compiler(*args: object, **kwargs: object) -> None:
        raise RuntimeError("no C++ compiler found")

    monkeypatch.setattr(torch, "compile", no_compiler)
    forecaster.start_compile(sizes=[8])
    assert not forecaster.compiled.wait(timeout=60)
    assert forecaster.serving_state == "failed: RuntimeError: no C++ compiler found"
    np.testing.assert_allclose(forecaster.forward_normalized(snap), eager, atol=0, rtol=0)


def test_status_says_how_the_network_is_served(tmp_path: Path) -> None:
    models = Path(__file__).resolve().parents[2] / "models"
    app = create_app(make_settings(tmp_path, models_dir=models, device="cpu", compile="off"))
    with TestClient(app, headers={"X-API-Key": API_KEY}) as client:
        status = client.get("/status").json()
        client.post("/feed", json=records(["ppweb001"], hours_ago(1), 12))
        client.app.state.daemon.cycle.run_cycle()
        stages = client.get("/status").json()["last_cycle_stages_ms"]
    assert status["model"]["model_type"] == "TFT"
    assert status["model"]["serving"] == "eager"
    assert set(stages) == {"snapshot", "forecast", "risk", "monitor", "document", "exposition"}


@pytest.mark.slow
def test_the_daemon_serves_compiled_by_itself_and_after_a_model_swap(
    tiny_model: Path, tmp_path: Path
) -> None:
    """TFTMON_COMPILE=on: /status says compiling, then compiled, with the cache in the
    data dir; a reload compiles the new model while the eager one serves."""
    from tests.api.test_admin import app_client, two_versions
    from tests.servers import wait_for
    from tftmon.forecast.artifacts import set_latest

    models = two_versions(tiny_model, tmp_path)
    with app_client(tmp_path, models, model_watch=False, compile="on") as client:

        def serving() -> str:
            return str(client.get("/status").json()["model"]["serving"])

        assert serving() in ("compiling", "compiled")
        client.post("/feed", json=records(["ppml0001", "ppdb001"], hours_ago(5), 300))
        wait_for(lambda: serving() == "compiled", timeout=240, what="the compiled network")
        assert any((tmp_path / "data" / "compile-cache").iterdir())
        client.app.state.daemon.cycle.run_cycle()
        assert len(client.get("/predictions/current").json()["predictions"]) == 2
        set_latest(models, "tiny2")
        assert client.post("/admin/reload").status_code == 200
        assert serving() in ("compiling", "compiled")  # the new model's own compile
        wait_for(lambda: serving() == "compiled", timeout=240, what="the new model compiled")
