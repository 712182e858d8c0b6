"""Field mapping: presets, dotted paths, unit transforms, and counted skips."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tftmon.adapters.base import load_config
from tftmon.adapters.mapping import FieldMapping, MappingConfig
from tftmon.errors import ConfigError


def mapping(preset: str, **fields: object) -> FieldMapping:
    return FieldMapping.from_config(
        MappingConfig.model_validate({"preset": preset, "fields": fields})
    )


def test_metricbeat_fractions_become_percent_once() -> None:
    doc = {
        "@timestamp": "2026-11-26T10:00:00.000Z",
        "host": {"name": "web-01"},
        "system": {
            "cpu": {"total": {"norm": {"pct": 0.42}}},
            "memory": {"actual": {"used": {"pct": 0.5}}},
        },
    }
    record, reason = mapping("metricbeat").map_one(doc)
    assert reason is None
    assert record == {
        "timestamp": "2026-11-26T10:00:00.000Z",
        "server_name": "web-01",
        "cpu_pct": pytest.approx(42.0),
        "mem_pct": pytest.approx(50.0),
    }


def test_dotted_keys_as_elasticsearch_stores_them() -> None:
    doc = {
        "@timestamp": "2026-11-26T10:00:00Z",
        "host.name": "web-02",
        "system.cpu.total.norm.pct": 0.1,
    }
    record, _ = mapping("metricbeat").map_one(doc)
    assert record is not None and record["server_name"] == "web-02"
    assert record["cpu_pct"] == pytest.approx(10.0)


def test_legacy_names_stay_in_percent_and_first_present_path_wins() -> None:
    t = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    record, _ = mapping("legacy").map_one(
        {
            "@timestamp": t,
            "hostname": "ppdb001",
            "cpu_usage_pct": 73.5,
            "memory_pct": 61,
            "mem_pct": 1,
        }
    )
    assert record == {
        "timestamp": "2026-11-26T10:00:00Z",
        "server_name": "ppdb001",
        "cpu_pct": 73.5,
        "mem_pct": 61.0,
    }


def test_overrides_with_transforms_and_epoch_timestamps() -> None:
    m = mapping(
        "flat",
        disk_io_mb_s={"paths": ["io.bytes_per_s"], "transform": "bytes_to_mb"},
        latency_ms={"paths": ["http.rtt_s"], "transform": "seconds_to_ms"},
    )
    record, _ = m.map_one(
        {
            "timestamp": 1_795_687_200_000,
            "server_name": "a",
            "io": {"bytes_per_s": 2_500_000},
            "http": {"rtt_s": 0.25},
        }
    )
    assert record == {
        "timestamp": "2026-11-26T10:00:00Z",
        "server_name": "a",
        "disk_io_mb_s": 2.5,
        "latency_ms": 250.0,
    }


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ({"server_name": "a", "cpu_pct": 1.0}, "no timestamp"),
        ({"timestamp": "2026-11-26T10:00:00Z", "cpu_pct": 1.0}, "no server name"),
        (
            {"timestamp": "2026-11-26T10:00:00Z", "server_name": "a", "cpu_pct": "high"},
            "cpu_pct: not a number (str)",
        ),
        (
            {"timestamp": "2026-11-26T10:00:00Z", "server_name": "a", "cpu_pct": 250.0},
            "cpu_pct: Input should be less than or equal to 200",
        ),
        ({"timestamp": "yesterday", "server_name": "a", "cpu_pct": 1.0}, "timestamp: "),
        (
            {"timestamp": "2026-11-26T10:00:00Z", "server_name": "bad name!", "cpu_pct": 1.0},
            "server_name: ",
        ),
        (
            {"timestamp": "2026-11-26T10:00:00Z", "server_name": "a"},
            "record: Value error, a record needs at least one metric",
        ),
    ],
)
def test_invalid_documents_are_skipped_with_the_reason(doc: dict[str, object], reason: str) -> None:
    records, report = mapping("flat").map_many(
        [doc, {"timestamp": "2026-11-26T10:00:00Z", "server_name": "ok", "mem_pct": 5.0}]
    )
    assert [r["server_name"] for r in records] == ["ok"]
    assert report.mapped == 1
    (got,) = report.skipped
    assert got.startswith(reason), got


def test_unknown_preset_transform_or_field_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    for mapping_json, expected in [
        ('{"preset": "nope"}', "unknown preset"),
        (
            '{"fields": {"cpu_pct": {"paths": ["x"], "transform": "times_100"}}}',
            "unknown transform",
        ),
        ('{"fields": {"cpu": "x"}}', "unknown contract field"),
    ]:
        path.write_text(f'{{"mapping": {mapping_json}, "source": {{}}}}')
        with pytest.raises(ConfigError, match=expected):
            load_config(path)


def test_config_errors_name_the_file_and_notes_are_allowed(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"_comment": "notes are fine", "batch_size": 0}')
    with pytest.raises(ConfigError, match=r"c.json: batch_size: Input should be greater"):
        load_config(path)
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(path)
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.json")


def test_shipped_templates_are_valid_configs() -> None:
    import importlib

    from tftmon.adapters import ADAPTERS

    root = Path(__file__).resolve().parents[2] / "adapters"
    for kind, target in ADAPTERS.items():
        config = load_config(root / f"{kind}_adapter_config.json.template")
        module, _, name = target.partition(":")
        cls = getattr(importlib.import_module(module), name)
        cls.source_model.model_validate(config.source)
        FieldMapping.from_config(config.mapping)
