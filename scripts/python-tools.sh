#!/usr/bin/env bash
# Creates (once) a Python virtual environment with the tools the tests use — DuckDB (to read
# releases back), moto's S3 server (an S3-compatible store on loopback), openpyxl (workbooks
# written by another tool than ours), psycopg (a Postgres driver, for `opencoll serve`),
# reportlab and fpdf2 (PDFs from other generators than ours, tests/pdf_generators) — and
# prints its python path. Usage: scripts/python-tools.sh [VENV_DIR]
set -euo pipefail
venv="${1:-${OPENCOLL_VENV:-$HOME/.cache/opencoll-venv}}"
# Tests call this from parallel threads and processes: one installs, the others wait for it
# (on a fresh machine two `python3 -m venv` at once failed with "File exists").
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import duckdb, moto.server, openpyxl, psycopg, reportlab, fpdf" 2>/dev/null; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check duckdb==1.4.4 "moto[server]==5.1.18" \
    openpyxl==3.1.5 "psycopg[binary]==3.3.9" reportlab==5.1.0 fpdf2==2.8.9 >&2
fi
echo "$venv/bin/python"
