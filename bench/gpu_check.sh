#!/usr/bin/env bash
# Every GPU-side measurement of issue 18 in one run, eager against compiled in the same run:
# the served forecast of 1,000, 10,000 and 100,000 servers through the serving network
# (eager, compiled with an empty inductor cache first, then warm), its stages, and the
# network alone. Sized to finish in under 8 minutes on one H100/H200; each path runs in its
# own process under bench/inference.py. Not run on the 2-core CPU machine this project is
# built on (no CUDA there): Docs/PERFORMANCE.md says which tables came from which machine.
#
#   bench/gpu_check.sh
#   PY=/path/to/python bench/gpu_check.sh     # another interpreter (torch with CUDA)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
"$PY" - <<'PYEOF'
import torch
if not torch.cuda.is_available():
    raise SystemExit("bench/gpu_check.sh: no CUDA device; nothing to measure")
p = torch.cuda.get_device_properties(0)
print(f"GPU: {p.name}, {p.total_memory / 2**30:.0f} GiB, torch {torch.__version__}")
PYEOF
export TFTMON_DEVICE=cuda
timeout 300 "$PY" bench/inference.py --sizes 1000 10000 --paths general eager compiled network \
    --general-up-to 1000 --repeats 3
timeout 150 "$PY" bench/inference.py --sizes 100000 --paths compiled --repeats 1
