#!/usr/bin/env bash
# Creates (once) a Python virtual environment with the engines analysts read the lake with —
# delta-rs's Python bindings (deltalake), Polars, DuckDB with its delta and httpfs (S3)
# extensions, PySpark — and prints its python path. Installs Debian's Java runtime first when
# `java` is missing (PySpark needs it; as root). tests/ecosystem.rs uses it.
# Usage: scripts/ecosystem-tools.sh [VENV_DIR]
#
# DuckDB is 1.5.5, not bench/run.sh's 2.0.1: the delta extension is not part of DuckDB's wheel
# (DuckDB downloads it from extensions.duckdb.org), PyPI's extension packages stop at 1.5.5
# (duckdb-extension-delta 1.5.5, duckdb-ext-delta 1.4.4), and an extension built for 1.5.5
# refuses to load in 2.0.1 ("built specifically for DuckDB version 'v1.5.5'"). The binaries in
# these wheels are DuckDB Labs' own: DuckDB checks their signature when the test loads them.
set -euo pipefail
venv="${1:-${OPENCOLL_ECOSYSTEM_VENV:-$HOME/.cache/opencoll-venv-ecosystem}}"
pins="deltalake==1.6.6 polars==2.1.0 pyarrow==26.0.1 duckdb==1.5.5 duckdb-extension-delta==1.5.5 duckdb-extension-httpfs==1.5.5 pyspark==4.3.0"

# Spark 4 runs on Java 17 or 21: Debian's default JRE (17 on bookworm, 21 on trixie).
if ! command -v java >/dev/null 2>&1; then
  # Parallel tests call the apt installers at once: one installs, the others wait.
  exec 8>/tmp/opencoll-apt-install.lock
  flock 8
  if ! command -v java >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
      echo "java is missing and installing it needs root: apt-get install default-jre-headless" >&2
      exit 1
    fi
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      default-jre-headless >&2
  fi
  exec 8>&-
fi
major="$(java -version 2>&1 | sed -n 's/.* version "\([0-9]*\).*/\1/p' | head -n 1)"
if [ "${major:-0}" -lt 17 ]; then
  echo "PySpark 4 needs Java 17 or later; \`java\` is version ${major:-unknown}: put a newer one first on PATH" >&2
  exit 1
fi

# Tests call this from parallel threads and processes: one installs, the others wait for it.
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "
import importlib.metadata as m, sys
sys.exit(any(m.version(p.split('==')[0]) != p.split('==')[1] for p in '$pins'.split()))" 2>/dev/null; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check $pins >&2
fi
echo "$venv/bin/python"
