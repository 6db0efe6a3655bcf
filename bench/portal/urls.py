#!/usr/bin/env python3
"""Writes the URL lists of the portal benchmark, for our portal and for Datasette (database
`nat` built by datasette_db.py), the same collectivités in the same order in both.

  ours                 datasette
  fiche.txt            ds_fiche.txt      90% communes, 6% groupements, 3% départements, 1% régions
  suggest.txt          ds_suggest.txt    prefixes (3-8 chars) of real commune names
  compare.txt          ds_compare.txt    4 communes side by side
  aggregate.txt        ds_aggregate.txt  strate statistic of a commune population band and year

Usage: urls.py --release RELEASE_ROOT --out DIR [--n 2000] [--seed 1]
"""

import argparse
import os
import random
import sys
from urllib.parse import quote, urlencode

import duckdb

sys.dont_write_bytecode = True  # no __pycache__ in the repo
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from datasette_db import fiche_files, normalize  # noqa: E402  (the portal's name folding)

SLUG = {"COM": "commune", "GFP": "groupement", "DEP": "departement", "REG": "region"}
MIX = [("COM", 0.90), ("GFP", 0.06), ("DEP", 0.03), ("REG", 0.01)]
# Lower bounds of the DGFiP's 11 commune bands (crates/oc-portal/src/strate.rs).
BANDS = [0, 100, 200, 500, 2000, 3500, 5000, 10000, 20000, 50000, 100000]
NO_UPPER = 10**12

# Datasette's best equivalent of our suggestions: a range on the indexed nom_norm (names are
# [a-z0-9 ] after folding, '~' sorts after them), largest first.
SUGGEST_SQL = ("select niveau, code, nom, population from collectivites "
               "where nom_norm >= :q and nom_norm < :q || '~' "
               "order by population desc limit 10")
# Our strate page's headline figures (default indicator: épargne brute): members and the
# strate's mean = total / total population.
STRATE_SQL = ("select count(*) as membres, sum(epargne_brute) / sum(population) as moyenne "
              "from fiche where niveau = 'COM' and exercice = :exercice "
              "and population >= :lo and population < :hi and population > 0")


def ds_table(params):
    return "/nat/fiche.json?" + urlencode(params, safe=",")


def ds_sql(sql, **params):
    return "/nat.json?" + urlencode({"_shape": "array", "sql": sql, **params})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--release", required=True, help="release root holding latest.json")
    ap.add_argument("--out", required=True, help="folder for the *.txt lists")
    ap.add_argument("--n", type=int, default=2000, help="URLs per list")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    _, files = fiche_files(args.release)
    con = duckdb.connect()
    con.execute(f"CREATE VIEW fiche AS SELECT * FROM read_parquet({files!r})")
    years = [y for (y,) in con.execute("SELECT DISTINCT exercice FROM fiche ORDER BY 1").fetchall()]
    ents = {lv: [] for lv in SLUG}
    for lv, code, nom in con.execute(
            "SELECT DISTINCT niveau, code, nom FROM fiche WHERE exercice = ? ORDER BY niveau, code",
            [years[-1]]).fetchall():
        if lv in ents:
            ents[lv].append((code, nom))

    rng = random.Random(args.seed)
    lists = {k: [] for k in ["fiche", "ds_fiche", "suggest", "ds_suggest", "compare", "ds_compare",
                             "aggregate", "ds_aggregate"]}

    for _ in range(args.n):
        r, acc, lv = rng.random(), 0.0, "COM"
        for level, share in MIX:
            acc += share
            if r < acc:
                lv = level
                break
        code, _nom = rng.choice(ents[lv])
        lists["fiche"].append(f"/{SLUG[lv]}/{quote(code)}")
        # a groupement's code is its SIREN in the release, so the same filter serves all levels
        lists["ds_fiche"].append(ds_table({"_shape": "array", "niveau": lv, "code": code}))

    communes = ents["COM"]
    while len(lists["suggest"]) < args.n:
        _code, nom = rng.choice(communes)
        prefix = nom[: rng.randint(3, 8)].lower().rstrip(" -'’")
        q = normalize(prefix)
        if len(q) < 3:
            continue
        lists["suggest"].append("/api/suggestions?q=" + quote(prefix, safe=""))
        lists["ds_suggest"].append(ds_sql(SUGGEST_SQL, q=q))

    for _ in range(args.n):
        codes = [c for c, _ in rng.sample(communes, 4)]
        lists["compare"].append("/comparer?ids=" + ",".join(f"commune:{c}" for c in codes))
        lists["ds_compare"].append(ds_table({"_shape": "array", "niveau": "COM", "code__in": ",".join(codes)}))

    for _ in range(args.n):
        band, year = rng.randint(1, len(BANDS)), rng.choice(years)
        lo = BANDS[band - 1]
        hi = BANDS[band] if band < len(BANDS) else NO_UPPER
        lists["aggregate"].append(f"/strate/commune/{band}?exercice={year}")
        lists["ds_aggregate"].append(ds_sql(STRATE_SQL, exercice=year, lo=lo, hi=hi))

    os.makedirs(args.out, exist_ok=True)
    for name, urls in lists.items():
        with open(os.path.join(args.out, f"{name}.txt"), "w") as f:
            f.write("\n".join(urls) + "\n")
    print(f"{len(lists)} lists of {args.n} URLs in {args.out} (exercices {years[0]}-{years[-1]}, "
          f"{sum(len(v) for v in ents.values()):,} collectivités)")


if __name__ == "__main__":
    main()
