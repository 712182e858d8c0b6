#!/usr/bin/env bash
# Reproduce the demo-fleet figures of Docs/ACCURACY.md for the served model as shipped
# (with its calibration.json, fitted by scripts/calibrate_default_model.sh on seed 11):
# backtest forecasts, alerts and probability reliability on 14 other simulated days with
# labelled incidents (seed 12), under the daemon's default alert policy. With
# --uncalibrated, score a copy of the model without its calibration instead.
# About 7 minutes on 2 CPU cores (run nothing else heavy beside it). Reports go to reports/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
MODEL=models/$(cat models/LATEST)
mkdir -p data/eval reports
.venv/bin/python metrics_generator.py --days 14 --seed 12 --start 2026-04-06T00:00:00Z \
  --out data/eval/holdout_14d.parquet --labels data/eval/holdout_14d_labels.csv
REPORT=reports/demo_fleet_accuracy.json
if [ "${1:-}" = --uncalibrated ]; then
  rm -rf data/eval/models && mkdir -p data/eval/models && cp -r "$MODEL" data/eval/models/
  MODEL=data/eval/models/$(basename "$MODEL")
  rm -f "$MODEL/calibration.json"
  REPORT=reports/demo_fleet_accuracy_uncalibrated.json
fi
.venv/bin/tftmon-evaluate --model "$MODEL" --data data/eval/holdout_14d.parquet \
  --labels data/eval/holdout_14d_labels.csv --report "$REPORT"
