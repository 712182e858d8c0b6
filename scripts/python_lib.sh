# Shared by bootstrap.sh and agent_install_size.sh (sourced, not run).

# find_python WHO: set PYTHON to $PYTHON or the first of python3.11, python3 on PATH, and
# check it is 3.11 or newer; otherwise say so (as WHO) and exit 1.
find_python() {
  PYTHON=${PYTHON:-}
  if [ -z "$PYTHON" ]; then
    for candidate in python3.11 python3; do
      if command -v "$candidate" >/dev/null 2>&1; then PYTHON=$candidate; break; fi
    done
  fi
  [ -n "$PYTHON" ] || { echo "$1: Python 3.11+ is required" >&2; exit 1; }
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { echo "$1: $PYTHON is older than 3.11" >&2; exit 1; }
}
