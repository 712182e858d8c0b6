"""generate_api_key.py as a user runs it."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.servers import API_KEY, OTHER_KEY, DaemonProcess, run_script, wait_for
from tftmon.errors import ConfigError
from tftmon.keys import (
    ENV_VAR,
    KeyRing,
    KeyWatcher,
    check_spec,
    new_key,
    parse_scopes,
    read_key_specs,
    split_spec,
    strength_problem,
)
from tftmon.settings import load_settings


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


def test_scoped_key_for_senders(tmp_path: Path) -> None:
    run(tmp_path)  # the first key: every scope, also in the Streamlit secrets
    secrets = tmp_path / ".streamlit" / "secrets.toml"
    reader = secrets.read_text()
    out = run(tmp_path, "--scopes", "ingest")
    _, scoped = keys(tmp_path / ".env")
    assert scoped.endswith(":ingest") and scoped.split(":")[0] not in out.stdout
    assert secrets.read_text() == reader  # the dashboard keeps a key that may read
    assert run(tmp_path, "--show").stdout.strip() == scoped.split(":")[0]  # as sent
    bad = run_script("generate_api_key.py", "--scopes", "everything", cwd=tmp_path)
    assert bad.returncode == 2 and "unknown API key scope" in bad.stderr


def test_scopes_syntax() -> None:
    assert split_spec("abc:ingest+read") == ("abc", "ingest+read")
    assert split_spec("abc") == ("abc", None)
    assert parse_scopes(None) == {"ingest", "read", "admin"}
    assert parse_scopes("read+admin") == {"read", "admin"}
    with pytest.raises(ValueError, match="unknown API key scope 'write'"):
        parse_scopes("ingest+write")


@pytest.mark.parametrize(
    "key",
    [
        "k" * 20,
        "abababababababababab",
        "abcdefgabcdefgabcdefg",
        "0123456789abcde",
        "aaaaaaaaaaaaaaaaaabcdefghij",
    ],
)
def test_weak_keys_are_refused(key: str) -> None:
    with pytest.raises(ValueError, match=r"too weak .*generate_api_key\.py") as refused:
        check_spec(key)
    assert key not in str(refused.value)


@pytest.mark.parametrize("key", [API_KEY, OTHER_KEY, new_key(), "0123456789abcdef"])
def test_strong_keys_pass(key: str) -> None:
    assert strength_problem(key) is None


def test_the_ring_matches_keys_and_scopes_and_keeps_a_good_set(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ring = KeyRing([API_KEY, f"{OTHER_KEY}:ingest"])
    assert ring.scopes_of(API_KEY) == {"ingest", "read", "admin"}
    assert ring.scopes_of(OTHER_KEY) == {"ingest"}
    assert ring.scopes_of(f"{OTHER_KEY}:ingest") is None and ring.scopes_of("") is None
    assert ring.reload(lambda: [OTHER_KEY])
    assert ring.scopes_of(API_KEY) is None and len(ring) == 1
    for bad in (["k" * 20], [], [f"{API_KEY}:root"]):
        assert not ring.reload(lambda bad=bad: bad)  # type: ignore[misc]
        assert ring.scopes_of(OTHER_KEY) == {"ingest", "read", "admin"}
    assert "API keys not reloaded" in caplog.text
    assert OTHER_KEY not in caplog.text and API_KEY not in caplog.text


def test_the_watcher_reloads_on_a_file_change_and_on_request(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(f"TFTMON_API_KEYS={API_KEY}\n")
    ring = KeyRing(read_key_specs(env))
    watcher = KeyWatcher(ring, lambda: read_key_specs(env), [env], interval_s=0.05)
    watcher.start()
    try:
        env.write_text(f"TFTMON_API_KEYS={OTHER_KEY}:read\n")
        wait_for(lambda: ring.scopes_of(OTHER_KEY) is not None, 5, "reload after a change")
        assert ring.scopes_of(API_KEY) is None
        # a change that keeps size and mtime is still picked up on request (SIGHUP)
        stat = env.stat()
        env.write_text(f"TFTMON_API_KEYS={OTHER_KEY}:ingest\n")
        os.utime(env, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        watcher.request()
        wait_for(lambda: ring.scopes_of(OTHER_KEY) == {"ingest"}, 5, "reload on request")
    finally:
        watcher.stop()


def test_the_daemon_rereads_its_keys_without_a_restart(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(f"TFTMON_API_KEYS={API_KEY}\n")
    daemon = DaemonProcess(tmp_path / "data", tmp_path / "daemon.log", env={ENV_VAR: ""})
    daemon.start()  # reads .env: the empty variable does not count

    def status(key: str) -> int:
        return httpx.get(f"{daemon.url}/status", headers={"X-API-Key": key}).status_code

    try:
        assert (status(API_KEY), status(OTHER_KEY)) == (200, 401)
        env.write_text(f"TFTMON_API_KEYS={OTHER_KEY}:read\n")  # seen by polling .env
        wait_for(lambda: status(OTHER_KEY) == 200, 10, "the new key served")
        assert status(API_KEY) == 401
        env.write_text(f"TFTMON_API_KEYS={'k' * 20}\n")  # a weak set: refused, old keys stay
        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "API keys not reloaded" in daemon.log.read_text(), 10, "refusal")
        assert status(OTHER_KEY) == 200 and daemon.proc.poll() is None
        assert "k" * 20 not in daemon.log.read_text()
    finally:
        daemon.kill(signal.SIGTERM)


def test_a_key_file_adds_keys(tmp_path: Path) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text(f"# senders\n{OTHER_KEY}:ingest\n")
    settings = load_settings(_env_file=None, api_keys=API_KEY, api_keys_file=key_file)
    assert settings.api_keys == [API_KEY, f"{OTHER_KEY}:ingest"]
    key_file.write_text("k" * 20 + "\n")
    with pytest.raises(ConfigError, match=r"too weak.*generate_api_key\.py"):
        load_settings(_env_file=None, api_keys_file=key_file)
