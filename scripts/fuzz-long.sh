#!/usr/bin/env bash
# The long run of the generated-input tests (issue 20). `cargo test` runs each with a few
# hundred cases (proptest's seeds differ at every run; past failures replay from the
# proptest-regressions/ files); this runs the same tests with many more cases and prints the
# time each took. Usage: scripts/fuzz-long.sh [SCALE] (SCALE multiplies the case counts; 1 by
# default, about 5 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-1}
run() {
    local cases=$(($2 * scale)) start end
    start=$(date +%s)
    PROPTEST_CASES=$cases cargo test -q --workspace --lib -- "$1" 2>&1 | grep -E "^test result: .* [1-9][0-9]* passed|FAILED|panicked|minimal failing" || {
        echo "FAILED: $1"; exit 1; }
    end=$(date +%s)
    echo "$1: ${3:-$cases cases per test}, $((end - start)) s"
}
run csv::differential 50000              # CSV reader vs the csv crate (rows, rejects, lines)
run number::tests::properties 200000     # French numbers: round trips, rounding, any text
run mutations 10000                      # mutated real pipelines and arbitrary YAML
run guard_properties 20000               # the read-only guard on both protocols
run robustness 1 "fixed seed"            # damaged files of every format
