#!/usr/bin/env bash
# The one test command: set up .venv (idempotent), make sure the test servers are
# installed, then lint, type-check and run the whole test suite. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")"

scripts/bootstrap.sh
scripts/install_test_servers.sh

PY=.venv/bin/python
echo "== ruff"
"$PY" -m ruff check src tests bench adapters ./*.py
"$PY" -m ruff format --check src tests bench adapters ./*.py
echo "== mypy"
"$PY" -m mypy src
echo "== pytest"
"$PY" -m pytest "$@"
