#!/usr/bin/env bash
# Creates (once) ~/.cache/opencoll-datasette-venv with the Datasette pinned in
# bench/portal/requirements.txt and prints the path of its `datasette` executable.
# Usage: bench/portal/setup_datasette.sh [VENV_DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${1:-${OPENCOLL_DATASETTE_VENV:-$HOME/.cache/opencoll-datasette-venv}}"
want="$(grep -E '^datasette==' "$here/requirements.txt" | cut -d= -f3)"
if [ ! -x "$venv/bin/datasette" ] || [ "$("$venv/bin/datasette" --version 2>/dev/null | awk '{print $NF}')" != "$want" ]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt" >&2
fi
echo "$venv/bin/datasette"
