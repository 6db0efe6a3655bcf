#!/usr/bin/env bash
# One command for the side-by-side benchmark of issues 7 and 21 (see bench/README.md):
#   bench/run.sh [SIZE...]      sizes: 1M 5M 20M or a row count (default: 1M 5M)
# Environment: RUNS (timed runs per step after one warm-up, default 3),
#   OPENCOLL_BENCH_DIR (scratch: data, lakes, venv; default ~/.cache/opencoll-bench),
#   CARGO_TARGET_DIR (default ~/.cache/opencoll-target, as .ci/run), BUILD=0 (no cargo build:
#   the binaries already in $CARGO_TARGET_DIR/bench-fast).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
scratch="${OPENCOLL_BENCH_DIR:-$HOME/.cache/opencoll-bench}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/opencoll-target}"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1M 5M)
mkdir -p "$scratch"

# Pinned peers, at their newest PyPI versions: DuckDB (it reads latin-1 natively; its
# `encodings` extension, for windows-1252, has no PyPI build for 2.0 and is not used), Polars,
# and pyarrow (DuckDB hands its results over as Arrow tables).
venv="$scratch/venv"
pins="duckdb==2.0.1 polars==2.2.0 pyarrow==26.0.1"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "
import importlib.metadata as m, sys
sys.exit(any(m.version(p.split('==')[0]) != p.split('==')[1] for p in '$pins'.split()))" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check $pins
fi

# The release-style profile of Cargo.toml (bench-fast: no LTO, incremental). The whole
# workspace, as bench/xlsx.sh and bench/pdf.sh: building single packages unifies features
# differently and rebuilds DataFusion.
# BUILD=0 skips it and takes the binaries already in $CARGO_TARGET_DIR/bench-fast.
[ "${BUILD:-1}" = 0 ] || (cd "$repo" && cargo build --profile bench-fast --workspace)
bin="$CARGO_TARGET_DIR/bench-fast"

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" >&2
PYTHONDONTWRITEBYTECODE=1 exec "$venv/bin/python" "$repo/bench/bench.py" --opencoll "$bin/opencoll" --oc-gen "$bin/oc-gen" \
  --repo "$repo" --scratch "$scratch" --runs "${RUNS:-3}" "${sizes[@]}"
