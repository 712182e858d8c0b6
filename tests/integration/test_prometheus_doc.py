"""Every ```bash block of Docs/PROMETHEUS.md runs against a real daemon and checks its result."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.docs_runner import bash_blocks, reader_checkout, run_blocks
from tests.servers import REPO, DaemonProcess

pytestmark = pytest.mark.integration

DOC = REPO / "Docs" / "PROMETHEUS.md"


def test_prometheus_doc_examples_run_and_hold(daemon: DaemonProcess, tmp_path: Path) -> None:
    if shutil.which("promtool") is None:
        pytest.skip("promtool is installed by ./run_tests.sh")
    blocks = bash_blocks(DOC.read_text())
    assert len(blocks) >= 3, "Docs/PROMETHEUS.md lost its runnable examples"
    work = reader_checkout(tmp_path)
    (work / "prometheus").symlink_to(REPO / "prometheus")
    out = run_blocks(blocks, work, daemon.port)
    assert out.stderr.count("--- block ") == len(blocks)
