#!/usr/bin/env bash
# Spreadsheet benchmark (issue 4): a 200,000 × 15 sheet read into the lake by `opencoll refresh`,
# and, in the same run, by fastexcel and python-calamine (both on calamine) into an Arrow table
# written as zstd Parquet. Prints wall time and peak RSS (median of RUNS runs after a warm-up).
# Usage: bench/xlsx.sh [ROWS] [RUNS]    (defaults 200000 and 3)
set -euo pipefail
cd "$(dirname "$0")/.."
rows="${1:-200000}"
runs="${2:-3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/opencoll-target}"
work="${OPENCOLL_BENCH_DIR:-$HOME/.cache/opencoll-bench}/xlsx"
venv="${OPENCOLL_BENCH_VENV:-$HOME/.cache/opencoll-bench-venv}"
mkdir -p "$work"

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import fastexcel, python_calamine, pyarrow" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    fastexcel==0.21.0 python-calamine==0.9.1 pyarrow==26.0.1
fi
py="$venv/bin/python"

# OPENCOLL_BENCH_PROFILE=dev times the debug build (for a quick look; figures are not comparable).
profile="${OPENCOLL_BENCH_PROFILE:-bench-fast}"
# The whole workspace: building single packages unifies features differently and rebuilds DataFusion.
cargo build --quiet --profile "$profile" --workspace
bin="$CARGO_TARGET_DIR/$([ "$profile" = dev ] && echo debug || echo "$profile")"

book="$work/sheet_${rows}.xlsx"
[ -f "$book" ] || "$bin/oc-gen" sheet --rows "$rows" --out "$book"

proj="$work/project"
rm -rf "$proj" && mkdir -p "$proj/pipelines"
cat > "$proj/catalog.yaml" <<YAML
project: bench
lake: lake
domains: { bench: { title: Benchmark } }
YAML
cat > "$proj/pipelines/sheet.yaml" <<YAML
name: bench.sheet
source: { path: $book, xlsx: { sheet: Comptes } }
columns:
  exercice:   { from: exercice, type: int16 }
  code_insee: { from: code_insee, type: code, width: 5 }
  siren:      { from: siren, type: code, width: 9 }
  nom:        { from: nom }
  compte:     { from: compte, type: code }
  bedeb:      { from: bedeb, type: "decimal(18,2)" }
  becre:      { from: becre, type: "decimal(18,2)" }
  obnetdeb:   { from: obnetdeb, type: "decimal(18,2)" }
  obnetcre:   { from: obnetcre, type: "decimal(18,2)" }
  onbdeb:     { from: onbdeb, type: "decimal(18,2)" }
  onbcre:     { from: onbcre, type: "decimal(18,2)" }
  oobdeb:     { from: oobdeb, type: "decimal(18,2)" }
  oobcre:     { from: oobcre, type: "decimal(18,2)" }
  sd:         { from: sd, type: "decimal(18,2)" }
  sc:         { from: sc, type: "decimal(18,2)" }
YAML

cat > "$work/others.py" <<'PY'
import sys, pyarrow as pa, pyarrow.parquet as pq
tool, book, out = sys.argv[1:4]
if tool == "fastexcel":
    import fastexcel
    table = fastexcel.read_excel(book).load_sheet(0).to_arrow()
    if isinstance(table, pa.RecordBatch):  # fastexcel 0.21 returns one record batch
        table = pa.Table.from_batches([table])
else:
    from python_calamine import CalamineWorkbook
    rows = CalamineWorkbook.from_path(book).get_sheet_by_index(0).to_python()
    head, body = rows[0], rows[1:]
    table = pa.table({h: [r[i] for r in body] for i, h in enumerate(head)})
pq.write_table(table, out, compression="zstd")
print(table.num_rows, file=sys.stderr)
PY

measure() { # name, command… → "seconds maxrss_kb" (median of $runs after one warm-up)
  local name="$1"; shift
  "$@" >/dev/null 2>&1 || { echo "$name failed: $*" >&2; "$@"; exit 1; }
  for _ in $(seq "$runs"); do
    /usr/bin/time -f "%e %M" -o "$work/t" "$@" >/dev/null 2>&1
    cat "$work/t"
  done | sort -n | awk -v n="$runs" 'NR == int((n + 1) / 2) { print }'
}

ours=$(measure opencoll "$bin/opencoll" --project "$proj" refresh --full)
fe=$(measure fastexcel "$py" "$work/others.py" fastexcel "$book" "$work/fastexcel.parquet")
pc=$(measure python-calamine "$py" "$work/others.py" calamine "$book" "$work/calamine.parquet")
got=$("$bin/opencoll" --project "$proj" sql --format csv "SELECT count(*) FROM bench.sheet" | tail -1)
[ "$got" = "$rows" ] || { echo "opencoll wrote $got rows, expected $rows" >&2; exit 1; }

printf '%s rows x 15 columns, %s runs (median), %s\n' "$rows" "$runs" "$(du -h "$book" | cut -f1)"
printf '%-40s %8s %10s\n' tool seconds "peak RSS"
read -r t m <<<"$ours"; printf '%-40s %8s %7d MB\n' "opencoll refresh (into Delta)" "$t" $((m / 1024))
read -r t2 m2 <<<"$fe"; printf '%-40s %8s %7d MB\n' "fastexcel 0.21 → Parquet" "$t2" $((m2 / 1024))
read -r t3 m3 <<<"$pc"; printf '%-40s %8s %7d MB\n' "python-calamine 0.9.1 → Parquet" "$t3" $((m3 / 1024))
awk -v a="$t" -v b="$t2" 'BEGIN { printf "ratio opencoll / fastexcel: %.2f\n", a / b }'
