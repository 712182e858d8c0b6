#!/usr/bin/env bash
# Fit the shipped model's probability calibration (models/<VERSION>/calibration.json):
# replay 14 simulated days of the demo fleet with labelled incidents (seed 11, the days
# before the seed-12 hold-out that scripts/risk_accuracy.sh scores) through the model and
# the risk engine, with 40 generated servers x 7 days of leaks, level shifts, spikes and
# short incidents (generator.regimes, seed 101, not the training seed) so that crossings a
# trend foresees are represented too, then fit per-window, per-forecast isotonic maps
# (tftmon-calibrate). About 10 minutes on 2 CPU cores; run nothing else heavy beside it.
#   scripts/calibrate_default_model.sh [VERSION]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
VERSION=${1:-$(cat models/LATEST)}
mkdir -p data/eval
.venv/bin/python metrics_generator.py --days 14 --seed 11 --start 2026-03-02T00:00:00Z \
  --out data/eval/calibration_14d.parquet --labels data/eval/calibration_14d_labels.csv
.venv/bin/tftmon-calibrate --model "models/$VERSION" --data data/eval/calibration_14d.parquet \
  --stride 3 --regimes 40 --regime-days 7
