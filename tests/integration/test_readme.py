"""The README's curl examples work verbatim against a real daemon."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.docs_runner import bash_blocks, reader_checkout, run_blocks
from tests.servers import REPO, DaemonProcess

pytestmark = pytest.mark.integration


def readme_api_block() -> str:
    section = (REPO / "README.md").read_text().split("## Try the API", 1)[1]
    return bash_blocks(section)[0]


def test_readme_curl_examples(daemon: DaemonProcess, tmp_path: Path) -> None:
    out = run_blocks([readme_api_block()], reader_checkout(tmp_path), daemon.port)
    lines = [ln for ln in out.stdout.splitlines() if ln.strip()]
    feed = json.loads(lines[0])
    assert feed["accepted"] == 1 and feed["rejected"] == []
    status = json.loads(lines[1])
    assert status["servers_tracked"] == 1
    assert lines[2] == "1"
