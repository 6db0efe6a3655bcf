#!/usr/bin/env python3
"""Builds the SQLite database Datasette serves in the portal benchmark, from a release.

Tables:
  fiche          every row of finances.fiche. Amounts are REAL (float64), not TEXT: Datasette
                 then returns JSON numbers and SQL can sum them without CAST, the way a
                 Datasette publisher would load them (exact to the cent up to ~9e13 euros).
                 Index (niveau, code, exercice) for the fiche and comparison lookups, and
                 (niveau, exercice, population) so the strate statistic is an index range
                 scan rather than a full scan (the fairest setup for Datasette).
  collectivites  one row per collectivité (niveau, code, nom, nom_norm, population) of the
                 latest exercice; nom_norm is the portal's search form of the name (lowercase,
                 accents removed, punctuation -> space, st/ste -> saint/sainte), indexed for
                 prefix search.

Usage: datasette_db.py --release RELEASE_ROOT --out nat.db
"""

import argparse
import json
import os
import sqlite3
import sys
import time
import unicodedata

import duckdb

ABBREV = {"st": "saint", "ste": "sainte", "sts": "saints", "stes": "saintes"}


def normalize(s):
    """Same folding as crates/oc-portal/src/search.rs `normalize`."""
    out = []
    for ch in unicodedata.normalize("NFD", s):
        if unicodedata.category(ch) in ("Mn", "Mc", "Me"):
            continue
        if ch in "œŒ":
            out.append("oe")
        elif ch in "æÆ":
            out.append("ae")
        elif ch.isalnum():
            out.append(ch.lower())
        else:
            out.append(" ")
    return " ".join(ABBREV.get(w, w) for w in "".join(out).split())


def fiche_files(release):
    """finances.fiche's catalog entry and Parquet files in the release latest.json names."""
    with open(os.path.join(release, "latest.json")) as f:
        latest = json.load(f)
    with open(os.path.join(release, latest["catalog"])) as f:
        catalog = json.load(f)
    fiche = next(d for d in catalog["datasets"] if d["name"] == "finances.fiche")
    files = [os.path.join(release, latest["release"], f["path"]) for f in fiche["files"]
             if f["path"].endswith(".parquet")]
    return fiche, files


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--release", required=True, help="release root holding latest.json")
    ap.add_argument("--out", required=True, help="SQLite file to write (replaced)")
    args = ap.parse_args()
    t0 = time.monotonic()

    fiche, files = fiche_files(args.release)
    cols = [(c["name"], c["type"]) for c in fiche["columns"]]

    def sqlite_type(t):
        if t.startswith("Int"):
            return "INTEGER"
        if t.startswith("Decimal") or t.startswith("Float"):
            return "REAL"
        return "TEXT"

    tmp = args.out + ".tmp"
    if os.path.exists(tmp):
        os.remove(tmp)
    db = sqlite3.connect(tmp)
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("CREATE TABLE fiche (" + ", ".join(f"{n} {sqlite_type(t)}" for n, t in cols) + ")")

    duck = duckdb.connect()
    # Decimals cast to DOUBLE inside DuckDB: cheaper than Python Decimal objects.
    select = ", ".join(
        f"CAST({n} AS DOUBLE)" if t.startswith("Decimal") else n for n, t in cols
    )
    duck.execute(f"SELECT {select} FROM read_parquet({files!r}) ORDER BY exercice, niveau, code")
    insert = f"INSERT INTO fiche VALUES ({', '.join('?' * len(cols))})"
    n = 0
    while True:
        rows = duck.fetchmany(50_000)
        if not rows:
            break
        db.executemany(insert, rows)
        n += len(rows)
    db.commit()
    t1 = time.monotonic()
    print(f"fiche: {n:,} rows in {t1 - t0:.1f} s", file=sys.stderr)

    db.execute("CREATE INDEX fiche_niveau_code_exercice ON fiche (niveau, code, exercice)")
    db.execute("CREATE INDEX fiche_niveau_exercice_population ON fiche (niveau, exercice, population)")

    db.execute("""CREATE TABLE collectivites (
        niveau TEXT, code TEXT, nom TEXT, nom_norm TEXT, population INTEGER)""")
    ents = db.execute("""
        SELECT niveau, code, nom, population FROM fiche
        WHERE exercice = (SELECT max(exercice) FROM fiche) ORDER BY niveau, code""").fetchall()
    db.executemany("INSERT INTO collectivites VALUES (?, ?, ?, ?, ?)",
                   [(lv, code, nom, normalize(nom or ""), pop) for lv, code, nom, pop in ents])
    db.execute("CREATE INDEX collectivites_nom_norm ON collectivites (nom_norm)")
    db.commit()
    db.execute("ANALYZE")
    db.commit()
    db.close()
    os.replace(tmp, args.out)
    size = os.path.getsize(args.out)
    print(f"collectivites: {len(ents):,} rows; {args.out}: {size / 2**20:.1f} MiB in "
          f"{time.monotonic() - t0:.1f} s")


if __name__ == "__main__":
    main()
