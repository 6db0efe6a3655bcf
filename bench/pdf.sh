#!/usr/bin/env bash
# PDF tables benchmark: ours (`opencoll pdf tables`) and camelot-py on every case of the
# pdf-peers corpus, scored by pdf_score.py in the same run. Usage: bench/pdf.sh
# Needs ../shared (or OPENCOLL_SHARED) and python3; camelot goes into a cached venv.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
shared=${OPENCOLL_SHARED:-$repo/../shared}
cases=$shared/corpus/pdf-peers/cases.csv
score=$shared/tools/pdf_score.py
venv=${OPENCOLL_PDF_VENV:-$HOME/.cache/opencoll-pdf-venv}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ ! -x "$venv/bin/python" ] || ! cmp -s "$here/pdf-requirements.txt" "$venv/requirements.txt"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r "$here/pdf-requirements.txt"
  cp "$here/pdf-requirements.txt" "$venv/requirements.txt"
fi

# OPENCOLL_PDF_PROFILE=dev measures a debug build (workspace crates unoptimised). The whole
# workspace in the bench-fast profile, as the other benchmarks: one optimised build serves all.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/opencoll-target}"
profile=${OPENCOLL_PDF_PROFILE:-bench-fast}
(cd "$repo" && cargo build --profile "$profile" -q --workspace)
dir=$profile; [ "$profile" = dev ] && dir=debug
bin=$CARGO_TARGET_DIR/$dir/opencoll

ours=$(python3 "$here/pdf_cases.py" ours "$cases" "$work/ours" -- "$bin" pdf tables)
cam=$("$venv/bin/python" "$here/pdf_cases.py" camelot "$cases" "$work/camelot" 2>/dev/null | tail -1)
python3 "$score" --cases "$cases" --extracted-dir "$work/ours" --json "$work/ours.json" --quiet >/dev/null
python3 "$score" --cases "$cases" --extracted-dir "$work/camelot" --json "$work/camelot.json" --quiet >/dev/null

row() { # name, json, "pages=N seconds=S"
  local f pages secs
  f=$(python3 "$here/pdf_cases.py" summary "$cases" "$2")
  pages=$(sed -E 's/.*pages=([0-9]+).*/\1/' <<<"$3")
  secs=$(sed -E 's/.*seconds=([0-9.]+).*/\1/' <<<"$3")
  printf '%-8s %s s/page=%.3f\n' "$1" "$f" "$(python3 -c "print($secs/$pages)")"
}
echo "aligned cell F1 (pdf_score.py), $(python3 -c "import csv;print(sum(1 for _ in csv.DictReader(open('$cases'))))") expected tables"
row ours "$work/ours.json" "$ours"
row camelot "$work/camelot.json" "$cam"
