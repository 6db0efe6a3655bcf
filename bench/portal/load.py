#!/usr/bin/env python3
"""Closed-loop HTTP load generator: N threads, each with its own keep-alive connection, each
sending its next request as soon as the previous answer is read, cycling through a URL list
(shuffled per thread with a fixed seed). Latency is measured client-side around each request,
body included. Every answer must be 200; errors are counted apart and more than 0.1% fails
the run (exit 1).

Prints one JSON line on stdout and a human line on stderr.

Usage: load.py --base http://HOST:PORT --scenario NAME --urls FILE [--clients 8]
               [--duration 30] [--warmup 5] [--pid PID] [--seed 1] [--json-out FILE]
"""

import argparse
import http.client
import json
import math
import random
import sys
import threading
import time
from urllib.parse import urlsplit

MAX_ERROR_RATE = 0.001


def proc_status(pid):
    """VmRSS and VmHWM (kB) of a process, None when it is gone."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(value.split()[0])
    except OSError:
        return None
    return out


def percentile(sorted_values, p):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, math.ceil(p / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


class Client(threading.Thread):
    def __init__(self, idx, host, port, paths, seed, start_at, measure_at, stop_at, timeout):
        super().__init__(daemon=True)
        self.host, self.port, self.timeout = host, port, timeout
        self.paths = list(paths)
        random.Random(seed * 1000 + idx).shuffle(self.paths)
        self.start_at, self.measure_at, self.stop_at = start_at, measure_at, stop_at
        self.latencies = []  # seconds, measured window only
        self.bytes = 0
        self.errors = 0
        self.warmup_requests = 0
        self.examples = []

    def connect(self):
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def run(self):
        conn = self.connect()
        i = 0
        while time.monotonic() < self.start_at:
            time.sleep(0.001)
        while True:
            path = self.paths[i % len(self.paths)]
            i += 1
            t0 = time.perf_counter()
            now = time.monotonic()
            if now >= self.stop_at:
                break
            measured = now >= self.measure_at
            ok, size, what = False, 0, None
            try:
                conn.request("GET", path)
                resp = conn.getresponse()
                body = resp.read()  # the whole body is part of the latency
                size = len(body)
                ok = resp.status == 200
                if not ok:
                    what = f"HTTP {resp.status}"
                if resp.will_close:
                    conn.close()
                    conn = self.connect()
            except (OSError, http.client.HTTPException) as e:
                what = f"{type(e).__name__}: {e}"
                conn.close()
                conn = self.connect()
            dt = time.perf_counter() - t0
            if not measured:
                self.warmup_requests += 1
                continue
            if ok:
                self.latencies.append(dt)
                self.bytes += size
            else:
                self.errors += 1
                if len(self.examples) < 5:
                    self.examples.append(f"{what} on {path}")
        conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="http://HOST:PORT")
    ap.add_argument("--scenario", required=True)
    ap.add_argument("--urls", required=True, help="file of paths, one a line")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--duration", type=float, default=30, help="measured seconds")
    ap.add_argument("--warmup", type=float, default=5, help="seconds run before measuring")
    ap.add_argument("--pid", type=int, help="server process: VmRSS/VmHWM reported at the end")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--json-out", help="append the JSON report to this file too")
    args = ap.parse_args()

    base = urlsplit(args.base)
    if base.scheme != "http" or not base.hostname:
        sys.exit("--base must be http://HOST:PORT")
    prefix = base.path.rstrip("/")
    with open(args.urls) as f:
        paths = [prefix + line.strip() for line in f if line.strip()]
    if not paths:
        sys.exit(f"no URL in {args.urls}")

    start_at = time.monotonic() + 0.2  # every thread starts together
    measure_at = start_at + args.warmup
    stop_at = measure_at + args.duration
    clients = [Client(i, base.hostname, base.port or 80, paths, args.seed, start_at, measure_at,
                      stop_at, args.timeout) for i in range(args.clients)]
    for c in clients:
        c.start()
    for c in clients:
        c.join()
    # The window ends when the last in-flight request finishes, not at stop_at.
    window = max(time.monotonic(), stop_at) - measure_at

    lat = sorted(x for c in clients for x in c.latencies)
    ok = len(lat)
    errors = sum(c.errors for c in clients)
    total = ok + errors
    ms = lambda v: None if v is None else round(v * 1000, 3)  # noqa: E731
    report = {
        "scenario": args.scenario,
        "base": args.base,
        "urls": args.urls,
        "distinct_urls": len(set(paths)),
        "clients": args.clients,
        "warmup_s": args.warmup,
        "duration_s": round(window, 3),
        "requests": total,
        "ok": ok,
        "errors": errors,
        "error_rate": round(errors / total, 6) if total else None,
        "warmup_requests": sum(c.warmup_requests for c in clients),
        "throughput_rps": round(ok / window, 1) if window > 0 else None,
        "p50_ms": ms(percentile(lat, 50)),
        "p95_ms": ms(percentile(lat, 95)),
        "p99_ms": ms(percentile(lat, 99)),
        "max_ms": ms(lat[-1] if lat else None),
        "mean_ms": ms(sum(lat) / ok if ok else None),
        "mean_body_bytes": round(sum(c.bytes for c in clients) / ok) if ok else None,
        "error_examples": [e for c in clients for e in c.examples][:5],
    }
    if args.pid:
        st = proc_status(args.pid)
        report["server_pid"] = args.pid
        report["server_vmrss_kb"] = st.get("VmRSS") if st else None
        report["server_vmhwm_kb"] = st.get("VmHWM") if st else None
    line = json.dumps(report, ensure_ascii=False)
    print(line, flush=True)
    if args.json_out:
        with open(args.json_out, "a") as f:
            f.write(line + "\n")

    mem = ""
    if args.pid and report.get("server_vmrss_kb") is not None:
        mem = (f", server RSS {report['server_vmrss_kb'] / 1024:.0f} MiB "
               f"(peak {report['server_vmhwm_kb'] / 1024:.0f} MiB)")
    print(f"{args.scenario}: {total} requests in {window:.1f} s, {report['throughput_rps']} req/s, "
          f"p50 {report['p50_ms']} ms, p95 {report['p95_ms']} ms, p99 {report['p99_ms']} ms, "
          f"max {report['max_ms']} ms, {errors} errors, {report['mean_body_bytes']} B/answer{mem}",
          file=sys.stderr, flush=True)
    if total == 0:
        print(f"FAIL {args.scenario}: no request completed", file=sys.stderr)
        sys.exit(1)
    if errors / total > MAX_ERROR_RATE:
        print(f"FAIL {args.scenario}: {errors}/{total} errors (> {MAX_ERROR_RATE:.1%}), e.g. "
              + "; ".join(report["error_examples"]), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
