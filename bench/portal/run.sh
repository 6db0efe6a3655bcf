#!/usr/bin/env bash
# Portal benchmark, end to end: our portal (OPENCOLL_BIN portal) vs Datasette on the same
# national-size synthetic release, closed-loop load from load.py, Markdown table at the end.
#
# Usage: bench/portal/run.sh OPENCOLL_BIN
# Environment (defaults): OC_NATIONAL=/tmp/oc-national (release, generated if absent),
#   OC_GEO=<repo>/data/published (geography copied into it), OC_WORK=/tmp/oc-portal-bench
#   (nat.db, URL lists, logs, results.jsonl), CLIENTS=8 DURATION=30 WARMUP=5 N_URLS=2000,
#   PORT_OURS=8091 PORT_DS=8092, START_TIMEOUT=600 (seconds to wait for our /sante).
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 OPENCOLL_BIN" >&2; exit 2; }
bin="$(realpath "$1")"
[ -x "$bin" ] || { echo "$bin is not executable" >&2; exit 2; }
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
nat="${OC_NATIONAL:-/tmp/oc-national}"
geo="${OC_GEO:-$repo/data/published}"
work="${OC_WORK:-/tmp/oc-portal-bench}"
clients="${CLIENTS:-8}" duration="${DURATION:-30}" warmup="${WARMUP:-5}" n_urls="${N_URLS:-2000}"
port_ours="${PORT_OURS:-8091}" port_ds="${PORT_DS:-8092}"
start_timeout="${START_TIMEOUT:-600}"
mkdir -p "$work"
results="$work/results.jsonl"
: > "$results"

py="$(bash "$repo/scripts/python-tools.sh")"   # has duckdb
datasette="$(bash "$here/setup_datasette.sh")"

server_pid=""
stop_server() {
  # Only the server this script started, by its pid; SIGKILL if it ignores SIGTERM.
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  server_pid=""
}
trap stop_server EXIT

port_free() {
  if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$1/"; then
    echo "port $1 already answers: stop what listens there first" >&2
    exit 1
  fi
}

now() { date +%s.%N; }

# 1. Data: release (once), SQLite for Datasette and URL lists (again when the release changed).
if [ ! -f "$nat/latest.json" ]; then
  echo "== generating the national release into $nat" >&2
  "$py" "$here/national_release.py" --geo "$geo" --out "$nat"
fi
if [ ! -f "$work/nat.db" ] || [ "$nat/latest.json" -nt "$work/nat.db" ]; then
  echo "== building $work/nat.db" >&2
  "$py" "$here/datasette_db.py" --release "$nat" --out "$work/nat.db"
  rm -f "$work/inspect.json"
fi
if [ ! -f "$work/inspect.json" ]; then
  # Table counts computed once, not at each Datasette start (its docs' advice for immutable DBs).
  (cd "$work" && "$datasette" inspect nat.db --inspect-file inspect.json)
fi
"$py" "$here/urls.py" --release "$nat" --out "$work/urls" --n "$n_urls" >&2

load() {  # load SCENARIO BASE URLFILE PID
  "$py" "$here/load.py" --base "$2" --scenario "$1" --urls "$3" --clients "$clients" \
    --duration "$duration" --warmup "$warmup" --pid "$4" --json-out "$results" > /dev/null
}

# 2. Our portal: whole-process start-up (release loaded, first 200 on /sante), then the load.
port_free "$port_ours"
echo "== our portal: $bin portal --release $nat" >&2
t0="$(now)"
"$bin" portal --release "$nat" --http "127.0.0.1:$port_ours" --poll 3600 > "$work/portal.log" 2>&1 &
server_pid=$!
until curl -sf -o /dev/null "http://127.0.0.1:$port_ours/sante"; do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "the portal exited:" >&2; tail -20 "$work/portal.log" >&2; exit 1
  fi
  if awk -v a="$(now)" -v b="$t0" -v l="$start_timeout" 'BEGIN { exit !(a - b > l) }'; then
    echo "the portal did not answer /sante within ${start_timeout}s" >&2; exit 1
  fi
  sleep 0.1
done
t1="$(now)"
startup="$(awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.1f", a - b }')"
startup_rss="$(awk '/VmRSS/ { print $2 }' "/proc/$server_pid/status")"
echo "{\"server\": \"ours\", \"startup_s\": $startup, \"startup_vmrss_kb\": $startup_rss, \"bin\": \"$bin\"}" >> "$results"
echo "our portal answered /sante after ${startup}s (RSS $((startup_rss / 1024)) MiB)" >&2
for s in fiche suggest compare aggregate; do
  load "$s" "http://127.0.0.1:$port_ours" "$work/urls/$s.txt" "$server_pid"
done
stop_server

# 3. Datasette, read-only: --immutable (no locking, counts cached), the counts of `datasette
# inspect`, facet suggestions off, one SQL thread per core. Its start-up is not measured.
port_free "$port_ds"
echo "== datasette $("$datasette" --version | awk '{print $NF}')" >&2
(cd "$work" && exec "$datasette" serve --immutable nat.db --inspect-file inspect.json \
  -p "$port_ds" --setting sql_time_limit_ms 10000 --setting num_sql_threads 2 \
  --setting suggest_facets off > "$work/datasette.log" 2>&1) &
server_pid=$!
for _ in $(seq 600); do
  curl -sf -o /dev/null "http://127.0.0.1:$port_ds/-/versions.json" && break
  kill -0 "$server_pid" 2>/dev/null || { tail -20 "$work/datasette.log" >&2; exit 1; }
  sleep 0.1
done
for s in fiche suggest compare aggregate; do
  load "ds_$s" "http://127.0.0.1:$port_ds" "$work/urls/ds_$s.txt" "$server_pid"
done
stop_server

# 4. The table.
"$py" - "$results" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
start = next(r for r in rows if r.get("server") == "ours")
by = {r["scenario"]: r for r in rows if "scenario" in r}
f = lambda r: f"{r['p50_ms']:.1f} / {r['p95_ms']:.1f} / {r['p99_ms']:.1f}"
mib = lambda kb: f"{kb / 1024:.0f}" if kb else "?"
print(f"\nWhole-process start-up of our portal (launch to first 200 on /sante, release loaded): "
      f"**{start['startup_s']} s**, RSS then {mib(start['startup_vmrss_kb'])} MiB ({start['bin']})\n")
print("| scenario | ours p50 / p95 / p99 (ms) | ours req/s | Datasette p50 / p95 / p99 (ms) | "
      "Datasette req/s | p95 ours / Datasette | our RSS (peak), MiB | Datasette RSS (peak), MiB |")
print("|---|---|---|---|---|---|---|---|")
for s in ["fiche", "suggest", "compare", "aggregate"]:
    o, d = by.get(s), by.get("ds_" + s)
    if not o or not d:
        continue
    print(f"| {s} | {f(o)} | {o['throughput_rps']:.0f} | {f(d)} | {d['throughput_rps']:.0f} | "
          f"{o['p95_ms'] / d['p95_ms']:.2f} | {mib(o['server_vmrss_kb'])} ({mib(o['server_vmhwm_kb'])}) | "
          f"{mib(d['server_vmrss_kb'])} ({mib(d['server_vmhwm_kb'])}) |")
c = next(iter(by.values()))
print(f"\n{c['clients']} closed-loop clients (load.py, client on the same machine), "
      f"{c['warmup_s']:g} s warm-up then ~{round(c['duration_s'])} s measured per scenario; "
      f"latency client-side incl. body. Raw results: {sys.argv[1]}")
EOF
