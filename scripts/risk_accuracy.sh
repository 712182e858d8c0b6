#!/usr/bin/env bash
# Reproduce the demo-fleet figures of Docs/ACCURACY.md for the served model: calibrate its
# probabilities on 14 simulated days (seed 11), then backtest forecasts, alerts and
# probability reliability on 14 other days with labelled incidents (seed 12).
# About 10 minutes on 2 CPU cores. Reports go to reports/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
MODEL=models/$(cat models/LATEST)
mkdir -p data/eval reports
.venv/bin/python metrics_generator.py --days 14 --seed 11 --start 2026-03-02T00:00:00Z \
  --out data/eval/calibration_14d.parquet
.venv/bin/python metrics_generator.py --days 14 --seed 12 --start 2026-04-06T00:00:00Z \
  --out data/eval/holdout_14d.parquet --labels data/eval/holdout_14d_labels.csv
.venv/bin/tftmon-calibrate --model "$MODEL" --data data/eval/calibration_14d.parquet
.venv/bin/tftmon-evaluate --model "$MODEL" --data data/eval/holdout_14d.parquet \
  --labels data/eval/holdout_14d_labels.csv --report reports/demo_fleet_accuracy.json
