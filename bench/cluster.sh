#!/usr/bin/env bash
# The six queries of bench/queries.py on a Ballista cluster (1 scheduler + 2 executors on this
# machine, one task each) against the local session, on the lake of bench/run.sh SIZE:
#   bench/cluster.sh [SIZE]     (default 20M; run `bench/run.sh SIZE` once first)
# Environment: RUNS (default 3), OPENCOLL_BENCH_DIR (as bench/run.sh), CARGO_TARGET_DIR,
#   BUILD=0 (no cargo build: the binaries already in $CARGO_TARGET_DIR/bench-fast).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
scratch="${OPENCOLL_BENCH_DIR:-$HOME/.cache/opencoll-bench}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/opencoll-target}"
size="${1:-20M}"
project="$scratch/$size/project"
[ -d "$project/lake" ] || { echo "no lake in $project: run bench/run.sh $size first" >&2; exit 1; }
[ "${BUILD:-1}" = 0 ] || (cd "$repo" && cargo build --profile bench-fast --workspace)
echo "machine: $(nproc) cores; lake: $project/lake" >&2
PYTHONDONTWRITEBYTECODE=1 exec python3 "$repo/bench/cluster.py" \
  --opencoll "$CARGO_TARGET_DIR/bench-fast/opencoll" --project "$project" --runs "${RUNS:-3}"
