#!/usr/bin/env bash
# Adapter: `opencoll pdf tables`-style flags -> crates/oc-pdf/examples/tables.rs (positional),
# to benchmark the library without building the whole CLI:
#   cargo build -p oc-pdf --example tables
#   python3 bench/pdf_cases.py ours CASES OUT -- bench/pdf-example.sh
# --columns and --copy-spans are not supported by the example and are ignored.
f=$1; shift; p=1; s=auto; a=-; o=.
while [ $# -gt 0 ]; do
  case $1 in
    --pages) p=$2; shift 2;; --strategy) s=$2; shift 2;; --area) a=$2; shift 2;;
    --out) o=$2; shift 2;; --columns) shift 2;; *) shift;;
  esac
done
repo=$(cd "$(dirname "$0")/.." && pwd)
exec "${CARGO_TARGET_DIR:-$repo/target}/debug/examples/tables" "$f" "$p" "$s" "$a" "$o"
