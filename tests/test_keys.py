"""generate_api_key.py as a user runs it."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

from tests.servers import run_script


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_script("generate_api_key.py", *args, cwd=cwd, check=True)


def keys(path: Path) -> list[str]:
    line = next(x for x in path.read_text().splitlines() if x.startswith("TFTMON_API_KEYS="))
    return line.split("=", 1)[1].split(",")


def test_create_rotate_show(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("# mine\nTFTMON_PORT=9000\nOTHER=1\n")
    out = run(tmp_path)
    [key] = keys(env)
    assert len(key) >= 43  # 32 random bytes, URL-safe
    assert key not in out.stdout + out.stderr
    text = env.read_text()
    assert "# mine\nTFTMON_PORT=9000\nOTHER=1\n" in text
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    secrets = tmp_path / ".streamlit" / "secrets.toml"
    assert f'api_key = "{key}"' in secrets.read_text()
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600

    again = run(tmp_path)
    assert keys(env) == [key]
    assert "already holds a key" in again.stdout

    rotated = run(tmp_path, "--rotate")
    old, new = keys(env)
    assert old == key and new != key
    assert new not in rotated.stdout
    assert f'api_key = "{new}"' in secrets.read_text()
    assert run(tmp_path, "--show").stdout.strip() == new


def test_show_without_a_key_fails(tmp_path: Path) -> None:
    result = run_script("generate_api_key.py", "--show", cwd=tmp_path)
    assert result.returncode == 1
    assert "no key" in result.stderr
