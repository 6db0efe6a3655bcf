"""DuckDB and Polars sides of the benchmark, one process per step (timed from outside).

    python engines.py ingest duckdb|polars CSV_DIR OUT_DIR
    python engines.py query  duckdb|polars PARQUET_DIR POPULATION_PARQUET QUERY_NAME
    python engines.py totals duckdb PARQUET_DIR            (row count and sums, JSON)
    python engines.py population GEO_CSV_GZ OUT_PARQUET      (reference table for query 3)

Both write the same content as our pipeline (bench/project/pipelines/bench/balances.yaml):
codes as strings, amounts as Decimal(18,2), zstd Parquet partitioned by exercice.
"""

import glob
import json
import os
import sys

from queries import AMOUNTS, QUERIES

# Source header → output column, in the pipeline's order (CACTI, SECTEUR, FINESS, CODBUD1 are
# not declared there, so they are not written here either).
COLUMNS = [
    ("EXER", "exercice"), ("IDENT", "ident"), ("NDEPT", "ndept"), ("INSEE", "insee_rang"),
    ("LBUDG", "lbudg"), ("CBUDG", "cbudg"), ("CTYPE", "ctype"), ("CSTYP", "cstyp"),
    ("NOMEN", "nomen"), ("SIREN", "siren"), ("CREGI", "cregi"), ("CATEG", "categ"),
    ("BAL", "bal"), ("FONCTION", "fonction"), ("COMPTE", "compte"),
] + [(a.upper(), a) for a in AMOUNTS]
CODES = [s for s, _ in COLUMNS if s not in {"EXER"} | {a.upper() for a in AMOUNTS}]
ALL_SOURCE = ["EXER", "IDENT", "NDEPT", "LBUDG", "INSEE", "CBUDG", "CTYPE", "CSTYP", "NOMEN",
              "SIREN", "CREGI", "CACTI", "SECTEUR", "FINESS", "CODBUD1", "CATEG", "BAL",
              "FONCTION", "COMPTE"] + [a.upper() for a in AMOUNTS]

# INSEE code from DGFiP's 3-character NDEPT and 3-digit rank (same rule as our
# insee_from_dgfip on this generator's data: 0XX → XX, 10N → 97N).
DUCK_INSEE = ("CASE WHEN NDEPT LIKE '10_' THEN '97' || substr(NDEPT, 3, 1) || substr(INSEE, 2, 2) "
              "ELSE substr(NDEPT, 2, 2) || INSEE END")


def duck_connect(encodings=False):
    import duckdb
    con = duckdb.connect()
    if not encodings:
        return con
    # windows-1252 needs DuckDB's `encodings` extension, shipped on PyPI as duckdb-ext-encodings
    # (no download at run time). Loading it (364 MB of ICU tables) costs ~2.8 s and ~390 MB RSS.
    import duckdb_ext  # noqa: F401  (namespace package holding the extension binaries)
    ext = glob.glob(os.path.join(list(duckdb_ext.__path__)[0], "extensions", "*", "*",
                                 "encodings.duckdb_extension"))[0]
    con.execute(f"LOAD '{ext}'")
    return con


def ingest_duckdb(csv_dir, out):
    con = duck_connect(encodings=True)
    types = {s: "VARCHAR" for s in ALL_SOURCE}
    types["EXER"] = "SMALLINT"
    for a in AMOUNTS:
        types[a.upper()] = "DECIMAL(18,2)"
    cols = ", ".join(
        f"{s} AS {o}" if s != "INSEE" else f"INSEE AS insee_rang, {DUCK_INSEE} AS code_insee"
        for s, o in COLUMNS
    )
    con.execute(f"""
        COPY (SELECT {cols} FROM read_csv('{csv_dir}/*.csv', delim=';', header=true,
                 decimal_separator=',', encoding='CP1252', auto_detect=false,
                 columns={types!r}))
        TO '{out}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (exercice))
    """)


def ingest_polars(csv_dir, out):
    import polars as pl
    schema = {s: pl.String for s in ALL_SOURCE}
    schema["EXER"] = pl.Int16
    for a in AMOUNTS:
        # Exact decimals: read as text, swap the comma, cast (Polars' decimal_comma only
        # applies to floats).
        schema[a.upper()] = pl.String
    frames = []
    for f in sorted(glob.glob(f"{csv_dir}/*.csv")):
        # Polars' reader is UTF-8 only: any other encoding is decoded in Python first, whole
        # file in memory (that is what an analyst gets with encoding="windows-1252").
        frames.append(pl.read_csv(f, separator=";", encoding="windows-1252", schema=schema))
    df = pl.concat(frames)
    insee = (pl.when(pl.col("NDEPT").str.starts_with("10"))
             .then(pl.lit("97") + pl.col("NDEPT").str.slice(2, 1) + pl.col("INSEE").str.slice(1, 2))
             .otherwise(pl.col("NDEPT").str.slice(1, 2) + pl.col("INSEE")))
    exprs = []
    for s, o in COLUMNS:
        if s in {a.upper() for a in AMOUNTS}:
            exprs.append(pl.col(s).str.replace(",", ".", literal=True)
                         .cast(pl.Decimal(18, 2)).alias(o))
        else:
            exprs.append(pl.col(s).alias(o))
        if s == "INSEE":
            exprs.append(insee.alias("code_insee"))
    df = df.select(exprs)
    df.write_parquet(out, compression="zstd", partition_by="exercice")


def duck_tables(con, parquet_dir, population):
    con.execute("CREATE SCHEMA bench")
    con.execute(f"CREATE VIEW bench.balances AS SELECT * FROM read_parquet('{parquet_dir}/**/*.parquet', hive_partitioning=true, hive_types={{'exercice': SMALLINT}})")
    con.execute(f"CREATE VIEW bench.population AS SELECT * FROM read_parquet('{population}')")


def query(engine, parquet_dir, population, name):
    sql = QUERIES[name]
    if engine == "duckdb":
        con = duck_connect()
        duck_tables(con, parquet_dir, population)
        rows = con.execute(sql).fetchall()
    else:
        import polars as pl
        ctx = pl.SQLContext()
        ctx.register("balances", pl.scan_parquet(f"{parquet_dir}/**/*.parquet", hive_partitioning=True))
        ctx.register("population", pl.scan_parquet(population))
        rows = ctx.execute(sql.replace("bench.", ""), eager=True).rows()
    # A digest of the result, so that the three engines can be compared.
    print(json.dumps({"rows": len(rows), "first": [str(v) for v in rows[0]] if rows else None}))


def totals(parquet_dir):
    con = duck_connect()
    sums = ", ".join(f"CAST(sum({a}) AS VARCHAR)" for a in AMOUNTS)
    r = con.execute(f"SELECT count(*), count(DISTINCT code_insee), {sums} FROM read_parquet('{parquet_dir}/**/*.parquet', hive_partitioning=true)").fetchone()
    print(json.dumps([str(v) for v in r]))


def population(geo, out):
    con = duck_connect()
    con.execute(f"""
        COPY (SELECT code, CAST(population AS BIGINT) AS population
              FROM read_csv('{geo}', header=true, all_varchar=true)
              WHERE type = 'commune-actuelle')
        TO '{out}' (FORMAT parquet, COMPRESSION zstd)
    """)


def main(argv):
    cmd = argv[1]
    if cmd == "ingest":
        {"duckdb": ingest_duckdb, "polars": ingest_polars}[argv[2]](argv[3], argv[4])
    elif cmd == "query":
        query(argv[2], argv[3], argv[4], argv[5])
    elif cmd == "totals":
        totals(argv[3])
    elif cmd == "population":
        population(argv[2], argv[3])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
