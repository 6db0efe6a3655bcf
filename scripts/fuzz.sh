#!/usr/bin/env bash
# Coverage-guided fuzzing of the readers and parsers (issue 20), beside the generated-input
# tests of scripts/fuzz-long.sh: libFuzzer (the crate libfuzzer-sys, which builds it with the
# machine's C++ compiler) on the stable toolchain, the coverage instrumentation given to rustc
# as the -C options cargo-fuzz uses, no sanitizer by default (Rust's checks, overflow checks
# and debug assertions are on). Targets: fuzz/fuzz_targets/*.rs.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default 300 s, every target)
#        scripts/fuzz.sh --grow-corpus [SECONDS] [TARGET...]   (grows the committed corpus)
#        OPENCOLL_FUZZ_SANITIZER=address scripts/fuzz.sh ...   (AddressSanitizer; nightly rustc)
#        OPENCOLL_FUZZ_TIMEOUT=120 scripts/fuzz.sh ...   (seconds an input may take, default 30:
#        libFuzzer counts wall-clock time, so a run sharing the cores with builds or tests
#        reports slow inputs that are not; replay them on an idle machine)
#
# Seeds: the committed corpus (fuzz/corpus/TARGET: small inputs that each reached code the
# others did not), the committed samples, the pipelines, and the real files of ../shared when
# present (read from there, never copied into the repo). What a run learns (its corpus) and
# what it finds (crash-*, timeout-*, oom-* inputs, in found/TARGET/) stay in a folder of their
# own, ~/.cache/opencoll-fuzz by default (OPENCOLL_FUZZ_DIR to change it), the build in its
# target/. A crash is replayed with:
#   ~/.cache/opencoll-fuzz/target/x86_64-unknown-linux-gnu/release/TARGET FILE
# (target-asan/ instead of target/ for the AddressSanitizer build).
#
# --grow-corpus: the run is seeded from the repo only (committed corpus, samples, pipelines;
# not ../shared, so that nothing derived from its files lands in the repo), in a corpus
# folder of its own (repo-only/), and each target's corpus is then minimised by libFuzzer's
# set-cover merge (the fewest inputs that reach every edge reached, cut to a few KB) into
# fuzz/corpus/TARGET, which `cargo test` replays (tests/fuzz_corpus.rs). Commit what changed
# there. Workbooks and PDFs are not committed: their inputs are whole files of 8-16 KB, and a
# covering set of them is megabytes (284 workbooks, 2.2 MB, after two minutes of fuzzing).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
grow=0
if [ "${1:-}" = --grow-corpus ]; then
    grow=1
    shift
fi
secs=300
if [[ ${1:-} =~ ^[0-9]+$ ]]; then
    secs=$1
    shift
fi
all=(csv json html xlsx pdf number pipeline)
targets=("${@:-${all[@]}}")
for t in "${targets[@]}"; do
    if [[ ! " ${all[*]} " == *" $t "* ]]; then
        echo "unknown target '$t': one of ${all[*]} (usage: scripts/fuzz.sh [SECONDS] [TARGET...])" >&2
        exit 2
    fi
done
work=${OPENCOLL_FUZZ_DIR:-$HOME/.cache/opencoll-fuzz}
shared=${OPENCOLL_SHARED:-$repo/../shared}
mkdir -p "$work"
# What a run learns and where its seeds and findings go (the build stays in $work).
runs_dir=$work
if [ $grow = 1 ]; then
    runs_dir=$work/repo-only
    shared=/nonexistent
    mkdir -p "$runs_dir"
fi

# The coverage options of cargo-fuzz (its defaults, minus the sanitizer), on stable rustc.
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cforce-frame-pointers"
# Its own target folder: other RUSTFLAGS would otherwise rebuild the workspace's.
export CARGO_TARGET_DIR=$work/target
toolchain=()
sanitizer_options=()
if [ "${OPENCOLL_FUZZ_SANITIZER:-}" = address ]; then
    # AddressSanitizer, as cargo-fuzz builds by default: rustc's -Zsanitizer needs a nightly
    # toolchain (installed by rustup beside stable). It catches what Rust's checks cannot:
    # out-of-bounds and use-after-free in unsafe Rust code, ours and the dependencies'
    # (C code compiled by build scripts, such as zstd, is not instrumented). Leak detection
    # is off: a PDF parse over its time limit is left running on purpose (docs/pdf.md), and
    # memory growth is the -rss_limit_mb check below.
    toolchain=(+nightly)
    export RUSTFLAGS="$RUSTFLAGS -Zsanitizer=address"
    export CARGO_TARGET_DIR=$work/target-asan
    # cargo-fuzz's options, after the user's own
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0:detect_odr_violation=0"
    sanitizer_options=(-detect_leaks=0)
    echo "AddressSanitizer on ($(rustc +nightly -V))"
fi
echo "building the fuzz targets (the first build takes a while)..."
# --target, as cargo-fuzz does: RUSTFLAGS then reach the targets, not the build scripts and
# proc macros (which would need libFuzzer's symbols to link).
host=$(rustc "${toolchain[@]}" -vV | sed -n 's/^host: //p')
bin=$CARGO_TARGET_DIR/$host/release
if ! cargo "${toolchain[@]}" build --release --locked --manifest-path fuzz/Cargo.toml --bins --target "$host" > "$work/build.log" 2>&1; then
    grep -E -A8 "^error" "$work/build.log" | head -40
    echo "the fuzz targets do not build (whole log: $work/build.log)"
    exit 1
fi

# seed DIR PREFIX MAX FILE...: the first MAX bytes of each file, behind a one-byte prefix
# (hex, empty for none: the targets that take their options from the first byte).
seed() {
    local dir=$1 prefix=$2 max=$3
    shift 3
    mkdir -p "$dir"
    for f in "$@"; do
        [ -f "$f" ] || continue
        local name
        name=$(basename "$f")-$prefix
        if [ -n "$prefix" ]; then
            { printf "\\x$prefix"; head -c "$max" "$f"; } > "$dir/$name"
        else
            head -c "$max" "$f" > "$dir/$name"
        fi
    done
}

seeds=$runs_dir/seeds
rm -rf "$seeds"
csvs=(data/samples/dgfip/*.csv data/samples/ofgl/*.csv data/samples/geo/*.csv
      "$shared"/fixtures/real/*/*.csv "$shared"/fixtures/real/insee-cog/*.txt)
# first byte (fuzz_targets/csv.rs: delimiter * 4 + decimal * 2 + encoding): 0 is ';' with a
# decimal comma in UTF-8, 1 the same in windows-1252, 6 ',' with '.' in UTF-8
seed "$seeds/csv" 00 8192 "${csvs[@]}"
seed "$seeds/csv" 01 8192 "${csvs[@]}"
seed "$seeds/csv" 06 8192 "${csvs[@]}"
mkdir -p "$seeds/json"
printf '[{"code": "01001", "montant": "1 234,5", "n": 3, "libelle": "L\\u00e9"}, {"code": 2004}]' > "$seeds/json/array"
printf '{"code": "2A004", "montant": -3.25}\n{"code": "97101", "n": null}\n' > "$seeds/json/lines"
seed "$seeds/json" "" 65536 "$shared"/fixtures/real/insee-cog/decoupage-administratif-6.0.0/regions.json
seed "$seeds/html" "" 262144 "$shared"/fixtures/real/dgfip/html-fiches-alize2/*.html
# a page of the shape of the DGFiP fiches (a declared encoding, spans, a nested table), for
# the runs without ../shared
printf '%s' '<html><head><meta charset="windows-1252"><title>Fiche</title></head><body><table><caption>Comptes</caption><thead><tr><th rowspan="2">code</th><th colspan="2">montant</th></tr><tr><th>n</th><th>libelle</th></tr></thead><tbody><tr><td>01001</td><td>1 234,56</td><td>3</td><td>L&eacute;</td></tr><tr><td colspan="2">2A004</td><td><table><tr><td>x</td></tr></table></td><td>-3,25</td></tr></tbody></table></body></html>' > "$seeds/html/fiche"
seed "$seeds/xlsx" "" 1048576 data/samples/publications/*.xlsx "$shared"/fixtures/real/dgcl/aspic_*.xlsx
seed "$seeds/pdf" "" 1048576 data/samples/publications/*.pdf "$shared"/fixtures/real/dgfip/methodo_*.pdf \
    "$shared"/corpus/pdf-peers/*/*.pdf
mkdir -p "$seeds/number"
i=0
for n in "1 234,56" "(12,5)" "−3,25" "+1.5e3" "12.345.678,9" "1,234,567.89" "0,005" "-0" "1e400"; do
    printf '%b%s' "\\x0$((i % 4))" "$n" > "$seeds/number/$i"
    i=$((i + 1))
done
seed "$seeds/pipeline" "" 16384 pipelines/*/*.yaml

declare -A max_len=([csv]=65536 [json]=65536 [html]=262144 [xlsx]=1048576 [pdf]=1048576
                    [number]=256 [pipeline]=16384)
# The targets with a committed corpus, and the largest input kept there.
declare -A commit_len=([csv]=4096 [json]=4096 [html]=8192 [number]=256 [pipeline]=4096)
status=0
for t in "${targets[@]}"; do
    committed=$repo/fuzz/corpus/$t
    corpus=$runs_dir/corpus/$t
    found=$runs_dir/found/$t
    mkdir -p "$corpus" "$found"
    log=$runs_dir/$t.log
    start=$(date +%s)
    # -timeout: an input that takes longer is a hang (a refresh must never hang on a file);
    # -rss_limit_mb: an input that needs more is a memory bomb.
    set +e
    inputs=("$corpus")
    [ ! -d "$committed" ] || inputs+=("$committed")
    "$bin/$t" "${inputs[@]}" "$seeds/$t" \
        -max_total_time="$secs" -timeout="${OPENCOLL_FUZZ_TIMEOUT:-30}" -rss_limit_mb=4096 -max_len="${max_len[$t]}" \
        -artifact_prefix="$found/" -print_final_stats=1 "${sanitizer_options[@]}" > "$log" 2>&1
    rc=$?
    set -e
    runs=$(grep -a -E "^stat::number_of_executed_units" "$log" | awk '{print $2}' || true)
    cov=$(grep -a -E "^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)" "$log" | tail -1 | grep -o -E "cov: [0-9]+" || true)
    size=$(find "$corpus" -type f | wc -l)
    echo "$t: ${runs:-?} executions in $(($(date +%s) - start)) s, ${cov:-cov: ?} edges, corpus $size inputs, exit $rc"
    if [ $rc -ne 0 ]; then
        status=1
        # the panic that stopped it is the last one (contained ones are printed too)
        { grep -a -E "panicked at" "$log" | tail -1
          grep -a -E "ERROR: libFuzzer|SUMMARY|Test unit written" "$log"; } || true
        echo "  (whole log: $log)"
    fi
    if [ $grow = 1 ] && [ $rc -eq 0 ] && [ -n "${commit_len[$t]:-}" ]; then
        # The committed corpus again, minimised: the fewest inputs of the old one and of this
        # run that reach every edge they reach (hit counts ignored: with them the set is five
        # times larger), cut to commit_len, merged into an empty folder that replaces it.
        merged=$runs_dir/merged/$t
        rm -rf "$merged"
        mkdir -p "$merged" "$committed"
        if "$bin/$t" -set_cover_merge=1 -use_counters=0 -max_len="${commit_len[$t]}" \
            -timeout="${OPENCOLL_FUZZ_TIMEOUT:-30}" \
            "$merged" "$committed" "$corpus" > "$runs_dir/$t.merge.log" 2>&1; then
            rm -rf "$committed"
            mv "$merged" "$committed"
            echo "  fuzz/corpus/$t: $(find "$committed" -type f | wc -l) inputs, $(cat "$committed"/* 2>/dev/null | wc -c) bytes"
        else
            status=1
            echo "  the merge into fuzz/corpus/$t failed (log: $runs_dir/$t.merge.log)"
        fi
    fi
done
exit $status
