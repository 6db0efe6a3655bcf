#!/usr/bin/env python3
"""Writes a national-size SYNTHETIC release for benchmarking the portal.

The geography (ref.communes, ref.departements, ref.regions, ref.epci_membres) is copied as is
from a real release; finances.fiche and finances.agregats are generated for every commune (COM),
EPCI, département and région of the latest COG vintage and every exercice asked for. Figures are
pseudo-random (DuckDB hash() of seed, collectivité, exercice, indicator), so the same arguments
give the same values (and, with the same DuckDB version, the same Parquet bytes).

Usage:
  national_release.py --geo RELEASE_ROOT --out OUT_ROOT [--release NAME]
                      [--exercices 2015-2024] [--seed 1]
"""

import argparse
import datetime as dt
import hashlib
import json
import os
import shutil
import sys
import time

import duckdb

PRODUCER = "SYNTHETIC — bench/portal/national_release.py (figures are random, geography is real)"
GEO_DATASETS = ["ref.communes", "ref.departements", "ref.regions", "ref.epci_membres"]

# Per-inhabitant range of recettes de fonctionnement by level (euros), the scale everything else
# follows; the other amounts are shares of it or their own per-inhabitant ranges.
RF_RANGE = {"COM": (800, 1500), "GFP": (250, 600), "DEP": (900, 1300), "REG": (350, 550)}

# (fiche column, agrégat name as the real finances.agregats spells it); order = fiche order.
FICHE_AGREGATS = [
    ("recettes_fonctionnement", "Recettes de fonctionnement"),
    ("depenses_fonctionnement", "Dépenses de fonctionnement"),
    ("epargne_brute", "Epargne brute"),
    ("epargne_nette", "Epargne nette"),
    ("frais_personnel", "Frais de personnel"),
    ("impots_locaux", "Impôts locaux"),
    ("recettes_investissement", "Recettes d'investissement"),
    ("depenses_investissement", "Dépenses d'investissement"),
    ("depenses_equipement", "Dépenses d'équipement"),
    ("emprunts", "Emprunts hors GAD"),
    ("remboursements_emprunts", "Remboursements d'emprunts hors GAD"),
    ("annuite_dette", "Annuité de la dette"),
    ("encours_dette", "Encours de dette"),
]
# The other agrégats the real release carries (not in the fiche), consistent with the above:
# annuité = remboursements + charges financières, dépenses d'investissement = équipement +
# subventions versées + autres + remboursements, recettes d'investissement = emprunts + FCTVA +
# cessions + autres dotations + autres recettes.
EXTRA_AGREGATS = [
    ("charges_financieres", "Charges financières"),
    ("depenses_investissement_hors_remb", "Dépenses d'investissement hors remb"),
    ("subventions_equipement_versees", "Subventions d'équipement versées"),
    ("autres_depenses_investissement", "Autres dépenses d'investissement"),
    ("recettes_investissement_hors_emprunts", "Recettes d'investissement hors emprunts"),
    ("fctva", "FCTVA"),
    ("cessions", "Produit des cessions d'immobilisations"),
    ("autres_dotations_subventions", "Autres dotations et subventions"),
    ("autres_recettes_investissement", "Autres recettes d'investissement"),
]
ALL_AGREGATS = FICHE_AGREGATS + EXTRA_AGREGATS

AMOUNT_FICHE = "Decimal128(28, 2)"  # the real fiche sums agrégats, hence 28 digits
FICHE_COLUMNS = (
    [
        ("exercice", "Int16", "Fiscal year"),
        ("niveau", "Utf8", "COM (commune), GFP (groupement à fiscalité propre), DEP (département), REG (région, CTU)"),
        ("siren", "Utf8", "SIREN (made up for départements and régions)"),
        ("code", "Utf8", "INSEE code (commune, département, région) or SIREN (groupement)"),
        ("nom", "Utf8", None),
        ("population", "Int64", "COG population (communes), population totale (EPCI), sum of the communes (DEP, REG)"),
    ]
    + [(c, AMOUNT_FICHE, None) for c, _ in FICHE_AGREGATS]
    + [
        ("epargne_brute_par_habitant", "Decimal128(18, 2)", None),
        ("encours_dette_par_habitant", "Decimal128(18, 2)", None),
        ("depenses_equipement_par_habitant", "Decimal128(18, 2)", None),
        ("taux_epargne_brute_pct", "Float64", None),
        ("capacite_desendettement_annees", "Float64", None),
    ]
)
AGREGATS_COLUMNS = [
    ("exercice", "Int16", None),
    ("niveau", "Utf8", "COM (commune), GFP (groupement à fiscalité propre), DEP (département), REG (région, CTU)"),
    ("siren", "Utf8", None),
    ("code", "Utf8", "INSEE code (commune, département, région) or SIREN (groupement)"),
    ("nom", "Utf8", None),
    ("budget", "Utf8", "principal, annexe or consolidé (budget principal + annexes − flux between them)"),
    ("siret_budget", "Utf8", None),
    ("agregat", "Utf8", None),
    ("montant", "Decimal128(18, 2)", "Amount in euros"),
    ("population", "Int64", "Population totale of the collectivité (counted once, not per budget)"),
    ("euros_par_habitant", "Decimal128(18, 2)", "montant / population"),
    ("source", "Utf8", "dgfip (computed from the balances) or ofgl (published)"),
    ("cog_millesime", "Int16", "COG vintage of the codes and populations"),
]
FRICTIONLESS = {"Int16": "integer", "Int64": "integer", "Utf8": "string", "Float64": "number"}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_entry(release_dir, rel):
    p = os.path.join(release_dir, rel)
    return {"bytes": os.path.getsize(p), "path": rel, "sha256": sha256_of(p)}


def parse_exercices(s):
    years = set()
    for part in s.split(","):
        if "-" in part:
            lo, hi = part.split("-")
            years.update(range(int(lo), int(hi) + 1))
        elif part.strip():
            years.add(int(part))
    return sorted(years)


def sql_list(paths):
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def human(n):
    for unit in ["B", "KiB", "MiB", "GiB"]:
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--geo", required=True, help="release root holding latest.json (its geography is copied)")
    ap.add_argument("--out", required=True, help="release root to write (latest.json + NAME/)")
    ap.add_argument("--release", default="national-synthetic", help="release name (default national-synthetic)")
    ap.add_argument("--exercices", default="2015-2024", help="e.g. 2015-2024 or 2023,2024")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="DuckDB threads (default: all cores)")
    args = ap.parse_args()

    t_start = time.monotonic()
    years = parse_exercices(args.exercices)
    name = args.release
    if "/" in name or name in ("", ".", ".."):
        sys.exit(f"bad release name {name!r}")

    with open(os.path.join(args.geo, "latest.json")) as f:
        geo_latest = json.load(f)
    with open(os.path.join(args.geo, geo_latest["catalog"])) as f:
        geo_catalog = json.load(f)
    geo_dir = os.path.join(args.geo, geo_latest["release"])
    geo = {d["name"]: d for d in geo_catalog["datasets"]}
    missing = [n for n in GEO_DATASETS if n not in geo]
    if missing:
        sys.exit(f"the geo release lacks {', '.join(missing)}")

    os.makedirs(args.out, exist_ok=True)
    rel_dir = os.path.join(args.out, name)
    if os.path.exists(rel_dir):
        shutil.rmtree(rel_dir)
    os.makedirs(rel_dir)

    # 1. The geography, byte for byte, with its catalog entries unchanged.
    t = time.monotonic()
    geo_bytes = 0
    for ds in GEO_DATASETS:
        for f in geo[ds]["files"]:
            src, dst = os.path.join(geo_dir, f["path"]), os.path.join(rel_dir, f["path"])
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copyfile(src, dst)
            geo_bytes += f["bytes"]
    log(f"geography copied: {human(geo_bytes)} in {time.monotonic() - t:.1f} s")

    con = duckdb.connect()
    if args.threads:
        con.execute(f"SET threads = {args.threads}")
    con.execute("SET preserve_insertion_order = true")  # ORDER BY decides the bytes written

    def parquet_files(ds):
        return sql_list(
            [os.path.join(rel_dir, f["path"]) for f in geo[ds]["files"] if f["path"].endswith(".parquet")]
        )

    for ds, view in [("ref.communes", "g_communes"), ("ref.departements", "g_dep"),
                     ("ref.regions", "g_reg"), ("ref.epci_membres", "g_epci")]:
        con.execute(
            f"CREATE VIEW {view} AS SELECT * FROM read_parquet({parquet_files(ds)}, hive_partitioning = true)"
        )
    (cog,) = con.execute("SELECT max(CAST(millesime AS INTEGER)) FROM g_communes").fetchone()
    (cog_epci,) = con.execute("SELECT max(CAST(millesime AS INTEGER)) FROM g_epci").fetchone()

    # 2. The collectivités: every COM commune, EPCI, département and région of the latest vintage.
    t = time.monotonic()
    con.execute(f"""
    CREATE TABLE ent AS
    WITH com AS (
      SELECT code, siren, nom, population, departement, region
      FROM g_communes WHERE CAST(millesime AS INTEGER) = {cog} AND type_commune = 'COM'
    )
    SELECT 'COM' AS niveau, siren, code, nom, population FROM com
    UNION ALL
    SELECT 'GFP', siren_epci, siren_epci, min(nom_epci),
           max(population_totale_epci)
    FROM g_epci WHERE CAST(millesime AS INTEGER) = {cog_epci} AND siren_epci IS NOT NULL
    GROUP BY siren_epci
    UNION ALL
    -- SIREN of départements and régions are made up (22xxxxxxx / 23xxxxxxx), deterministic.
    SELECT 'DEP', '22' || lpad(CAST(hash('DEP', d.code) % 10000000 AS VARCHAR), 7, '0'), d.code, d.nom,
           (SELECT sum(population) FROM com WHERE com.departement = d.code)
    FROM g_dep d WHERE CAST(millesime AS INTEGER) = {cog}
    UNION ALL
    SELECT 'REG', '23' || lpad(CAST(hash('REG', r.code) % 10000000 AS VARCHAR), 7, '0'), r.code, r.nom,
           (SELECT sum(population) FROM com WHERE com.region = r.code)
    FROM g_reg r WHERE CAST(millesime AS INTEGER) = {cog}
    """)
    counts = dict(con.execute("SELECT niveau, count(*) FROM ent GROUP BY niveau").fetchall())
    log(f"collectivités: {counts} (COG {cog}, EPCI {cog_epci}) in {time.monotonic() - t:.1f} s")

    # 3. One row per collectivité and exercice with every amount. u(x, k) is uniform in [0, 1):
    # per (collectivité, indicator) when x = 0 (the collectivité's level, stable over years), per
    # (collectivité, exercice, indicator) otherwise (yearly noise).
    seed = int(args.seed)
    con.execute(f"""
    CREATE MACRO u(niveau, code, y, k) AS
      CAST(hash({seed}, niveau, code, y, k) AS DOUBLE) / 18446744073709551616.0
    """)
    con.execute(f"CREATE TABLE years AS SELECT unnest({years!r}) AS exercice")
    rf_case = "CASE e.niveau " + " ".join(
        f"WHEN '{n}' THEN {lo} + {hi - lo} * u(e.niveau, e.code, 0, 'rf')" for n, (lo, hi) in RF_RANGE.items()
    ) + " END"
    y0 = years[0]
    t = time.monotonic()

    def D(expr):
        return f"CAST({expr} AS DECIMAL(18, 2))"

    con.execute(f"""
    CREATE TABLE raw AS
    SELECT e.niveau, e.siren, e.code, e.nom, e.population, CAST(y.exercice AS SMALLINT) AS exercice,
      -- amounts scale with population; one without inhabitants (or unknown) still has a budget
      CASE WHEN e.population > 0 THEN e.population ELSE 10 END AS pa,
      ({rf_case}) * (1 + 0.025 * (y.exercice - {y0})) * (0.95 + 0.10 * u(e.niveau, e.code, y.exercice, 'rf')) AS rf_ph,
      u(e.niveau, e.code, 0, 'nodebt') < 0.05 AS nodebt,
      u(e.niveau, e.code, 0, 'annexe') < 0.35 AS has_annexe,
      y.exercice AS yi
    FROM ent e CROSS JOIN years y
    """)
    con.execute(f"""
    CREATE TABLE amounts AS
    WITH a AS (
      SELECT niveau, siren, code, nom, population, exercice, pa, nodebt, has_annexe,
        {D("pa * rf_ph")} AS rf,
        {D("pa * rf_ph * (0.80 + 0.21 * u(niveau, code, yi, 'df'))")} AS df,
        {D("pa * rf_ph * (0.80 + 0.21 * u(niveau, code, yi, 'df')) * (0.30 + 0.25 * u(niveau, code, 0, 'fp'))")} AS fp,
        -- départements and régions no longer levy the taxes counted as impôts locaux
        CASE WHEN niveau IN ('COM', 'GFP') THEN {D("pa * rf_ph * (0.35 + 0.20 * u(niveau, code, yi, 'il'))")} END AS il,
        CASE WHEN nodebt THEN 0 ELSE {D("pa * (30 + 60 * u(niveau, code, yi, 'remb'))")} END AS remb,
        CASE WHEN nodebt THEN 0 ELSE {D("pa * (3 + 22 * u(niveau, code, yi, 'cf'))")} END AS cf,
        CASE WHEN nodebt THEN 0 ELSE {D("pa * (300 + 1000 * u(niveau, code, 0, 'enc')) * (0.9 + 0.2 * u(niveau, code, yi, 'enc'))")} END AS enc,
        CASE WHEN nodebt OR u(niveau, code, yi, 'emp?') < 0.4 THEN 0
             ELSE {D("pa * 150 * u(niveau, code, yi, 'emp')")} END AS emp,
        {D("pa * (120 + 330 * u(niveau, code, 0, 'de')) * (0.7 + 0.6 * u(niveau, code, yi, 'de'))")} AS de,
        {D("pa * 30 * u(niveau, code, yi, 'sev')")} AS sev,
        {D("pa * 40 * u(niveau, code, yi, 'adi')")} AS adi,
        {D("pa * (15 + 50 * u(niveau, code, yi, 'fctva'))")} AS fctva,
        {D("pa * 20 * u(niveau, code, yi, 'ces')")} AS ces,
        {D("pa * (20 + 100 * u(niveau, code, yi, 'ads'))")} AS ads,
        {D("pa * 15 * u(niveau, code, yi, 'ari')")} AS ari,
        -- budgets annexes: a share added to the principal in OFGL's consolidé
        CASE WHEN has_annexe THEN 0.02 + 0.23 * u(niveau, code, yi, 'annexe') ELSE 0 END AS annexe_share
      FROM raw
    )
    SELECT niveau, siren, code, nom, population, exercice, annexe_share,
      rf AS recettes_fonctionnement,
      df AS depenses_fonctionnement,
      rf - df AS epargne_brute,
      rf - df - remb AS epargne_nette,
      fp AS frais_personnel,
      il AS impots_locaux,
      emp + fctva + ces + ads + ari AS recettes_investissement,
      de + sev + adi + remb AS depenses_investissement,
      de AS depenses_equipement,
      emp AS emprunts,
      remb AS remboursements_emprunts,
      remb + cf AS annuite_dette,
      enc AS encours_dette,
      cf AS charges_financieres,
      de + sev + adi AS depenses_investissement_hors_remb,
      sev AS subventions_equipement_versees,
      adi AS autres_depenses_investissement,
      fctva + ces + ads + ari AS recettes_investissement_hors_emprunts,
      fctva, ces AS cessions, ads AS autres_dotations_subventions, ari AS autres_recettes_investissement
    FROM a
    ORDER BY exercice, niveau, code
    """)
    con.execute("DROP TABLE raw")
    (n_fiche,) = con.execute("SELECT count(*) FROM amounts").fetchone()
    log(f"amounts: {n_fiche:,} collectivité-exercices in {time.monotonic() - t:.1f} s")

    datasets = []

    def write_tableschema(ds_name, columns):
        rel = f"{ds_name}.tableschema.json"
        fields = [{"name": c, "type": FRICTIONLESS.get(ty, "number")} for c, ty, _ in columns]
        with open(os.path.join(rel_dir, rel), "w") as f:
            json.dump({"fields": fields}, f, indent=2, ensure_ascii=False)
            f.write("\n")
        return rel

    def catalog_entry(ds_name, title, description, columns, files, rows):
        schema = write_tableschema(ds_name, columns)
        entries = [file_entry(rel_dir, p) for p in files] + [file_entry(rel_dir, schema)]
        return {
            "columns": [{"doc": doc, "name": c, "type": ty} for c, ty, doc in columns],
            "description": description,
            "files": sorted(entries, key=lambda e: e["path"]),
            "kind": "view",
            "licence": "Licence Ouverte 2.0",
            "name": ds_name,
            "partitioned_by": [],
            "producer": PRODUCER,
            "rows": rows,
            "table_schema": schema,
            "title": title + " (SYNTHETIC)",
            "vintages": {"exercice": [str(y) for y in years]},
        }

    # 4. finances.fiche: one file, sorted by exercice, niveau, code.
    t = time.monotonic()
    os.makedirs(os.path.join(rel_dir, "finances.fiche"))
    fiche_rel = "finances.fiche/part-0.parquet"
    amount_cols = ",\n      ".join(f"CAST({c} AS DECIMAL(28, 2)) AS {c}" for c, _ in FICHE_AGREGATS)
    con.execute(f"""
    COPY (
      SELECT exercice, niveau, siren, code, nom, CAST(population AS BIGINT) AS population,
      {amount_cols},
      -- population 0 or unknown: no per-inhabitant figure (DuckDB would give inf)
      CAST(epargne_brute / NULLIF(population, 0) AS DECIMAL(18, 2)) AS epargne_brute_par_habitant,
      CAST(encours_dette / NULLIF(population, 0) AS DECIMAL(18, 2)) AS encours_dette_par_habitant,
      CAST(depenses_equipement / NULLIF(population, 0) AS DECIMAL(18, 2)) AS depenses_equipement_par_habitant,
      round(CAST(epargne_brute AS DOUBLE) / CAST(recettes_fonctionnement AS DOUBLE) * 100, 2) AS taux_epargne_brute_pct,
      CASE WHEN epargne_brute > 0 THEN round(CAST(encours_dette AS DOUBLE) / CAST(epargne_brute AS DOUBLE), 2) END
        AS capacite_desendettement_annees
      FROM amounts ORDER BY exercice, niveau, code
    ) TO '{os.path.join(rel_dir, fiche_rel)}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)
    """)
    fiche_bytes = os.path.getsize(os.path.join(rel_dir, fiche_rel))
    log(f"finances.fiche: {n_fiche:,} rows, {human(fiche_bytes)} in {time.monotonic() - t:.1f} s")
    datasets.append(("finances.fiche", catalog_entry(
        "finances.fiche",
        "Fiche financière par collectivité et exercice (budget principal)",
        "SYNTHETIC figures for benchmarking (bench/portal/national_release.py, seed "
        f"{seed}): every commune, EPCI, département and région of COG {cog}, random amounts "
        "scaled by population with the identities of the real fiche (épargne brute = recettes − "
        "dépenses de fonctionnement, épargne nette = épargne brute − remboursements, ratios "
        "recomputed from the amounts).\n",
        FICHE_COLUMNS, [fiche_rel], n_fiche)))

    # 5. finances.agregats: long table, one file per exercice (row groups of 1M rows), three
    # variants per amount: dgfip principal (= the fiche), ofgl principal (= the fiche except ~1%
    # off by 1–200 euros), ofgl consolidé (principal + the budgets annexes' share).
    os.makedirs(os.path.join(rel_dir, "finances.agregats"))
    names = ", ".join(f"('{k}', '{v.replace(chr(39), chr(39) * 2)}', {i})" for i, (k, v) in enumerate(ALL_AGREGATS))
    con.execute(f"CREATE TABLE agregat_names AS SELECT * FROM (VALUES {names}) t(k, agregat, ord)")
    unpivot_cols = ", ".join(k for k, _ in ALL_AGREGATS)
    agg_files, n_agg, agg_bytes = [], 0, 0
    for y in years:
        t = time.monotonic()
        rel = f"finances.agregats/part-{y}.parquet"
        con.execute(f"""
        COPY (
          WITH b AS (SELECT * FROM amounts WHERE exercice = {y}),
          -- UNPIVOT drops NULL amounts: no 'Impôts locaux' row for départements and régions
          l AS (UNPIVOT b ON {unpivot_cols} INTO NAME k VALUE m),
          v AS (
            SELECT l.*, n.agregat, n.ord, s.source, s.budget, s.variant
            FROM l JOIN agregat_names n USING (k)
            CROSS JOIN (VALUES ('dgfip', 'principal', 0), ('ofgl', 'principal', 1), ('ofgl', 'consolidé', 2))
              s(source, budget, variant)
          ),
          w AS (
            SELECT *, CAST(CASE variant
              WHEN 0 THEN m
              WHEN 1 THEN CASE WHEN hash({seed}, 'ofgl', code, exercice, k) % 100 = 0
                          THEN m + CAST((1 + hash({seed}, 'ofgl+', code, exercice, k) % 200)
                                        * (CASE WHEN hash({seed}, 'ofgl-', code, exercice, k) % 2 = 0 THEN 1 ELSE -1 END)
                                   AS DECIMAL(18, 2))
                          ELSE m END
              ELSE m + CAST(m * annexe_share AS DECIMAL(18, 2))
            END AS DECIMAL(18, 2)) AS montant
            FROM v
          )
          SELECT CAST(exercice AS SMALLINT) AS exercice, niveau, siren, code, nom, budget,
            -- made-up SIRET of the budget principal (none for the consolidated account)
            CASE WHEN budget = 'principal' THEN siren || '00018' END AS siret_budget,
            agregat, montant, CAST(population AS BIGINT) AS population,
            CAST(montant / NULLIF(population, 0) AS DECIMAL(18, 2)) AS euros_par_habitant,
            source, CAST({cog} AS SMALLINT) AS cog_millesime
          FROM w
          ORDER BY niveau, code, variant, ord
        ) TO '{os.path.join(rel_dir, rel)}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 1000000)
        """)
        (rows,) = con.execute(f"SELECT count(*) FROM read_parquet('{os.path.join(rel_dir, rel)}')").fetchone()
        size = os.path.getsize(os.path.join(rel_dir, rel))
        n_agg += rows
        agg_bytes += size
        agg_files.append(rel)
        log(f"finances.agregats {y}: {rows:,} rows, {human(size)} in {time.monotonic() - t:.1f} s")
    datasets.append(("finances.agregats", catalog_entry(
        "finances.agregats",
        "Agrégats financiers harmonisés des collectivités",
        "SYNTHETIC figures for benchmarking (bench/portal/national_release.py, seed "
        f"{seed}): one long table, source dgfip budget principal (the fiche's amounts), ofgl "
        "principal (equal except ~1% off by a few euros) and ofgl consolidé (principal + a "
        "random budgets annexes share).\n",
        AGREGATS_COLUMNS, agg_files, n_agg)))

    # 6. catalog.json, then latest.json last (a portal polling OUT_ROOT never sees a half release).
    t = time.monotonic()
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    entries = [geo[n] for n in GEO_DATASETS] + [e for _, e in datasets]
    catalog = {"created_at": now, "datasets": entries, "project": geo_catalog.get("project", "open-collectivites"),
               "release": name}
    with open(os.path.join(rel_dir, "catalog.json"), "w") as f:
        json.dump(catalog, f, indent=2, ensure_ascii=False)
        f.write("\n")
    tmp = os.path.join(args.out, "latest.json.tmp")
    with open(tmp, "w") as f:
        json.dump({"catalog": f"{name}/catalog.json", "published_at": now, "release": name}, f, indent=2)
        f.write("\n")
    os.replace(tmp, os.path.join(args.out, "latest.json"))
    log(f"catalog and sha256: {time.monotonic() - t:.1f} s")

    total = geo_bytes + fiche_bytes + agg_bytes
    print(json.dumps({
        "release": name, "out": os.path.abspath(args.out), "cog": cog, "exercices": [years[0], years[-1]],
        "collectivites": counts, "fiche_rows": n_fiche, "fiche_bytes": fiche_bytes,
        "agregats_rows": n_agg, "agregats_bytes": agg_bytes, "total_bytes": total,
        "seconds": round(time.monotonic() - t_start, 1),
    }, ensure_ascii=False))
    print(f"release {name}: fiche {n_fiche:,} rows ({human(fiche_bytes)}), agregats {n_agg:,} rows "
          f"({human(agg_bytes)}), total {human(total)}, {time.monotonic() - t_start:.1f} s")


if __name__ == "__main__":
    main()
