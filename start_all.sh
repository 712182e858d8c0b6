#!/usr/bin/env bash
# Start the tftmon stack: set up .venv (idempotent), create an API key if .env has none,
# start the inference daemon in the background and wait until it answers /health.
# Logs go to logs/, PIDs to run/. Re-running is safe; ./stop_all.sh stops everything.
set -euo pipefail
cd "$(dirname "$0")"

scripts/bootstrap.sh
PY=.venv/bin/python
mkdir -p logs run

if ! grep -qE '^TFTMON_API_KEYS=.+' .env 2>/dev/null; then
  "$PY" generate_api_key.py
fi

port=${TFTMON_PORT:-$(sed -n 's/^TFTMON_PORT=//p' .env 2>/dev/null | tail -1)}
port=${port:-8000}
url="http://127.0.0.1:$port"

running() { [ -f "run/$1.pid" ] && kill -0 "$(cat "run/$1.pid")" 2>/dev/null; }

if running daemon; then
  echo "daemon already running (pid $(cat run/daemon.pid))"
else
  TFTMON_PORT=$port nohup "$PY" tft_inference_daemon.py >>logs/daemon.log 2>&1 &
  echo $! > run/daemon.pid
  for _ in $(seq 1 120); do
    if "$PY" - "$url/health" <<'PYEOF' 2>/dev/null; then break; fi
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=1)
PYEOF
    running daemon || { echo "daemon failed to start; see logs/daemon.log:" >&2; tail -20 logs/daemon.log >&2; exit 1; }
    sleep 0.5
  done
fi

cat <<EOT

tftmon is running.
  daemon:   $url   (API docs: $url/docs; log: logs/daemon.log)
  API key:  $PY generate_api_key.py --show
Stop with ./stop_all.sh
EOT
