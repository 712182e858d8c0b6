#!/usr/bin/env bash
# Say what ./start_all.sh started and whether it answers. Exit status 0 when all is up.
# The ports are the ones start_all.sh used (run/stack.env), whatever is exported now.
set -uo pipefail
cd "$(dirname "$0")"
PY=.venv/bin/python
. scripts/stack_lib.sh
from_state() { sed -n "s/^$1=//p" run/stack.env 2>/dev/null | tail -1; }
port=$(from_state TFTMON_PORT)
port=${port:-$(daemon_port)}
dashboard_port=$(from_state TFTMON_DASHBOARD_PORT)
dashboard_port=${dashboard_port:-$(dashboard_port)}

ok=0
for name in daemon generator dashboard; do
  if running "$name"; then
    printf '%-10s running (pid %s)\n' "$name" "$(cat "run/$name.pid")"
  else
    printf '%-10s not running\n' "$name"
    ok=1
  fi
done
[ -x "$PY" ] || { echo "no .venv yet: run ./start_all.sh"; exit 1; }
"$PY" - "http://127.0.0.1:$port" "http://127.0.0.1:$dashboard_port" <<'PYEOF' || ok=1
import json, sys, urllib.request
from pathlib import Path

daemon, dashboard = sys.argv[1], sys.argv[2]
from tftmon.keys import parse_scopes, read_key_specs, split_spec

# the newest key that may read (GET /status needs the read scope)
readers = [split_spec(spec) for spec in read_key_specs(Path(".env"))]
readers = [key for key, scopes in readers if "read" in parse_scopes(scopes)]
key = readers[-1] if readers else ""
failed = False
try:
    request = urllib.request.Request(f"{daemon}/status", headers={"X-API-Key": key})
    status = json.load(urllib.request.urlopen(request, timeout=3))
    model = status.get("model", {})
    print(
        f"daemon     {daemon}: {status.get('servers_ready', '?')}/{status.get('servers_tracked', '?')}"
        f" servers ready, model {model.get('model_type', '?')} {model.get('model_version', '')},"
        f" {status.get('inference_cycles', '?')} inference cycles"
    )
except Exception as exc:  # noqa: BLE001 - a status line, whatever went wrong
    print(f"daemon     {daemon}: not answering ({exc})")
    failed = True
try:
    urllib.request.urlopen(f"{dashboard}/_stcore/health", timeout=3)
    print(f"dashboard  {dashboard}: up")
except Exception as exc:  # noqa: BLE001
    print(f"dashboard  {dashboard}: not answering ({exc})")
    failed = True
sys.exit(1 if failed else 0)
PYEOF
exit $ok
