"""Side-by-side benchmark: opencoll vs DuckDB vs Polars on generated DGFiP balances.

Called by bench/run.sh (which builds the binaries and the virtual environment):

    python bench.py --opencoll BIN --oc-gen BIN --repo DIR --scratch DIR --runs N SIZE...

For each SIZE (1M, 5M, 20M, or a row count): generates the balances once (two exercices,
SIZE/2 rows each), ingests them with each tool (opencoll twice: the default layout, and rows
clustered by budget and account with `cluster_by: [cbudg, compte]`; whole-process wall time,
median of N runs after one warm-up; peak RSS from /usr/bin/time), checks that the outputs hold the same rows and sums, runs the six queries of bench/queries.py the same way, prints a Markdown table and writes
it (with the raw figures as JSON) into SCRATCH.
"""

import argparse
import csv
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from queries import AMOUNTS, QUERIES  # noqa: E402

EXERCICES = [2023, 2024]
ENGINES = ["opencoll", "clustered", "duckdb", "polars"]


def parse_size(s):
    s = s.upper()
    mult = {"K": 1_000, "M": 1_000_000}.get(s[-1], 1)
    return int(float(s[:-1] if s[-1] in "KM" else s) * mult)


def timed(cmd, cwd=None, stdout_path=None):
    """Runs cmd under /usr/bin/time; returns (seconds, peak RSS in MiB, stdout)."""
    rss_file = os.path.join(ARGS.scratch, ".rss")
    full = ["/usr/bin/time", "-f", "%M", "-o", rss_file] + cmd
    t0 = time.perf_counter()
    p = subprocess.run(full, cwd=cwd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-3000:])
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}")
    with open(rss_file) as f:
        rss_kb = int(f.read().strip().splitlines()[-1])
    return dt, rss_kb / 1024, p.stdout


def measure(make_cmd, before=None, cwd=None):
    """One warm-up then ARGS.runs runs: median seconds, max peak RSS, last stdout."""
    times, rss, out = [], [], None
    for i in range(ARGS.runs + 1):
        if before:
            before()
        dt, mem, out = timed(make_cmd(), cwd=cwd)
        if i > 0:
            times.append(dt)
            rss.append(mem)
    return {"s": statistics.median(times), "all_s": times, "rss_mib": max(rss)}, out


def generate(rows, data_dir):
    marker = os.path.join(data_dir, ".generated")
    want = f"rows={rows} exercices={EXERCICES}"
    if os.path.exists(marker) and open(marker).read() == want:
        return
    os.makedirs(data_dir, exist_ok=True)
    per_file = rows // len(EXERCICES)
    subprocess.run([ARGS.oc_gen, "balances",
                    "--geo", os.path.join(ARGS.repo, "data/samples/geo/communes_2026.csv.gz"),
                    "--departements", "all", "--exercices", ",".join(map(str, EXERCICES)),
                    "--rows", str(per_file), "--out", data_dir], check=True)
    with open(marker, "w") as f:
        f.write(want)


def norm(v):
    try:
        return f"{float(v):.4f}"
    except (TypeError, ValueError):
        return str(v)


def digest_csv(text):
    rows = list(csv.reader(io.StringIO(text)))[1:]
    return {"rows": len(rows), "first": [norm(v) for v in rows[0]] if rows else None}


def digest_json(text):
    d = json.loads(text.strip().splitlines()[-1])
    if d["first"] is not None:
        d["first"] = [norm(v) for v in d["first"]]
    return d


def run_size(label, rows):
    base = os.path.join(ARGS.scratch, label)
    data = os.path.join(base, "data")
    generate(rows, data)
    csv_bytes = sum(os.path.getsize(os.path.join(data, f)) for f in os.listdir(data)
                    if f.endswith(".csv"))

    # Our projects: the template of bench/project with the generated files linked in, and the
    # same with the balances clustered by budget and account (`cluster_by: [cbudg, compte]`).
    def project(name, cluster):
        proj = os.path.join(base, name)
        shutil.rmtree(proj, ignore_errors=True)
        shutil.copytree(os.path.join(HERE, "project"), proj)
        if cluster:
            path = os.path.join(proj, "pipelines", "bench", "balances.yaml")
            text = open(path).read()
            line = "  partition_by: [exercice]\n"
            assert line in text, "bench/project balances.yaml: partition_by line not found"
            with open(path, "w") as f:
                f.write(text.replace(line, line + "  cluster_by: [cbudg, compte]\n"))
        os.makedirs(os.path.join(proj, "data"))
        for e in EXERCICES:
            os.symlink(os.path.join(data, f"balances_communes_{e}.csv"),
                       os.path.join(proj, "data", f"balances_communes_{e}.csv"))
        shutil.copy(os.path.join(ARGS.repo, "data/samples/geo/communes_2026.csv.gz"),
                    os.path.join(proj, "data"))
        oc = [ARGS.opencoll, "--project", proj]
        subprocess.run(oc + ["refresh", "--full", "bench.population"], check=True,
                       stdout=subprocess.DEVNULL)
        return proj, oc

    proj, oc = project("project", cluster=False)
    proj_c, oc_c = project("project-clustered", cluster=True)
    ours = {"opencoll": oc, "clustered": oc_c}
    population = os.path.join(base, "population.parquet")
    subprocess.run([sys.executable, os.path.join(HERE, "engines.py"), "population",
                    os.path.join(ARGS.repo, "data/samples/geo/communes_2026.csv.gz"), population],
                   check=True)

    py = [sys.executable, os.path.join(HERE, "engines.py")]
    out_dirs = {"opencoll": os.path.join(proj, "lake", "bench", "balances"),
                "clustered": os.path.join(proj_c, "lake", "bench", "balances"),
                "duckdb": os.path.join(base, "duckdb"), "polars": os.path.join(base, "polars")}
    results = {"ingest": {}}

    def clean(engine):
        return lambda: shutil.rmtree(out_dirs[engine], ignore_errors=True)

    for eng, cmd in ours.items():
        print(f"[{label}] ingest: {eng}", file=sys.stderr, flush=True)
        results["ingest"][eng], _ = measure(
            lambda cmd=cmd: cmd + ["refresh", "--full", "bench.balances"], before=clean(eng))
    for eng in ["duckdb", "polars"]:
        print(f"[{label}] ingest: {eng}", file=sys.stderr, flush=True)
        results["ingest"][eng], _ = measure(
            lambda eng=eng: py + ["ingest", eng, data, out_dirs[eng]], before=clean(eng))

    # Same rows and sums in the three outputs.
    sums = ", ".join(f"CAST(sum({a}) AS VARCHAR) AS {a}" for a in AMOUNTS)
    totals = {}
    for eng, cmd in ours.items():
        out = subprocess.run(cmd + ["sql", "--format", "csv",
                                    f"SELECT CAST(count(*) AS VARCHAR) AS n, CAST(count(DISTINCT code_insee) AS VARCHAR) AS c, {sums} FROM bench.balances"],
                             check=True, capture_output=True, text=True).stdout
        totals[eng] = list(csv.reader(io.StringIO(out)))[1]
    for eng in ["duckdb", "polars"]:
        t = subprocess.run(py + ["totals", "duckdb", out_dirs[eng]], check=True,
                           capture_output=True, text=True).stdout
        totals[eng] = json.loads(t)
    same = all(totals[e] == totals["duckdb"] for e in ENGINES)
    results["check"] = {"same_rows_and_sums": same, "totals": totals}
    if not same:
        print(f"[{label}] MISMATCH in rows/sums: {json.dumps(totals)}", file=sys.stderr)
    if int(totals["opencoll"][0]) != rows:
        print(f"[{label}] expected {rows} rows, got {totals['opencoll'][0]}", file=sys.stderr)
        same = False
        results["check"]["same_rows_and_sums"] = False

    # Queries: ours on the lake, DuckDB and Polars on the Parquet DuckDB wrote.
    for name, sql in QUERIES.items():
        results[name] = {}
        print(f"[{label}] {name}", file=sys.stderr, flush=True)
        for eng, cmd in ours.items():
            r, out = measure(lambda sql=sql, cmd=cmd: cmd + ["sql", "--format", "csv", sql])
            r["digest"] = digest_csv(out)
            results[name][eng] = r
        for eng in ["duckdb", "polars"]:
            r, out = measure(lambda eng=eng, name=name: py + [
                "query", eng, out_dirs["duckdb"], population, name])
            r["digest"] = digest_json(out)
            results[name][eng] = r
        d = [results[name][e]["digest"] for e in ENGINES]
        results[name]["same_result"] = all(x == d[0] for x in d)
        if not results[name]["same_result"]:
            print(f"[{label}] {name}: results differ: {d}", file=sys.stderr)

    results["meta"] = {"rows": rows, "csv_bytes": csv_bytes, "runs": ARGS.runs}
    with open(os.path.join(ARGS.scratch, f"results-{label}.json"), "w") as f:
        json.dump(results, f, indent=1)
    return results


def table(label, res):
    m = res["meta"]
    lines = [f"### {label} rows ({m['csv_bytes'] / 1e6:.0f} MB of CSV), median of {m['runs']} runs after a warm-up",
             "",
             "| step | opencoll s | clustered s | DuckDB s | Polars s | ours / best | clustered / best | opencoll RSS MiB | clustered RSS MiB | DuckDB RSS MiB | Polars RSS MiB | same result |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for step, r in res.items():
        if step in ("meta", "check"):
            continue
        best = min(r["duckdb"]["s"], r["polars"]["s"])
        same = res["check"]["same_rows_and_sums"] if step == "ingest" else r["same_result"]
        lines.append(
            f"| {step} | {r['opencoll']['s']:.2f} | {r['clustered']['s']:.2f} | {r['duckdb']['s']:.2f} "
            f"| {r['polars']['s']:.2f} | {r['opencoll']['s'] / best:.2f} | {r['clustered']['s'] / best:.2f} "
            f"| {r['opencoll']['rss_mib']:.0f} | {r['clustered']['rss_mib']:.0f} "
            f"| {r['duckdb']['rss_mib']:.0f} | {r['polars']['rss_mib']:.0f} | {'yes' if same else 'NO'} |")
    return "\n".join(lines)


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--opencoll", required=True)
    ap.add_argument("--oc-gen", dest="oc_gen", required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--scratch", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("sizes", nargs="+")
    ARGS = ap.parse_args()
    os.makedirs(ARGS.scratch, exist_ok=True)
    out = []
    for s in ARGS.sizes:
        res = run_size(s, parse_size(s))
        t = table(s, res)
        print(t + "\n", flush=True)
        out.append(t)
    with open(os.path.join(ARGS.scratch, "results.md"), "w") as f:
        f.write("\n\n".join(out) + "\n")


if __name__ == "__main__":
    main()
