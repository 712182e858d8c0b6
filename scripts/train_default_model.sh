#!/usr/bin/env bash
# Rebuild the default model shipped in models/: 30 days of the demo fleet (20 servers,
# seed 7) from metrics_generator.py, then tftmon-train with fixed seeds. Takes about
# 26 minutes on 2 CPU cores. Usage: scripts/train_default_model.sh [VERSION]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
VERSION=${1:-demo-fleet-v2}
mkdir -p data/training
.venv/bin/python metrics_generator.py --days 30 --seed 7 \
  --out data/training/demo_fleet_30d.parquet --labels data/training/demo_fleet_30d_labels.csv
.venv/bin/tftmon-train --data data/training/demo_fleet_30d.parquet --out "models/$VERSION" \
  --seed 42 --epochs 10 --patience 3 --limit-train-batches 150 --limit-val-batches 40 \
  --hidden 32 --heads 4 --batch-size 64 --accelerator cpu --no-progress
