"""The default model's training mixture reads only the vendored datasets/ folder."""

from __future__ import annotations

from pathlib import Path

from tftmon.training.mixture import WEEK_STEPS, MixtureConfig, azure_split, build

DATASETS = Path(__file__).resolve().parents[2] / "datasets"


def test_mixture_holds_every_part_aligned_by_whole_weeks() -> None:
    config = MixtureConfig(regime_servers=3, regime_days=3, demo_servers=2, demo_days=2)
    fleet, manifest = build(config, DATASETS)
    parts = manifest["parts"]
    assert set(parts) == {"regimes", "demo", "nab", "azure"}
    assert parts["nab"]["series"] == 12 and parts["azure"]["series"] > 100
    assert parts["azure"]["metrics"] == ["cpu_pct"]
    ends = {
        name.split(":")[0]: int(f) + len(v) - 1
        for name, f, v in zip(fleet.names, fleet.first, fleet.values, strict=True)
    }
    last = max(ends.values())
    assert all(last - end < WEEK_STEPS for end in ends.values())


def test_azure_split_is_by_vm_and_stable() -> None:
    names = [f"azurev1-{i}" for i in range(500)]
    test = [n for n in names if azure_split(n) == "test"]
    assert 60 < len(test) < 140
    assert [azure_split(n) for n in names] == [azure_split(n) for n in names]
