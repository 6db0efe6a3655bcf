"""Side-by-side benchmark: opencoll vs DuckDB vs Polars on generated DGFiP balances.

Called by bench/run.sh (which builds the binaries and the virtual environment):

    python bench.py --opencoll BIN --oc-gen BIN --repo DIR --scratch DIR --runs N SIZE...

For each SIZE (1M, 5M, 20M, or a row count):
  - generates the balances once (two exercices, SIZE/2 rows each; from 100M rows on, ten
    exercices 2015–2024, the national history) and scans their bytes: the
    encoding each peer is given depends on it (see `encodings`);
  - INGEST, whole process (start, read the CSV, write LZ4 Parquet, exit), median of N runs
    after one warm-up, peak RSS from /usr/bin/time: ours twice (default layout, and
    `cluster_by: [cbudg, compte]`), DuckDB, Polars; the peers also report their in-process
    time (after import and connect). The four outputs must hold the same rows and sums;
  - QUERIES (bench/queries.py), every engine on the same files: OUR LAKE's Parquet files
    (the active files of the Delta tables bench.balances and bench.population, each project
    refreshed once into a fresh lake), for both layouts:
      * engine time, warm: one process per engine, one warm-up then N runs of each query
        (peers: perf_counter around execute + fetch as Arrow; ours: `opencoll shell` with
        `.timer on`, the same span: planning, execution, collect);
      * engine time, first query of a fresh process: ours `opencoll sql --timing` (its
        `Time: … ms`), peers the same span as above; N runs after a warm-up;
      * whole process of those same runs (start, open, query, print, exit) and peak RSS.
    The results (row count and first row) of all engines and layouts must agree.
Prints Markdown tables and writes them (raw figures as JSON) into SCRATCH.
"""

import argparse
import csv
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from engines import delta_files  # noqa: E402
from queries import AMOUNTS, QUERIES  # noqa: E402


def exercices(rows):
    """The exercices generated: two, or from 100M rows on the national history of issue 21
    (ten exercices, 2015–2024, of every commune's balance)."""
    return list(range(2015, 2025)) if rows >= 100_000_000 else [2023, 2024]


LAYOUTS = {"default": "project", "clustered": "project-clustered"}
PEERS = ["duckdb", "polars"]


def parse_size(s):
    s = s.upper()
    mult = {"K": 1_000, "M": 1_000_000}.get(s[-1], 1)
    return int(float(s[:-1] if s[-1] in "KM" else s) * mult)


def timed(cmd, cwd=None, stdin=None):
    """Runs cmd under /usr/bin/time; returns (seconds, peak RSS in MiB, stdout, stderr)."""
    rss_file = os.path.join(ARGS.scratch, ".rss")
    full = ["/usr/bin/time", "-f", "%M", "-o", rss_file] + cmd
    t0 = time.perf_counter()
    p = subprocess.run(full, cwd=cwd, capture_output=True, text=True, input=stdin)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-3000:])
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}")
    with open(rss_file) as f:
        rss_kb = int(f.read().strip().splitlines()[-1])
    return dt, rss_kb / 1024, p.stdout, p.stderr


def measure(make_cmd, before=None, inner=None):
    """One warm-up then ARGS.runs runs: median whole-process seconds, max peak RSS, and with
    inner(stdout, stderr) → seconds, the median in-process time; plus the last stdout."""
    times, rss, ins, out = [], [], [], None
    for i in range(ARGS.runs + 1):
        if before:
            before()
        dt, mem, out, err = timed(make_cmd())
        if i > 0:
            times.append(dt)
            rss.append(mem)
            if inner:
                ins.append(inner(out, err))
    r = {"s": statistics.median(times), "all_s": times, "rss_mib": max(rss)}
    if inner:
        r["in_s"] = statistics.median(ins)
        r["all_in_s"] = ins
    return r, out


def generate(rows, data_dir):
    marker = os.path.join(data_dir, ".generated")
    want = f"rows={rows} exercices={exercices(rows)}"
    if os.path.exists(marker) and open(marker).read() == want:
        return
    os.makedirs(data_dir, exist_ok=True)
    per_file = rows // len(exercices(rows))
    subprocess.run([ARGS.oc_gen, "balances",
                    "--geo", os.path.join(ARGS.repo, "data/samples/geo/communes_2026.csv.gz"),
                    "--departements", "all", "--exercices", ",".join(map(str, exercices(rows))),
                    "--rows", str(per_file), "--out", data_dir], check=True)
    with open(marker, "w") as f:
        f.write(want)


def scan_bytes(files):
    """Counts of bytes ≥ 0x80 and of bytes 0x80–0x9F (where windows-1252 and latin-1 differ)."""
    keep_c1 = bytes(range(0x80)) + bytes(range(0xA0, 0x100))
    non_ascii = c1 = 0
    for path in files:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 26):
                h = chunk.translate(None, bytes(range(0x80)))
                if h:
                    non_ascii += len(h)
                    c1 += len(h.translate(None, keep_c1))
    return {"non_ascii": non_ascii, "c1": c1}


def encodings(scan):
    """The fastest correct encoding of each peer for these bytes. Ours reads the files as the
    pipeline declares them (windows-1252, as the DGFiP publishes them; utf-8 measured the
    same). Pure ASCII is the same text in UTF-8, latin-1 and windows-1252: both peers then
    read UTF-8, their native path (DuckDB 2.0.1 at 1M rows: utf-8 1.12–1.18 s, latin-1
    1.23–1.28 s)."""
    if scan["non_ascii"] == 0:
        return {"duckdb": "utf-8", "polars": "utf8"}
    if scan["c1"]:
        raise SystemExit(
            f"the generated CSV holds {scan['c1']} bytes in 0x80–0x9F: windows-1252 and latin-1 "
            "differ there, and DuckDB 2.0 reads windows-1252 only through its `encodings` "
            "extension (not on PyPI for 2.0)")
    # latin-1 = windows-1252 without 0x80–0x9F: DuckDB decodes it natively; Polars reads only
    # UTF-8 natively, anything else goes through Python's decoder.
    return {"duckdb": "latin-1", "polars": "windows-1252"}


def norm(v):
    try:
        return f"{float(v):.4f}"
    except (TypeError, ValueError):
        return str(v)


def digest_csv(text):
    rows = list(csv.reader(io.StringIO(text)))[1:]
    return {"rows": len(rows), "first": [norm(v) for v in rows[0]] if rows else None}


def norm_digest(d):
    return {"rows": d["rows"], "first": [norm(v) for v in d["first"]] if d["first"] else None}


def ours_time(_out, err):
    m = re.search(r"^Time: ([0-9.]+) ms$", err, re.M)
    if not m:
        raise SystemExit(f"no `Time: … ms` on the stderr of opencoll sql --timing: {err[-500:]}")
    return float(m.group(1)) / 1000


def peer_time(out, _err):
    return json.loads(out.strip().splitlines()[-1])["s"]


def ours_warm(oc, runs):
    """Every query, one warm-up then `runs` runs, in one `opencoll shell` (`.timer on`)."""
    n = runs + 1
    script = ".mode csv\n.timer on\n" + "".join(
        (sql.strip() + ";\n") * n for sql in QUERIES.values()) + "\\q\n"
    p = subprocess.run(oc + ["shell"], input=script, capture_output=True, text=True)
    times = [float(t) / 1000 for t in re.findall(r"Run Time: ([0-9.]+) ms", p.stdout)]
    if p.returncode != 0 or "error" in p.stderr or len(times) != n * len(QUERIES):
        raise SystemExit(f"opencoll shell: exit {p.returncode}, {len(times)} timings, "
                         f"stderr: {p.stderr[-1000:]}")
    return {name: {"first_s": times[i * n], "all_s": times[i * n + 1:(i + 1) * n]}
            for i, name in enumerate(QUERIES)}


def run_size(label, rows):
    base = os.path.join(ARGS.scratch, label)
    data = os.path.join(base, "data")
    generate(rows, data)
    csv_files = sorted(os.path.join(data, f) for f in os.listdir(data) if f.endswith(".csv"))
    csv_bytes = sum(os.path.getsize(f) for f in csv_files)
    scan = scan_bytes(csv_files)
    enc = encodings(scan)
    print(f"[{label}] {csv_bytes} bytes of CSV, {scan['non_ascii']} bytes ≥ 0x80, "
          f"{scan['c1']} in 0x80–0x9F: DuckDB reads {enc['duckdb']}, Polars {enc['polars']}",
          file=sys.stderr, flush=True)

    # Our projects: the template of bench/project with the generated files linked in, and the
    # same with the balances clustered by budget and account (`cluster_by: [cbudg, compte]`).
    # Each is a fresh lake (the folder is recreated).
    def project(name, cluster):
        proj = os.path.join(base, name)
        shutil.rmtree(proj, ignore_errors=True)
        shutil.copytree(os.path.join(HERE, "project"), proj)
        path = os.path.join(proj, "pipelines", "bench", "balances.yaml")
        text = open(path).read()
        line = "  vars: { exercice: [2023, 2024] }\n"
        assert line in text, "bench/project balances.yaml: vars line not found"
        text = text.replace(line, f"  vars: {{ exercice: {exercices(rows)} }}\n")
        with open(path, "w") as f:
            f.write(text)
        if cluster:
            line = "  partition_by: [exercice]\n"
            assert line in text, "bench/project balances.yaml: partition_by line not found"
            with open(path, "w") as f:
                f.write(text.replace(line, line + "  cluster_by: [cbudg, compte]\n"))
        os.makedirs(os.path.join(proj, "data"))
        for e in exercices(rows):
            os.symlink(os.path.join(data, f"balances_communes_{e}.csv"),
                       os.path.join(proj, "data", f"balances_communes_{e}.csv"))
        shutil.copy(os.path.join(ARGS.repo, "data/samples/geo/communes_2026.csv.gz"),
                    os.path.join(proj, "data"))
        oc = [ARGS.opencoll, "--project", proj]
        subprocess.run(oc + ["refresh", "--full", "bench.population"], check=True,
                       stdout=subprocess.DEVNULL)
        return proj, oc

    ours, lakes = {}, {}
    for layout, name in LAYOUTS.items():
        proj, oc = project(name, cluster=layout == "clustered")
        ours[layout] = oc
        lakes[layout] = os.path.join(proj, "lake", "bench")

    py = [sys.executable, os.path.join(HERE, "engines.py")]
    out_dirs = {"duckdb": os.path.join(base, "duckdb"), "polars": os.path.join(base, "polars")}
    results = {"ingest": {}, "queries": {}}

    # Ingest. Ours: `refresh --full` after removing the table (so that its Delta log holds one
    # version and every file in its folder is active).
    for layout, oc in ours.items():
        print(f"[{label}] ingest: opencoll ({layout})", file=sys.stderr, flush=True)
        table = os.path.join(lakes[layout], "balances")
        results["ingest"][f"opencoll-{layout}"], _ = measure(
            lambda oc=oc: oc + ["refresh", "--full", "bench.balances"],
            before=lambda t=table: shutil.rmtree(t, ignore_errors=True))
    for eng in PEERS:
        print(f"[{label}] ingest: {eng}", file=sys.stderr, flush=True)
        results["ingest"][eng], _ = measure(
            lambda eng=eng: py + ["ingest", eng, data, out_dirs[eng], enc[eng]],
            before=lambda d=out_dirs[eng]: shutil.rmtree(d, ignore_errors=True),
            inner=peer_time)

    # Same rows and sums in the four outputs.
    sums = ", ".join(f"CAST(sum({a}) AS VARCHAR) AS {a}" for a in AMOUNTS)
    totals = {}
    for layout, oc in ours.items():
        out = subprocess.run(oc + ["sql", "--format", "csv",
                                   f"SELECT CAST(count(*) AS VARCHAR) AS n, CAST(count(DISTINCT code_insee) AS VARCHAR) AS c, {sums} FROM bench.balances"],
                             check=True, capture_output=True, text=True).stdout
        totals[f"opencoll-{layout}"] = list(csv.reader(io.StringIO(out)))[1]
    for eng in PEERS:
        t = subprocess.run(py + ["totals", out_dirs[eng]], check=True,
                           capture_output=True, text=True).stdout
        totals[eng] = json.loads(t)
    same = all(t == totals["duckdb"] for t in totals.values())
    if not same:
        print(f"[{label}] MISMATCH in rows/sums: {json.dumps(totals)}", file=sys.stderr)
    if int(totals["opencoll-default"][0]) != rows:
        print(f"[{label}] expected {rows} rows, got {totals['opencoll-default'][0]}",
              file=sys.stderr)
        same = False
    results["check"] = {"same_rows_and_sums": same, "totals": totals}

    # Queries: every engine on our lake's files, both layouts.
    for layout, oc in ours.items():
        bal, pop = os.path.join(lakes[layout], "balances"), os.path.join(lakes[layout], "population")
        active = set(delta_files(bal))
        on_disk = {os.path.join(d, f) for d, _, fs in os.walk(bal) if "_delta_log" not in d
                   for f in fs if f.endswith(".parquet")}
        if active != on_disk:
            raise SystemExit(f"{bal}: {len(active)} active files, {len(on_disk)} on disk")
        print(f"[{label}] queries on the {layout} lake ({len(active)} Parquet files)",
              file=sys.stderr, flush=True)
        warm = {"opencoll": ours_warm(oc, ARGS.runs)}
        for eng in PEERS:
            p = subprocess.run(py + ["bench", eng, bal, pop, str(ARGS.runs)], check=True,
                               capture_output=True, text=True)
            warm[eng] = json.loads(p.stdout.strip().splitlines()[-1])
        for name, sql in QUERIES.items():
            print(f"[{label}] {layout} {name}", file=sys.stderr, flush=True)
            r = {}
            r["opencoll"], out = measure(
                lambda sql=sql, oc=oc: oc + ["sql", "--format", "csv", "--timing", sql],
                inner=ours_time)
            r["opencoll"]["digest"] = digest_csv(out)
            for eng in PEERS:
                r[eng], out = measure(lambda eng=eng, name=name: py + [
                    "query", eng, bal, pop, name], inner=peer_time)
                r[eng]["digest"] = norm_digest(json.loads(out.strip().splitlines()[-1])["digest"])
            for eng, w in warm.items():
                r[eng]["warm_s"] = statistics.median(w[name]["all_s"])
                r[eng]["warm_all_s"] = w[name]["all_s"]
                r[eng]["warm_first_s"] = w[name]["first_s"]
                if "digest" in w[name]:
                    r[eng]["warm_digest"] = norm_digest(w[name]["digest"])
            results["queries"].setdefault(name, {})[layout] = r

    # Every engine, layout and run mode returned the same result.
    for name, by_layout in results["queries"].items():
        ds = [d for r in by_layout.values() for e in r.values()
              for d in (e["digest"], e.get("warm_digest", e["digest"]))]
        by_layout["same_result"] = all(d == ds[0] for d in ds)
        if not by_layout["same_result"]:
            print(f"[{label}] {name}: results differ: {ds}", file=sys.stderr)

    import duckdb
    import polars
    results["meta"] = {"rows": rows, "csv_bytes": csv_bytes, "runs": ARGS.runs, "scan": scan,
                       "encodings": enc, "duckdb": duckdb.__version__,
                       "polars": polars.__version__, "cores": os.cpu_count(),
                       "date": time.strftime("%Y-%m-%d")}
    with open(os.path.join(ARGS.scratch, f"results-{label}.json"), "w") as f:
        json.dump(results, f, indent=1)
    return results


def table(label, res):
    m = res["meta"]
    ing = res["ingest"]
    best = min(ing["duckdb"]["s"], ing["polars"]["s"])
    same = "yes" if res["check"]["same_rows_and_sums"] else "NO"
    lines = [
        f"### {label} rows ({m['csv_bytes'] / 1e6:.0f} MB of CSV; {m['scan']['non_ascii']} bytes "
        f"≥ 0x80), median of {m['runs']} runs after a warm-up",
        "",
        "Ingest, whole process (start, read the CSV, write LZ4 Parquet, exit):",
        "",
        "| tool | whole process s | in process s | / best peer | peak RSS MiB | same rows and sums |",
        "|---|---:|---:|---:|---:|---|"]
    names = {"opencoll-default": "opencoll refresh (windows-1252), default layout",
             "opencoll-clustered": "opencoll refresh (windows-1252), `cluster_by: [cbudg, compte]`",
             "duckdb": f"DuckDB {m['duckdb']} (`encoding='{m['encodings']['duckdb']}'`)",
             "polars": f"Polars {m['polars']} (`encoding=\"{m['encodings']['polars']}\"`"
                       + (", streaming)" if m["encodings"]["polars"] == "utf8" else ")")}
    for k, r in ing.items():
        inner = f"{r['in_s']:.2f}" if "in_s" in r else "–"
        lines.append(f"| {names[k]} | {r['s']:.2f} | {inner} | {r['s'] / best:.2f} "
                     f"| {r['rss_mib']:.0f} | {same} |")
    lines += [
        "",
        "Queries, engine time in seconds (planning, execution, result fetched; no start-up, no "
        "printing). *warm*: median of the runs after a warm-up in one process; *first*: the "
        "first query of a fresh process (ours: `opencoll sql --timing`):",
        "",
        "| query | layout | ours first (`sql --timing`) | DuckDB warm | Polars warm "
        "| **ours first / DuckDB warm** | ours warm (shell) | ours warm / DuckDB warm "
        "| DuckDB first | Polars first | ours first / DuckDB first | same result |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name, by_layout in res["queries"].items():
        for layout in LAYOUTS:
            r = by_layout[layout]
            o, d, p = r["opencoll"], r["duckdb"], r["polars"]
            lines.append(
                f"| {name} | {layout} | {o['in_s']:.3f} | {d['warm_s']:.3f} | {p['warm_s']:.3f} "
                f"| **{o['in_s'] / d['warm_s']:.2f}** | {o['warm_s']:.3f} "
                f"| {o['warm_s'] / d['warm_s']:.2f} | {d['in_s']:.3f} | {p['in_s']:.3f} "
                f"| {o['in_s'] / d['in_s']:.2f} | {'yes' if by_layout['same_result'] else 'NO'} |")
    lines += [
        "",
        "Queries, whole process (start, open, query, print, exit; peers: a Python process "
        "importing the engine), seconds and peak RSS:",
        "",
        "| query | layout | ours s | DuckDB s | Polars s | ours / DuckDB | ours MiB "
        "| DuckDB MiB | Polars MiB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, by_layout in res["queries"].items():
        for layout in LAYOUTS:
            r = by_layout[layout]
            o, d, p = r["opencoll"], r["duckdb"], r["polars"]
            lines.append(
                f"| {name} | {layout} | {o['s']:.2f} | {d['s']:.2f} | {p['s']:.2f} "
                f"| {o['s'] / d['s']:.2f} | {o['rss_mib']:.0f} | {d['rss_mib']:.0f} "
                f"| {p['rss_mib']:.0f} |")
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
