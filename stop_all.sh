#!/usr/bin/env bash
# Stop every process ./start_all.sh started (by the PIDs in run/): the senders and the
# dashboard first, the daemon last, so nothing posts to a daemon that is going away. Needs no
# variables: the PIDs (and run/stack.env, the ports) are what start_all.sh wrote.
set -uo pipefail
cd "$(dirname "$0")"
. scripts/stack_lib.sh

stop() {  # stop PIDFILE
  local name pid
  name=$(basename "$1" .pid)
  pid=$(cat "$1")
  if running "$name"; then  # a stale PID (after a reboot) may name someone else's process
    kill "$pid"
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    echo "stopped $name (pid $pid)"
  fi
  rm -f "$1"
}

for pidfile in run/*.pid; do
  [ -e "$pidfile" ] || continue
  [ "$pidfile" = run/daemon.pid ] || stop "$pidfile"
done
[ -e run/daemon.pid ] && stop run/daemon.pid
rm -f run/stack.env  # the ports start_all.sh used: nothing runs on them now
exit 0
