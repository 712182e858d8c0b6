#!/usr/bin/env bash
# Start the tftmon demo stack: set up .venv (idempotent), create an API key if .env has none,
# start the inference daemon and wait until it answers /health, start the simulated fleet
# with a backfill (so the TFT forecasts every server as soon as it is stored), start the
# dashboard, print the URLs.
# Logs go to logs/, PIDs to run/, the ports it used to run/stack.env (read by ./status.sh and
# ./stop_all.sh, so they need no variables). Re-running is safe; ./stop_all.sh stops
# everything; ./status.sh says what runs. Ports: TFTMON_PORT (daemon, 8000),
# TFTMON_DASHBOARD_PORT (8501); the daemon's alerts link to the dashboard it started
# (TFTMON_DASHBOARD_URL, unless set). Demo size: TFTMON_DEMO_SERVERS (20),
# TFTMON_DEMO_BACKFILL_HOURS (6).
set -euo pipefail
cd "$(dirname "$0")"

scripts/bootstrap.sh
PY=.venv/bin/python
mkdir -p logs run
. scripts/stack_lib.sh
STATE_FILE=run/stack.env  # the ports of the running stack, for status.sh and stop_all.sh
from_state() { sed -n "s/^$1=//p" "$STATE_FILE" 2>/dev/null | tail -1; }

if ! grep -qE '^TFTMON_API_KEYS=.+' .env 2>/dev/null; then
  "$PY" generate_api_key.py
fi

port=$(daemon_port)
dashboard_port=$(dashboard_port)
# a piece still running from an earlier start keeps the port it was started on
if running daemon && [ -n "$(from_state TFTMON_PORT)" ]; then port=$(from_state TFTMON_PORT); fi
if running dashboard && [ -n "$(from_state TFTMON_DASHBOARD_PORT)" ]; then
  dashboard_port=$(from_state TFTMON_DASHBOARD_PORT)
fi
servers=${TFTMON_DEMO_SERVERS:-20}
backfill=${TFTMON_DEMO_BACKFILL_HOURS:-6}
url="http://127.0.0.1:$port"
dashboard_url="http://127.0.0.1:$dashboard_port"
key=$("$PY" generate_api_key.py --show)
# the link in the daemon's alert notifications (Alertmanager generatorURL): this dashboard
dashboard_link=${TFTMON_DASHBOARD_URL:-$(from_env_file TFTMON_DASHBOARD_URL)}
dashboard_link=${dashboard_link:-$dashboard_url}
printf 'TFTMON_PORT=%s\nTFTMON_DASHBOARD_PORT=%s\n' "$port" "$dashboard_port" >"$STATE_FILE"

answers() {  # answers URL: true once it returns HTTP 200
  "$PY" - "$1" <<'PYEOF' 2>/dev/null
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=1)
PYEOF
}

wait_until_up() {  # wait_until_up NAME URL SECONDS
  for _ in $(seq 1 $(($3 * 2))); do
    if answers "$2"; then return 0; fi
    running "$1" || { echo "$1 failed to start; see logs/$1.log:" >&2; tail -20 "logs/$1.log" >&2; exit 1; }
    sleep 0.5
  done
  echo "$1 did not answer $2 within $3 s; see logs/$1.log" >&2
  exit 1
}

start() {  # start NAME PORT COMMAND...: in the background, log to logs/NAME.log, PID to run/
  local name=$1 listen=$2
  shift 2
  if running "$name"; then
    echo "$name already running (pid $(cat "run/$name.pid"))"
    return 1
  fi
  if [ -n "$listen" ] && port_taken "$listen"; then
    echo "port $listen is taken by another process (not one this script started);" \
      "stop it or choose another port (TFTMON_PORT / TFTMON_DASHBOARD_PORT)" >&2
    exit 1
  fi
  nohup "$@" >>"logs/$name.log" 2>&1 &
  echo $! >"run/$name.pid"
  echo "started $name (pid $!)"
}

if start daemon "$port" env TFTMON_PORT="$port" TFTMON_DASHBOARD_URL="$dashboard_link" \
  "$PY" tft_inference_daemon.py; then
  wait_until_up daemon "$url/health" 120
fi

start generator "" env TFTMON_API_KEY="$key" "$PY" metrics_generator.py --stream \
  --servers "$servers" --backfill-hours "$backfill" --url "$url" || true

if start dashboard "$dashboard_port" env TFTMON_DAEMON_URL="$url" TFTMON_API_KEY="$key" \
  "$PY" -m streamlit run tft_dashboard_web.py --server.port "$dashboard_port" \
  --server.address 127.0.0.1 --server.headless true --browser.gatherUsageStats false; then
  wait_until_up dashboard "$dashboard_url/_stcore/health" 60
fi

cat <<EOT

tftmon is running.
  dashboard: $dashboard_url
  daemon:    $url   (API docs: $url/docs)
  fleet:     $servers simulated servers, $backfill h of backfill, then live every 5 s
  API key:   $PY generate_api_key.py --show
  logs:      logs/daemon.log, logs/generator.log, logs/dashboard.log
Check with ./status.sh; stop with ./stop_all.sh
EOT
