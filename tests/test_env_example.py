"""Every setting is documented in .env.example, and the example itself is valid."""

from __future__ import annotations

from pathlib import Path

from tftmon.settings import Settings

EXAMPLE = Path(__file__).resolve().parents[1] / ".env.example"
KEY = "example-key-0123456789abcdef"


def _documented() -> dict[str, str]:
    out = {}
    for line in EXAMPLE.read_text().splitlines():
        if line.startswith("TFTMON_"):
            key, value = line.split("=", 1)
            out[key] = value
    return out


def test_every_setting_is_documented() -> None:
    expected = {f"TFTMON_{name.upper()}" for name in Settings.model_fields}
    assert set(_documented()) == expected


def test_example_values_are_the_defaults(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(EXAMPLE.read_text().replace("TFTMON_API_KEYS=", "TFTMON_API_KEYS=" + KEY))
    from_example = Settings(_env_file=env)  # type: ignore[call-arg]
    defaults = Settings(_env_file=None, api_keys=[KEY])  # type: ignore[call-arg]
    assert from_example == defaults
