#!/usr/bin/env bash
# Reproduce the real-data and scenario tables of Docs/ACCURACY.md for the served model:
# NAB CloudWatch CPU and disk (held-out time: the last 30 % of each series), the Azure VMs
# held out of training (split by VM), and the scenario battery. Each backtest scores the
# served forecast, the TFT network alone, SeasonalNaive, last value and the damped trend
# on the same windows in the same run; the battery once more with the network alone. About
# 12 minutes on 2 CPU cores (run nothing else heavy beside it). Reports: reports/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
MODEL=models/$(cat models/LATEST)
mkdir -p reports
.venv/bin/tftmon-evaluate --model "$MODEL" --nab datasets/nab --eval-from-fraction 0.7 \
  --report reports/nab_accuracy.json
.venv/bin/tftmon-evaluate --model "$MODEL" --azure datasets --eval-from-fraction 0.5 \
  --stride 24 --report reports/azure_heldout_accuracy.json
.venv/bin/tftmon-evaluate --model "$MODEL" --scenarios --report reports/scenarios.json
.venv/bin/tftmon-evaluate --model "$MODEL" --scenarios --no-selection \
  --report reports/scenarios_network_alone.json
