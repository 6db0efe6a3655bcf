#!/usr/bin/env bash
# A/B of one benchmark query under several environment settings (issue 21): for each run,
# each setting in turn (interleaved, so that the machine's drift hits all alike), the engine
# time `opencoll sql --timing` prints; then the median, min and max per setting.
#   bench/ab.sh OPENCOLL_BIN PROJECT QUERY RUNS "VAR=VALUE ..." "VAR=VALUE ..." ...
# QUERY is a name of bench/queries.py (q1_charges_dep … q6_balance); PROJECT a project made by
# bench/run.sh (~/.cache/opencoll-bench/20M/project, …). "X=1" stands for "no setting";
# "BIN=PATH" runs the binary PATH instead of OPENCOLL_BIN (two builds compared, e.g. with and
# without patches/: bench/ab.sh BIN_A PROJECT q1_charges_dep 7 "BIN=BIN_A" "BIN=BIN_B");
# "PROJ=DIR" queries the project DIR instead of PROJECT (two lakes compared, e.g. written with
# two layouts: bench/ab.sh BIN P q6_balance 9 "PROJ=P" "PROJ=P-lz4").
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin=$1 proj=$2 q=$(python3 "$here/queries.py" "$3") n=$4
shift 4
declare -A times
for _ in $(seq "$n"); do
  for e in "$@"; do
    b=$bin p=$proj
    for w in $e; do
      case $w in BIN=*) b=${w#BIN=} ;; PROJ=*) p=${w#PROJ=} ;; esac
    done
    t=$(env $e "$b" --project "$p" sql --timing --format csv "$q" 2>&1 >/dev/null |
      grep -o "Time: [0-9.]*" | cut -d' ' -f2)
    times[$e]="${times[$e]:-} $t"
  done
done
for e in "$@"; do
  echo "$e: $(echo ${times[$e]} | tr ' ' '\n' | sort -n |
    awk '{a[NR]=$1} END {printf "median %s ms (%d runs, min %s, max %s)", a[int((NR+1)/2)], NR, a[1], a[NR]}')"
done
