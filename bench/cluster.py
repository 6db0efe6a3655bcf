"""The six analyst queries of bench/queries.py on a Ballista cluster (1 scheduler, 2 executors,
all `opencoll` processes on this machine) against the local session, on the same lake.

Usage (bench/cluster.sh runs it): cluster.py --opencoll BIN --project DIR [--runs N]
Each executor runs one task at a time: 2 executor tasks, as the local session's 2 cores.
Timings: `opencoll sql --timing` (a fresh process's first query: opening the lake, planning,
running; for the cluster also submitting the job and fetching its results) and the warm median
of `opencoll shell` with `.timer on` (the same session, RUNS runs after one warm-up). The
results of both are compared (CSV, the queries all ORDER BY).
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import ours_time, ours_warm  # noqa: E402
from queries import QUERIES  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def first_query(oc, sql):
    p = subprocess.run(oc + ["sql", "--format", "csv", "--timing", sql],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(oc)}: {p.stderr[-2000:]}")
    return p.stdout, ours_time(p.stdout, p.stderr)


def warm(oc, runs):
    return {name: statistics.median(t["all_s"]) for name, t in ours_warm(oc, runs).items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--opencoll", required=True)
    ap.add_argument("--project", required=True)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    local = [args.opencoll, "--project", args.project]
    sched = free_port()
    procs = [subprocess.Popen([args.opencoll, "scheduler", "--bind", f"127.0.0.1:{sched}"],
                              stderr=subprocess.DEVNULL)]
    work = tempfile.mkdtemp(prefix="oc-executors-")
    try:
        wait_port(sched)
        for i in range(2):
            port = free_port()
            procs.append(subprocess.Popen(
                [args.opencoll, "executor", "--scheduler", f"127.0.0.1:{sched}",
                 "--bind", f"127.0.0.1:{port}", "--work-dir", os.path.join(work, str(i)),
                 "--concurrent-tasks", "1"], stderr=subprocess.DEVNULL))
            wait_port(port)
        cluster = local + ["--engine", f"ballista://127.0.0.1:{sched}"]
        rows = []
        for name, sql in QUERIES.items():
            firsts = {}
            for label, oc in (("local", local), ("cluster", cluster)):
                outs, times = set(), []
                for _ in range(args.runs):
                    out, t = first_query(oc, sql)
                    outs.add(out)
                    times.append(t)
                firsts[label] = (outs, statistics.median(times))
            if firsts["local"][0] != firsts["cluster"][0]:
                raise SystemExit(f"{name}: the cluster's result differs from the local one")
            rows.append((name, firsts["local"][1], firsts["cluster"][1]))
        warm_local, warm_cluster = warm(local, args.runs), warm(cluster, args.runs)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
    print("| query | local first | cluster first | local warm | cluster warm "
          "| cluster − local (warm) | cluster / local (warm) |")
    print("|---|---|---|---|---|---|---|")
    for name, lf, cf in rows:
        lw, cw = warm_local[name], warm_cluster[name]
        print(f"| {name} | {lf:.3f} s | {cf:.3f} s | {lw:.3f} s | {cw:.3f} s "
              f"| {cw - lw:+.3f} s | {cw / lw:.2f}× |")


if __name__ == "__main__":
    main()
