#!/usr/bin/env bash
# Reproduce the NAB table of Docs/ACCURACY.md: train a TFT on the first 70 % of each NAB AWS
# CloudWatch series (CPU and disk-write; 5-minute steps) and backtest it on the last 30 %
# against SeasonalNaive and last value; then score the shipped demo-fleet model on the same
# held-out part without retraining. Reports go to reports/. About 10 minutes on 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
NAB=${NAB_DIR:-datasets/nab}
rm -rf data/nab/models/nab-v1
.venv/bin/tftmon-train --nab "$NAB" --train-fraction 0.7 --out data/nab/models/nab-v1 \
  --seed 42 --epochs 8 --patience 3 --limit-train-batches 80 --limit-val-batches 20 \
  --hidden 32 --heads 4 --accelerator cpu --no-progress
.venv/bin/tftmon-evaluate --model data/nab/models/nab-v1 --nab "$NAB" --eval-from-fraction 0.7 \
  --report reports/nab_accuracy.json
.venv/bin/tftmon-evaluate --model "models/$(cat models/LATEST)" --nab "$NAB" \
  --eval-from-fraction 0.7 --report reports/nab_accuracy_demo_model.json
