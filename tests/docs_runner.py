"""Run the ```bash blocks of a Markdown document against a real daemon, as a reader would."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.servers import API_KEY, REPO

_BASH_BLOCK = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)


def bash_blocks(text: str) -> list[str]:
    """The bodies of every fenced block marked ```bash, in document order."""
    return _BASH_BLOCK.findall(text)


def reader_checkout(tmp_path: Path) -> Path:
    """A folder that looks like a checkout after ``./start_all.sh``: ``.venv``, the key tool,
    and a ``.env`` holding the test daemon's key (so ``generate_api_key.py --show`` prints it)."""
    work = tmp_path / "checkout"
    work.mkdir()
    (work / ".venv").symlink_to(REPO / ".venv")
    (work / "generate_api_key.py").symlink_to(REPO / "generate_api_key.py")
    (work / ".env").write_text(f"TFTMON_API_KEYS={API_KEY}\n")
    return work


def run_blocks(
    blocks: list[str], cwd: Path, port: int, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``blocks`` as one ``bash -euo pipefail`` script (variables carry over, like a
    reader's shell) with ``TFTMON_PORT`` set to the daemon's port.

    Each block announces itself on stderr, so a failure names the block that failed.

    Raises:
        AssertionError: a command failed; the message holds the failing block and output.
    """
    parts = []
    for i, block in enumerate(blocks, 1):
        first = block.strip().splitlines()[0] if block.strip() else ""
        parts.append(f"echo {_quote(f'--- block {i}: {first[:70]}')} >&2\n{block}")
    env = {**os.environ, "TFTMON_PORT": str(port)}
    env.pop("TFTMON_API_KEY", None)
    out = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", "\n".join(parts)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if out.returncode != 0:
        raise AssertionError(
            f"a documented command failed (exit {out.returncode})\n"
            f"--- stdout (tail)\n{out.stdout[-3000:]}\n--- stderr (tail)\n{out.stderr[-3000:]}"
        )
    return out


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"
