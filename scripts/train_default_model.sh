#!/usr/bin/env bash
# Rebuild the default model shipped in models/: the training mixture of
# tftmon.training.mixture (160 generated servers with leaks, level shifts, trends and
# cycles at any hour; 20 demo-fleet servers; the vendored NAB series, first 70 %; the
# Azure VMs of the train split), then tftmon-train with fixed seeds.
#   scripts/train_default_model.sh [VERSION]                 # 2 CPU cores, at most ~1 hour
#   TFTMON_TRAIN_ACCELERATOR=gpu scripts/train_default_model.sh   # one GPU, ~7 minutes
# The shipped fleet-mix-v3 came from the GPU line on one H200 (stopped by --max-minutes
# after 3 epochs); the CPU line trains the same network for longer on fewer workers.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
VERSION=${1:-fleet-mix-v3}
ACCELERATOR=${TFTMON_TRAIN_ACCELERATOR:-cpu}
if [ "$ACCELERATOR" = gpu ]; then
  RUN=(--accelerator gpu --workers 12 --max-minutes 6)
else
  RUN=(--accelerator cpu --workers 0 --max-minutes 55)
fi
.venv/bin/tftmon-train --mixture datasets --out "models/$VERSION" --seed 42 --epochs 40 \
  --patience 6 --limit-train-batches 300 --limit-val-batches 20 --batch-size 128 \
  --hidden 48 --heads 4 --no-progress "${RUN[@]}"
