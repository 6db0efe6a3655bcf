-- Charges (class 6, net debit) and produits (class 7, net credit) of each commune's budget
-- principal per exercice, with its name and population in the COG 2026 and the amounts per
-- inhabitant. Amounts stay Decimal(18,2): sums are exact.
WITH totaux AS (
  SELECT
    exercice,
    code_insee,
    CAST(SUM(CASE WHEN compte LIKE '6%' THEN obnetdeb - obnetcre ELSE 0 END) AS DECIMAL(18, 2)) AS charges,
    CAST(SUM(CASE WHEN compte LIKE '7%' THEN obnetcre - obnetdeb ELSE 0 END) AS DECIMAL(18, 2)) AS produits
  FROM finances.balances_communes
  WHERE cbudg = '1'
  GROUP BY exercice, code_insee
)
SELECT
  t.exercice,
  t.code_insee,
  c.nom,
  c.population,
  t.charges,
  t.produits,
  CAST(t.charges / c.population AS DECIMAL(18, 2)) AS charges_par_habitant,
  CAST(t.produits / c.population AS DECIMAL(18, 2)) AS produits_par_habitant
FROM totaux t
LEFT JOIN ref.communes c
  ON c.millesime = 2026 AND c.type_commune = 'COM' AND c.code = t.code_insee
