"""Every ```bash block of Docs/API.md runs against a real daemon and checks its own result."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs_runner import bash_blocks, reader_checkout, run_blocks
from tests.servers import REPO, DaemonProcess

pytestmark = pytest.mark.integration

API_DOC = REPO / "Docs" / "API.md"


def test_api_doc_examples_run_and_hold(daemon: DaemonProcess, tmp_path: Path) -> None:
    blocks = bash_blocks(API_DOC.read_text())
    assert len(blocks) >= 10, "Docs/API.md lost its runnable examples"
    out = run_blocks(blocks, reader_checkout(tmp_path), daemon.port)
    assert out.stderr.count("--- block ") == len(blocks)


def test_api_doc_examples_fail_when_the_doc_lies(daemon: DaemonProcess, tmp_path: Path) -> None:
    """The checks in the examples can fail: a wrong expectation makes the run fail."""
    lie = "curl -s $BASE/health | jq -e '.status == \"degraded\"'\n"
    setup = bash_blocks(API_DOC.read_text())[0]
    with pytest.raises(AssertionError, match="block 2"):
        run_blocks([setup, lie], reader_checkout(tmp_path), daemon.port)
