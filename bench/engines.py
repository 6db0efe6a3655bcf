"""DuckDB and Polars sides of the benchmark (called by bench.py, one process per step).

    python engines.py ingest duckdb|polars CSV_DIR OUT_DIR DUCKDB_ENCODING
    python engines.py query  duckdb|polars BALANCES_DIR POPULATION_DIR QUERY_NAME
    python engines.py bench  duckdb|polars BALANCES_DIR POPULATION_DIR RUNS
    python engines.py totals PARQUET_DIR                  (row count and sums, JSON)

`ingest` writes the same content as our pipeline (bench/project/pipelines/bench/balances.yaml):
codes as strings, amounts as Decimal(18,2), zstd Parquet partitioned by exercice, and prints
{"s": in-process seconds} (after the imports and the connection).

`query` and `bench` read OUR LAKE's Delta tables (BALANCES_DIR, POPULATION_DIR): the Parquet
files active in the table's last version, listed from its `_delta_log`, with the partition
column `exercice` taken from the file paths (hive layout, as Delta writes them). Both print
JSON. Timed in process with time.perf_counter(), around the execution of the query and the
fetch of the whole result as Arrow (DuckDB `con.sql(q).to_arrow_table()`, Polars
`ctx.execute(q).collect()`), after the import, the connection and the view registration:
  - `query`: one run in a fresh process (the engine's first query: "cold in process");
  - `bench`: every query, one warm-up then RUNS runs, in one process ("warm in process").
"""

import glob
import json
import os
import sys
import time
import urllib.parse

from queries import AMOUNTS, QUERIES

# Source header → output column, in the pipeline's order (CACTI, SECTEUR, FINESS, CODBUD1 are
# not declared there, so they are not written here either).
COLUMNS = [
    ("EXER", "exercice"), ("IDENT", "ident"), ("NDEPT", "ndept"), ("INSEE", "insee_rang"),
    ("LBUDG", "lbudg"), ("CBUDG", "cbudg"), ("CTYPE", "ctype"), ("CSTYP", "cstyp"),
    ("NOMEN", "nomen"), ("SIREN", "siren"), ("CREGI", "cregi"), ("CATEG", "categ"),
    ("BAL", "bal"), ("FONCTION", "fonction"), ("COMPTE", "compte"),
] + [(a.upper(), a) for a in AMOUNTS]
ALL_SOURCE = ["EXER", "IDENT", "NDEPT", "LBUDG", "INSEE", "CBUDG", "CTYPE", "CSTYP", "NOMEN",
              "SIREN", "CREGI", "CACTI", "SECTEUR", "FINESS", "CODBUD1", "CATEG", "BAL",
              "FONCTION", "COMPTE"] + [a.upper() for a in AMOUNTS]

# INSEE code from DGFiP's 3-character NDEPT and 3-digit rank (same rule as our
# insee_from_dgfip on this generator's data: 0XX → XX, 10N → 97N).
DUCK_INSEE = ("CASE WHEN NDEPT LIKE '10_' THEN '97' || substr(NDEPT, 3, 1) || substr(INSEE, 2, 2) "
              "ELSE substr(NDEPT, 2, 2) || INSEE END")


def ingest_duckdb(csv_dir, out, encoding):
    """DuckDB's CSV reader decodes UTF-8 and (since 1.3) latin-1 natively; windows-1252 needs
    the `encodings` extension, for which there is no build of DuckDB 2.0 on PyPI. bench.py
    checks that the generated files hold no byte 0x80–0x9F (where windows-1252 and latin-1
    differ) and passes the encoding."""
    import duckdb
    con = duckdb.connect()
    t0 = time.perf_counter()
    types = {s: "VARCHAR" for s in ALL_SOURCE}
    types["EXER"] = "SMALLINT"
    for a in AMOUNTS:
        types[a.upper()] = "DECIMAL(18,2)"
    cols = ", ".join(
        f"{s} AS {o}" if s != "INSEE" else f"INSEE AS insee_rang, {DUCK_INSEE} AS code_insee"
        for s, o in COLUMNS
    )
    # Row order is not part of the result (every query sorts): DuckDB's advice for large
    # COPYs is to drop it.
    con.execute("SET preserve_insertion_order = false")
    con.execute(f"""
        COPY (SELECT {cols} FROM read_csv('{csv_dir}/*.csv', delim=';', header=true,
                 decimal_separator=',', encoding='{encoding}', auto_detect=false,
                 columns={types!r}))
        TO '{out}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (exercice))
    """)
    return time.perf_counter() - t0


def ingest_polars(csv_dir, out, encoding):
    """Polars reads UTF-8 only (anything else is decoded in Python, whole file in memory).
    bench.py passes "utf8" when the generated files are pure ASCII (then UTF-8, latin-1 and
    windows-1252 are the same bytes) and the streaming engine does the whole step;
    otherwise the eager windows-1252 path below."""
    import polars as pl
    t0 = time.perf_counter()
    schema = {s: pl.String for s in ALL_SOURCE}
    schema["EXER"] = pl.Int16
    for a in AMOUNTS:
        schema[a.upper()] = pl.Decimal(18, 2)  # exact, with decimal_comma (Polars ≥ 2.0)
    files = sorted(glob.glob(f"{csv_dir}/*.csv"))
    if encoding == "utf8":
        lf = pl.scan_csv(files, separator=";", schema=schema, decimal_comma=True)
    else:
        lf = pl.concat([pl.read_csv(f, separator=";", encoding=encoding, schema=schema,
                                    decimal_comma=True) for f in files]).lazy()
    insee = (pl.when(pl.col("NDEPT").str.starts_with("10"))
             .then(pl.lit("97") + pl.col("NDEPT").str.slice(2, 1) + pl.col("INSEE").str.slice(1, 2))
             .otherwise(pl.col("NDEPT").str.slice(1, 2) + pl.col("INSEE")))
    exprs = []
    for s, o in COLUMNS:
        exprs.append(pl.col(s).alias(o))
        if s == "INSEE":
            exprs.append(insee.alias("code_insee"))
    lf.select(exprs).sink_parquet(pl.PartitionBy(out, key="exercice", include_key=False),
                                  compression="zstd", maintain_order=False, mkdir=True)
    return time.perf_counter() - t0


def delta_files(table_dir):
    """The Parquet files of the last version of a Delta table (adds minus removes of its JSON
    commits). bench.py refreshes into a fresh lake, so a checkpoint is not expected."""
    log = os.path.join(table_dir, "_delta_log")
    if glob.glob(os.path.join(log, "*.checkpoint*.parquet")):
        raise SystemExit(f"{table_dir}: has a checkpoint; use a fresh lake")
    active = {}
    for commit in sorted(glob.glob(os.path.join(log, "*.json"))):
        with open(commit) as f:
            for line in f:
                a = json.loads(line)
                if "add" in a:
                    active[a["add"]["path"]] = True
                elif "remove" in a:
                    active.pop(a["remove"]["path"], None)
    files = sorted(os.path.join(table_dir, urllib.parse.unquote(p)) for p in active)
    if not files:
        raise SystemExit(f"{table_dir}: no active file")
    return files


class Engine:
    """One engine with the two tables registered; run(sql) executes and fetches the result."""

    def __init__(self, engine, balances_dir, population_dir):
        self.engine = engine
        bal, pop = delta_files(balances_dir), delta_files(population_dir)
        if engine == "duckdb":
            import duckdb
            self.con = duckdb.connect()
            self.con.execute("CREATE SCHEMA bench")
            self.con.execute(
                f"CREATE VIEW bench.balances AS SELECT * FROM read_parquet({bal!r}, "
                "hive_partitioning=true, hive_types={'exercice': SMALLINT})")
            self.con.execute(f"CREATE VIEW bench.population AS SELECT * FROM read_parquet({pop!r})")
        else:
            import polars as pl
            self.ctx = pl.SQLContext()
            self.ctx.register("balances", pl.scan_parquet(
                bal, hive_partitioning=True, hive_schema={"exercice": pl.Int16}))
            self.ctx.register("population", pl.scan_parquet(pop))

    def run(self, sql):
        """Seconds to run sql and fetch its whole result (Arrow), and the result's digest."""
        if self.engine == "duckdb":
            t0 = time.perf_counter()
            table = self.con.sql(sql).to_arrow_table()
            dt = time.perf_counter() - t0
            first = list(table.slice(0, 1).to_pylist()[0].values()) if table.num_rows else None
            n = table.num_rows
        else:
            t0 = time.perf_counter()
            df = self.ctx.execute(sql.replace("bench.", "")).collect()
            dt = time.perf_counter() - t0
            first = list(df.row(0)) if df.height else None
            n = df.height
        # A digest of the result, so that the engines can be compared.
        return dt, {"rows": n, "first": ["" if v is None else str(v) for v in first]
                    if first is not None else None}


def query(engine, balances_dir, population_dir, name):
    e = Engine(engine, balances_dir, population_dir)
    dt, digest = e.run(QUERIES[name])
    print(json.dumps({"s": dt, "digest": digest}))


def bench(engine, balances_dir, population_dir, runs):
    e = Engine(engine, balances_dir, population_dir)
    out = {}
    for name, sql in QUERIES.items():
        first, _ = e.run(sql)  # warm-up
        times = []
        for _ in range(runs):
            dt, digest = e.run(sql)
            times.append(dt)
        out[name] = {"first_s": first, "all_s": times, "digest": digest}
    print(json.dumps(out))


def totals(parquet_dir):
    import duckdb
    con = duckdb.connect()
    sums = ", ".join(f"CAST(sum({a}) AS VARCHAR)" for a in AMOUNTS)
    r = con.execute(f"SELECT count(*), count(DISTINCT code_insee), {sums} FROM read_parquet('{parquet_dir}/**/*.parquet', hive_partitioning=true)").fetchone()
    print(json.dumps([str(v) for v in r]))


def main(argv):
    cmd = argv[1]
    if cmd == "ingest":
        s = {"duckdb": ingest_duckdb, "polars": ingest_polars}[argv[2]](argv[3], argv[4], argv[5])
        print(json.dumps({"s": s}))
    elif cmd == "query":
        query(argv[2], argv[3], argv[4], argv[5])
    elif cmd == "bench":
        bench(argv[2], argv[3], argv[4], int(argv[5]))
    elif cmd == "totals":
        totals(argv[2])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
