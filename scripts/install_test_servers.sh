#!/usr/bin/env bash
# Make sure the real servers the integration tests start are installed (idempotent).
# Debian packages: Prometheus, node_exporter, Alertmanager, Chromium + chromedriver.
# PyPI packages into .venv: SecantusDB (MongoDB wire protocol) and noida-db (Elasticsearch API),
# both test-only servers. The test fixtures start and stop them on 127.0.0.1; nothing here
# starts a server.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus-node-exporter >/dev/null 2>&1 || need+=(prometheus-node-exporter)
command -v prometheus-alertmanager >/dev/null 2>&1 || need+=(prometheus-alertmanager)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
command -v jq >/dev/null 2>&1 || need+=(jq)

if [ ${#need[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "install_test_servers: apt-get install ${need[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "install_test_servers: missing ${need[*]} (install them with your package manager);" \
         "tests that need them will be skipped with a reason" >&2
  fi
fi

PY=.venv/bin/python
if [ -x "$PY" ]; then
  pip_need=()
  "$PY" -c "import secantusdb" >/dev/null 2>&1 || pip_need+=("secantusdb==0.7.0b3")
  "$PY" -c "import noida_db" >/dev/null 2>&1 || pip_need+=("noida-db==0.2.3")
  if [ ${#pip_need[@]} -gt 0 ]; then
    echo "install_test_servers: pip install ${pip_need[*]}"
    "$PY" -m pip install --quiet --disable-pip-version-check "${pip_need[@]}" \
      2> >(grep -v "is ignored: it is neither" >&2)
  fi
fi
