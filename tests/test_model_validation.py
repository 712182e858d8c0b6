"""One model-validation path at start and on reload: a broken artifact is never fatal.

Each case breaks a copy of the tiny model. The daemon must start on it serving the
baseline with the reason in ``/status`` (logged once), ``POST /admin/reload`` must refuse
the same artifact with the same reason (whether the baseline or a TFT serves), and no
response may carry the absolute path of the models folder.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import API_KEY, hours_ago, make_settings, records
from tests.tiny_model import HORIZON
from tftmon.api import create_app
from tftmon.forecast.artifacts import METADATA, WEIGHTS, ArtifactError, set_latest
from tftmon.forecast.tft import TFTForecaster
from tftmon.risk.calibration import FILE as CALIBRATION
from tftmon.risk.calibration import Calibration


def _edit_meta(folder: Path, change: Callable[[dict[str, Any]], object]) -> None:
    meta = json.loads((folder / METADATA).read_text())
    change(meta)
    (folder / METADATA).write_text(json.dumps(meta))


def _edit_weights(folder: Path, change: Callable[[dict[str, object]], object]) -> None:
    import torch

    state = torch.load(folder / WEIGHTS, weights_only=True)
    torch.save(change(state), folder / WEIGHTS)


def _nan_weights(state: dict[str, object]) -> dict[str, object]:
    import torch

    return {
        k: torch.full_like(v, math.nan)
        if isinstance(v, torch.Tensor) and v.is_floating_point()
        else v
        for k, v in state.items()
    }


def _one_inf(state: dict[str, object]) -> dict[str, object]:
    import torch

    name = next(k for k, v in state.items() if isinstance(v, torch.Tensor) and v.numel() > 1)
    tensor = state[name]
    assert isinstance(tensor, torch.Tensor)
    tensor.view(-1)[0] = math.inf
    return state


def _link_out(folder: Path, name: str) -> None:
    outside = folder.parent.parent / "outside"
    outside.mkdir(exist_ok=True)
    shutil.move(folder / name, outside / name)
    (folder / name).symlink_to(outside / name)


def _calibration(folder: Path, body: object) -> None:
    (folder / CALIBRATION).write_text(body if isinstance(body, str) else json.dumps(body))


def _calibration_outside(folder: Path) -> None:
    _calibration(folder, {"maps": {}})
    _link_out(folder, CALIBRATION)


def _mkdir_weights(folder: Path) -> None:
    (folder / WEIGHTS).unlink()
    (folder / WEIGHTS).mkdir()


CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "empty calibration": (lambda f: _calibration(f, ""), "v2/calibration.json: not valid JSON"),
    "calibration without maps": (
        lambda f: _calibration(f, {"format": 2}),
        "v2/calibration.json: not a JSON object with maps",
    ),
    "calibration map not monotone": (
        lambda f: _calibration(f, {"maps": {"warning_within_8h": {"x": [0.5, 0.1], "y": [0, 1]}}}),
        "not a monotone map of probabilities",
    ),
    "hparam of the wrong type": (
        lambda f: _edit_meta(f, lambda m: m["hparams"].update(hidden_size="8")),
        "model v2: hparams do not build a TFT",
    ),
    "metadata without reals": (
        lambda f: _edit_meta(f, lambda m: m.pop("reals")),
        "v2/metadata.json: missing ['reals']",
    ),
    "reals lacking a column": (
        lambda f: _edit_meta(f, lambda m: m.update(reals=["cpu_pct"])),
        "model v2: reals lack",
    ),
    "metrics not a list": (
        lambda f: _edit_meta(f, lambda m: m.update(metrics="cpu_pct")),
        "v2/metadata.json: metrics is 'cpu_pct', not a non-empty list of strings",
    ),
    "step_seconds a string": (
        lambda f: _edit_meta(f, lambda m: m.update(step_seconds="300")),
        "step_seconds is '300', not a positive integer",
    ),
    "metadata not an object": (
        lambda f: (f / METADATA).write_text("[]"),
        "v2/metadata.json: not a JSON object",
    ),
    "weights not a dict": (
        lambda f: _edit_weights(f, lambda s: list(s.values())),
        "model v2: weights do not load (weights.pt holds a list, not a dict of tensors)",
    ),
    "weights all NaN": (
        lambda f: _edit_weights(f, _nan_weights),
        "non-finite values (NaN or infinity)",
    ),
    "one infinite weight": (
        lambda f: _edit_weights(f, _one_inf),
        "holds 1 non-finite values",
    ),
    "weights of another shape": (
        lambda f: _edit_meta(f, lambda m: m["hparams"].update(hidden_size=12)),
        "model v2: weights do not load",
    ),
    "weights missing": (lambda f: (f / WEIGHTS).unlink(), "v2/weights.pt: missing"),
    "weights a folder": (_mkdir_weights, "v2/weights.pt: not a regular file"),
    "weights linked outside": (
        lambda f: _link_out(f, WEIGHTS),
        "v2/weights.pt: links to a file outside the models folder",
    ),
    "metadata linked outside": (
        lambda f: _link_out(f, METADATA),
        "v2/metadata.json: links to a file outside the models folder",
    ),
    "calibration linked outside": (
        _calibration_outside,
        "v2/calibration.json: links to a file outside the models folder",
    ),
}


def broken_models(tiny_model: Path, tmp_path: Path, case: str) -> Path:
    """``models/`` with the good ``tiny`` and ``v2``, broken as ``case`` says; LATEST → v2."""
    models = tmp_path / "models"
    shutil.copytree(tiny_model / "tiny", models / "tiny")
    shutil.copytree(tiny_model / "tiny", models / "v2")
    CASES[case][0](models / "v2")
    set_latest(models, "tiny")  # set_latest wants a metadata file: point at v2 by hand
    (models / "LATEST").write_text("v2\n")
    return models


def _no_path(bodies: list[str], *roots: Path) -> None:
    for root in roots:
        for form in {str(root), str(root.resolve())}:
            leaking = [body[:300] for body in bodies if form in body]
            assert not leaking, f"{form} in responses: {leaking}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_broken_model_is_refused_alike_at_start_and_on_reload(
    case: str, tiny_model: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    models = broken_models(tiny_model, tmp_path, case)
    reason = CASES[case][1]
    settings = make_settings(
        tmp_path, models_dir=models, horizon_steps=HORIZON, device="cpu", model_watch=False
    )
    bodies: list[str] = []

    def call(method: str, url: str, status: int) -> dict[str, object]:
        answer = client.request(method, url)
        assert answer.status_code == status, answer.text
        bodies.append(answer.text)
        body: dict[str, object] = answer.json()
        return body

    caplog.set_level(logging.ERROR, logger="tftmon.serving.compose")
    with TestClient(create_app(settings), headers={"X-API-Key": API_KEY}) as client:
        client.post("/feed", json=records(["ppweb001", "ppdb001"], hours_ago(2), 200))
        model = call("GET", "/status", 200)["model"]
        assert isinstance(model, dict)
        assert model["model_type"] == "baseline"
        note = str(model["note"])
        assert note.startswith("TFT not served: ") and reason in note, note
        started = [r for r in caplog.records if "TFT not served" in r.getMessage()]
        assert len(started) == 1  # logged once
        why = note.removeprefix("TFT not served: ")
        # the same artifact on reload, from the baseline: refused with the same reason
        refused = call("POST", "/admin/reload", 409)
        assert refused["detail"] == f"model not reloaded: {why}"
        assert call("GET", "/status", 200)["model_reload_error"] == why
        # a good model comes in; the broken one is refused again and the good one stays
        (models / "LATEST").write_text("tiny\n")
        assert call("POST", "/admin/reload", 200)["model_version"] == "tiny"
        (models / "LATEST").write_text("v2\n")
        assert call("POST", "/admin/reload", 409)["detail"] == f"model not reloaded: {why}"
        status = call("GET", "/status", 200)
        assert status["model"]["model_version"] == "tiny"  # type: ignore[index]
        assert status["model_reload_error"] == why
        client.app.state.daemon.cycle.run_cycle()
        call("GET", "/drift/status", 200)
        call("GET", "/predictions/current", 200)
    _no_path(bodies, models, tmp_path)


def test_the_loader_refuses_what_the_daemon_refuses(tiny_model: Path, tmp_path: Path) -> None:
    """The checks live in the loaders themselves: training tools see the same errors."""
    models = broken_models(tiny_model, tmp_path, "weights all NaN")
    with pytest.raises(ArtifactError, match="non-finite"):
        TFTForecaster.load(models, "v2", device="cpu")
    _calibration(models / "tiny", "{")
    with pytest.raises(ArtifactError, match=r"tiny/calibration\.json: not valid JSON"):
        Calibration.load(models / "tiny")
    (models / "tiny" / CALIBRATION).unlink()
    assert Calibration.load(models / "tiny") is None  # absent: raw probabilities, no error
    assert TFTForecaster.load(models, "tiny", device="cpu").info.version == "tiny"
