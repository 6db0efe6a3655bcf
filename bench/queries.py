"""The six queries of issue 7, in SQL that DataFusion, DuckDB and Polars all accept.

Tables: bench.balances (the ingested balances, partitioned by exercice) and bench.population
(code, population of the communes, COG 2026). `python queries.py NAME` prints one query.
"""

import sys

AMOUNTS = ["bedeb", "becre", "obnetdeb", "obnetcre", "onbdeb", "onbcre", "oobdeb", "oobcre",
           "sd", "sc"]

# The generator writes exercices 2023 and 2024; "the last exercice" is a literal so that every
# engine can prune partitions from the plan.
LAST = 2024

QUERIES = {
    # (1) Charges (class 6, net debit) per département and exercice.
    "q1_charges_dep": """
SELECT exercice, ndept, SUM(obnetdeb - obnetcre) AS charges
FROM bench.balances WHERE compte LIKE '6%'
GROUP BY exercice, ndept ORDER BY exercice, ndept""",
    # (2) Top 20 communes by debt (account 1641, credit balance) in the last exercice.
    "q2_top_dette": f"""
SELECT code_insee, lbudg, sc
FROM bench.balances WHERE exercice = {LAST} AND compte = '1641' AND cbudg = '1'
ORDER BY sc DESC, code_insee LIMIT 20""",
    # (3) Real operating expenses / revenues (net of order operations) per commune and
    # exercice, joined to population: ratio and savings per inhabitant.
    "q3_ratios_hab": """
WITH f AS (
  SELECT exercice, code_insee,
    SUM(CASE WHEN compte LIKE '6%' THEN (obnetdeb - obnetcre) - (oobdeb - oobcre) ELSE 0 END) AS drf,
    SUM(CASE WHEN compte LIKE '7%' THEN (obnetcre - obnetdeb) - (oobcre - oobdeb) ELSE 0 END) AS rrf
  FROM bench.balances WHERE cbudg = '1'
  GROUP BY exercice, code_insee)
SELECT f.exercice, f.code_insee, p.population, f.drf, f.rrf,
  CAST(f.drf AS DOUBLE) / CAST(NULLIF(f.rrf, 0) AS DOUBLE) AS ratio,
  CAST(f.rrf - f.drf AS DOUBLE) / CAST(NULLIF(p.population, 0) AS DOUBLE) AS epargne_par_hab
FROM f JOIN bench.population p ON p.code = f.code_insee
ORDER BY f.exercice, f.code_insee""",
    # (4) Distinct communes per exercice.
    "q4_communes": """
SELECT exercice, COUNT(DISTINCT code_insee) AS communes
FROM bench.balances GROUP BY exercice ORDER BY exercice""",
    # (5) Rank of communes within their département by operating expenses (window function).
    "q5_rang_dep": """
WITH d AS (
  SELECT exercice, ndept, code_insee, SUM(obnetdeb - obnetcre) AS charges
  FROM bench.balances WHERE compte LIKE '6%' AND cbudg = '1'
  GROUP BY exercice, ndept, code_insee),
r AS (
  SELECT exercice, ndept, code_insee, charges,
    RANK() OVER (PARTITION BY exercice, ndept ORDER BY charges DESC) AS rang
  FROM d)
SELECT exercice, ndept, code_insee, charges, rang FROM r WHERE rang <= 3
ORDER BY exercice, ndept, rang, code_insee""",
    # (6) Full-scan balance over all accounts.
    "q6_balance": "SELECT exercice, compte, COUNT(*) AS n, "
    + ", ".join(f"SUM({a}) AS {a}" for a in AMOUNTS)
    + " FROM bench.balances GROUP BY exercice, compte ORDER BY exercice, compte",
}

if __name__ == "__main__":
    print(QUERIES[sys.argv[1]])
