# Shared by start_all.sh, stop_all.sh and status.sh (sourced, not run).

# The program each piece of the stack runs: a PID file is believed only when its process
# still runs that program (after a reboot the PID may belong to something else).
program_of() {
  case "$1" in
    daemon) echo tft_inference_daemon.py ;;
    generator) echo metrics_generator.py ;;
    dashboard) echo tft_dashboard_web.py ;;
    *) echo "$1" ;;
  esac
}

# running NAME: true when run/NAME.pid names a live process running NAME's program
running() {
  local pid
  [ -f "run/$1.pid" ] || return 1
  pid=$(cat "run/$1.pid" 2>/dev/null) || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  if [ -r "/proc/$pid/cmdline" ]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$(program_of "$1")"
  else
    ps -o args= -p "$pid" 2>/dev/null | grep -qF "$(program_of "$1")"
  fi
}

from_env_file() { sed -n "s/^$1=//p" .env 2>/dev/null | tail -1; }

daemon_port() {
  local port=${TFTMON_PORT:-$(from_env_file TFTMON_PORT)}
  echo "${port:-8000}"
}

dashboard_port() {
  local port=${TFTMON_DASHBOARD_PORT:-$(from_env_file TFTMON_DASHBOARD_PORT)}
  echo "${port:-8501}"
}

# port_taken PORT: true when something listens on 127.0.0.1:PORT
port_taken() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
