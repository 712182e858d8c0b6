#!/usr/bin/env bash
# Create or refresh the project's virtual environment (.venv). Idempotent: shared by
# ./run_tests.sh and ./start_all.sh, it does nothing when .venv is already current.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/python_lib.sh
. scripts/python_lib.sh
find_python bootstrap

if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi
PY=.venv/bin/python

# torch first, pinned: an unpinned torch would pull a multi-GB CUDA build.
TORCH_VERSION=${TFTMON_TORCH_VERSION:-2.13.0}
if ! "$PY" -c "import torch" >/dev/null 2>&1; then
  echo "bootstrap: installing torch==$TORCH_VERSION"
  "$PY" -m pip install --quiet --disable-pip-version-check "torch==$TORCH_VERSION" 2> >(grep -v "is ignored: it is neither" >&2)
fi

stamp=.venv/.tftmon-installed
want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: installing tftmon with every extra (all, dev)"
  "$PY" -m pip install --quiet --disable-pip-version-check -e ".[all,dev]" 2> >(grep -v "is ignored: it is neither" >&2)
  echo "$want" > "$stamp"
fi
