#!/usr/bin/env bash
# Creates (once) a Python virtual environment with the tools the tests compare against and
# prints its python path. Usage: scripts/python-tools.sh [VENV_DIR]
set -euo pipefail
venv="${1:-${OPENCOLL_VENV:-$HOME/.cache/opencoll-venv}}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import duckdb" 2>/dev/null; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check duckdb==1.4.4 >&2
fi
echo "$venv/bin/python"
