#!/usr/bin/env bash
# Measure what an agent install costs: a throwaway venv in a temp dir, `pip install` of this
# checkout with only the agent extras (the forwarder and the three adapters:
# `.[mongodb,elasticsearch]`), then the size of its site-packages in MB, the largest
# packages, and a check that torch, pandas, streamlit (and the rest of the daemon's and the
# dashboard's packages) are absent. Exit status 1 when one of them was installed.
#
# Not run by CI or ./run_tests.sh: it downloads from PyPI (network). The figure in
# Docs/ADAPTERS.md ("Installing an agent") comes from this script.
#
#   scripts/agent_install_size.sh            # PYTHON=python3.11 to choose the interpreter
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/python_lib.sh
. scripts/python_lib.sh
find_python agent_install_size

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PYTHON" -m venv "$work/venv"
PY=$work/venv/bin/python
# a copy of the tracked sources, so the build leaves nothing in the checkout
mkdir "$work/src"
git ls-files -z | xargs -0 tar -cf - | tar -xf - -C "$work/src"
echo "agent_install_size: pip install '.[mongodb,elasticsearch]' into a new venv ($("$PY" --version))"
"$PY" -m pip install --quiet --disable-pip-version-check "$work/src[mongodb,elasticsearch]" \
  2> >(grep -v "is ignored: it is neither" >&2)

"$PY" - <<'PYEOF'
import importlib.metadata as md
import sys
import sysconfig
from pathlib import Path

site = Path(sysconfig.get_paths()["purelib"])
total = sum(f.stat().st_size for f in site.rglob("*") if f.is_file())
sizes = {}
for dist in md.distributions():
    files = [site / f for f in dist.files or []]
    sizes[dist.metadata["Name"]] = sum(f.stat().st_size for f in files if f.is_file())
tooling = sum(sizes.get(name, 0) for name in ("pip", "setuptools"))
print(
    f"site-packages: {total / 1e6:.1f} MB, of which {(total - tooling) / 1e6:.1f} MB installed for"
    f" the agent and {tooling / 1e6:.1f} MB pip and setuptools (in every new venv)"
)
print("largest packages:")
for name, size in sorted(sizes.items(), key=lambda kv: -kv[1])[:10]:
    print(f"  {name:<24} {size / 1e6:6.1f} MB")
heavy = ["torch", "pandas", "streamlit", "plotly", "lightning", "pytorch-forecasting",
         "fastapi", "uvicorn", "numpy", "scipy", "pyarrow"]
present = [name for name in heavy if name in {n.lower() for n in sizes}]
if present:
    print(f"FAIL: an agent install pulled in {', '.join(present)}", file=sys.stderr)
    sys.exit(1)
print(f"absent, as they should be: {', '.join(heavy)}")
PYEOF
"$work/venv/bin/tftmon-prometheus-adapter" --help >/dev/null
echo "agent_install_size: tftmon-prometheus-adapter --help runs in it"
