"""The README's curl examples work verbatim against a real daemon."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import API_KEY
from tests.servers import REPO, DaemonProcess

pytestmark = pytest.mark.integration


def readme_api_block() -> str:
    text = (REPO / "README.md").read_text()
    section = text.split("## Try the API", 1)[1]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


def test_readme_curl_examples(daemon: DaemonProcess, tmp_path: Path) -> None:
    work = tmp_path / "checkout"
    work.mkdir()
    (work / ".venv").symlink_to(REPO / ".venv")
    (work / "generate_api_key.py").symlink_to(REPO / "generate_api_key.py")
    (work / ".env").write_text(f"TFTMON_API_KEYS={API_KEY}\n")
    script = readme_api_block()
    env = {**os.environ, "TFTMON_PORT": str(daemon.port)}
    out = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = [ln for ln in out.stdout.splitlines() if ln.strip()]
    feed = json.loads(lines[0])
    assert feed["accepted"] == 1 and feed["rejected"] == []
    status = json.loads(lines[1])
    assert status["servers_tracked"] == 1
    assert lines[2] == "1"
