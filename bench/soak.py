"""Soak: `opencoll serve --schedule` refreshing a table every 2 seconds while clients query it
over Postgres and HTTP (issue 20). Every answer must be one whole committed version (never a
mix of two refreshes), no query may fail, and the server's memory and open files must stay
flat. Prints a JSON summary; exits 1 when a query failed or an answer mixed versions.

    python bench/soak.py --opencoll target/debug/opencoll --duration 600 --clients 32

Needs psycopg (scripts/python-tools.sh installs it). The project is a copy of the repository's
samples (so the views are served too) plus a table `soak.counter` whose CSV is rewritten with
the next value every second; its pipeline is scheduled every 2 seconds.
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import psycopg

ROWS = 20_000
USER, PASSWORD, TOKEN = "soak", "soak-mot-de-passe", "soak-jeton"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COUNTER = "SELECT min(n) AS lo, max(n) AS hi, count(*) AS c FROM soak.counter"
# A view over the samples: its answer never changes, so every answer must equal the first.
STATIC = "SELECT count(*) AS c, sum(population) AS p FROM ref.communes WHERE millesime = 2026"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, log, timeout=120):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            sys.exit(f"opencoll serve exited: {open(log).read()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"port {port} never opened")


def project(root):
    for d in ["pipelines", "sql", "data/samples", "data/reference"]:
        shutil.copytree(os.path.join(REPO, d), os.path.join(root, d))
    with open(os.path.join(REPO, "catalog.yaml")) as f:
        catalog = f.read()
    catalog = catalog.replace("domains:\n", "domains:\n  soak:\n    title: Soak\n", 1)
    with open(os.path.join(root, "catalog.yaml"), "w") as f:
        f.write(catalog)
    os.makedirs(os.path.join(root, "pipelines/soak"), exist_ok=True)
    with open(os.path.join(root, "pipelines/soak/counter.yaml"), "w") as f:
        f.write(
            "name: soak.counter\n"
            'schedule: "*/2 * * * * *"\n'
            'source: { path: "data/soak.csv" }\n'
            "columns:\n"
            "  code: { from: code, type: code }\n"
            "  n: { from: n, type: int64 }\n"
        )
    write_counter(root, 0)


def write_counter(root, value):
    path = os.path.join(root, "data/soak.csv")
    with open(path + ".tmp", "w") as f:
        f.write("code,n\n")
        f.write("".join(f"{i:05},{value}\n" for i in range(ROWS)))
    os.replace(path + ".tmp", path)


def proc_figures(pid):
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss // 1024, fds


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.queries = 0
        self.failed = []
        self.mixed = []
        self.values = set()
        self.static = None
        self.latencies = []

    def answer(self, kind, row, took):
        with self.lock:
            self.queries += 1
            self.latencies.append(took)
            if kind == "counter":
                lo, hi, c = (int(x) for x in row)
                if lo != hi or c != ROWS:
                    self.mixed.append(row)
                else:
                    self.values.add(lo)
            else:
                row = tuple(str(x) for x in row)
                if self.static is None:
                    self.static = row
                elif row != self.static:
                    self.mixed.append(row)

    def fail(self, who, e):
        with self.lock:
            self.failed.append(f"{who}: {e}")


def client(name, ask, stop, tally):
    """Asks queries in a loop (3 of 4 on the refreshed table) until stopped; `ask(sql)` returns
    the first row."""
    n = 0
    while not stop.is_set():
        kind, sql = ("counter", COUNTER) if n % 4 else ("static", STATIC)
        n += 1
        t = time.perf_counter()
        try:
            tally.answer(kind, ask(sql), time.perf_counter() - t)
        except Exception as e:  # every failure counts, whatever its kind
            body = e.read().decode(errors="replace")[:500] if hasattr(e, "read") else ""
            tally.fail(name, f"{e} {body}".strip())
            time.sleep(0.2)


class PgAsker:
    """One psycopg connection, opened again after a failure."""

    def __init__(self, port):
        self.port, self.conn = port, None

    def __call__(self, sql):
        try:
            if self.conn is None:
                self.conn = psycopg.connect(
                    host="127.0.0.1", port=self.port, user=USER, password=PASSWORD,
                    dbname="lake", connect_timeout=10,
                )
                self.conn.autocommit = True
            return self.conn.execute(sql).fetchone()
        except Exception:
            self.conn = None
            raise


def http_ask(port):
    def ask(sql):
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/sql",
            data=sql.encode(),
            headers={"Authorization": f"Bearer {TOKEN}", "Accept": "text/csv",
                     "Content-Type": "text/plain"},
        )
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.read().decode().splitlines()[1].split(",")
    return ask


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--opencoll", required=True)
    ap.add_argument("--duration", type=float, default=600)
    ap.add_argument("--clients", type=int, default=32)
    args = ap.parse_args()

    root = tempfile.mkdtemp(prefix="opencoll-soak-")
    project(root)
    # A first refresh, so that serving starts on a full lake.
    subprocess.run([args.opencoll, "--project", root, "refresh"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pg, http = free_port(), free_port()
    log = os.path.join(root, "serve.log")
    env = dict(os.environ, OPENCOLL_SERVE_USERS=f"{USER}:{PASSWORD}",
               OPENCOLL_SERVE_TOKENS=f"soak:{TOKEN}")
    env.pop("OPENCOLL_LAKE", None)
    server = subprocess.Popen(
        [args.opencoll, "--project", root, "serve", "--schedule", "--reload", "1",
         "--pg", f"127.0.0.1:{pg}", "--http", f"127.0.0.1:{http}"],
        env=env, stdout=subprocess.DEVNULL, stderr=open(log, "w"),
    )
    try:
        wait_port(pg, server, log)
        wait_port(http, server, log)
        stop = threading.Event()
        tally = Tally()

        def writer():
            value = 0
            while not stop.wait(1.0):
                value += 1
                write_counter(root, value)
            return value

        threads = [threading.Thread(target=writer)]
        for i in range(args.clients):
            ask, name = (http_ask(http), f"http client {i}") if i % 2 else (PgAsker(pg), f"pg client {i}")
            threads.append(threading.Thread(target=client, args=(name, ask, stop, tally)))
        started = time.time()
        for t in threads:
            t.start()
        # The baseline is taken once every client is connected and the caches are warm.
        time.sleep(min(30.0, args.duration / 6))
        base = proc_figures(server.pid)
        samples = [base]
        while time.time() - started < args.duration:
            time.sleep(min(5.0, max(0.1, args.duration - (time.time() - started))))
            if server.poll() is not None:
                break
            samples.append(proc_figures(server.pid))
        stop.set()
        for t in threads:
            t.join()
        alive = server.poll() is None
        end = samples[-1]
        runs = subprocess.run(
            [args.opencoll, "--project", root, "sql", "--format", "csv",
             "SELECT status, count(*) FROM _ops.runs WHERE pipeline = 'soak.counter' GROUP BY status"],
            capture_output=True, text=True,
        ).stdout.strip().splitlines()[1:]
        lat = sorted(tally.latencies) or [0.0]
        summary = {
            "duration_s": round(time.time() - started, 1),
            "clients": args.clients,
            "queries": tally.queries,
            "failed": len(tally.failed),
            "failures": tally.failed[:10],
            "mixed": len(tally.mixed),
            "mixed_answers": [list(map(str, m)) for m in tally.mixed[:10]],
            "versions_seen": len(tally.values),
            "refresh_runs": dict(r.split(",") for r in runs),
            "latency_ms": {"p50": round(lat[len(lat) // 2] * 1000, 1),
                           "p99": round(lat[int(len(lat) * 0.99)] * 1000, 1)},
            "rss_mib": {"baseline": base[0], "end": end[0], "max": max(s[0] for s in samples),
                        # one sample a minute (every 5 s are taken): does it level off?
                        "every_minute": [s[0] for s in samples[::12]]},
            "open_fds": {"baseline": base[1], "end": end[1], "max": max(s[1] for s in samples)},
            "server_alive": alive,
        }
        print(json.dumps(summary, indent=2))
        ok = alive and not tally.failed and not tally.mixed and tally.values
        sys.exit(0 if ok else 1)
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
