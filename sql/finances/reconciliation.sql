-- DGFiP-computed vs OFGL-published agrégats, for the collectivités present in the OFGL
-- exports: per budget (communes' per-budget export), and per collectivité for the
-- consolidated exports (budget principal vs `Montant BP`, sum of the annexes vs `Montant BA`).
-- statut: `ok` when the difference is at most one cent.
WITH dgfip AS (
  SELECT exercice, niveau, siren, code, ident, cbudg, agregat, montant FROM finances.agregats_dgfip
),
ofgl_consolide AS (
  SELECT exercice, 'COM' AS niveau, siren, code, agregat, montant_bp, montant_ba FROM finances.ofgl_communes
  UNION ALL SELECT exercice, 'GFP', siren, code, agregat, montant_bp, montant_ba FROM finances.ofgl_gfp
  UNION ALL SELECT exercice, 'DEP', siren, code, agregat, montant_bp, montant_ba FROM finances.ofgl_departements
  UNION ALL SELECT exercice, 'REG', siren, code, agregat, montant_bp, montant_ba FROM finances.ofgl_regions
),
-- An agrégat with no matching account is 0 on the DGFiP side (OFGL publishes 0.00), as long
-- as the budget / collectivité itself is in the balances.
budgets_dgfip AS (SELECT DISTINCT exercice, ident FROM dgfip),
collectivites_dgfip AS (SELECT DISTINCT exercice, siren FROM dgfip),
par_budget AS (
  SELECT COALESCE(d.exercice, o.exercice) AS exercice, 'COM' AS niveau,
         COALESCE(d.siren, o.siren) AS siren, COALESCE(d.code, o.code_insee) AS code,
         'budget ' || COALESCE(d.ident, o.siret_budget) AS comparaison,
         COALESCE(d.agregat, o.agregat) AS agregat,
         CASE WHEN d.montant IS NOT NULL THEN d.montant WHEN b.ident IS NOT NULL THEN 0 END AS montant_dgfip,
         o.montant AS montant_ofgl
  FROM (SELECT * FROM dgfip WHERE niveau = 'COM'
          AND siren IN (SELECT siren FROM finances.ofgl_communes_budgets)) d
  FULL OUTER JOIN finances.ofgl_communes_budgets o
    ON o.exercice = d.exercice AND o.siret_budget = d.ident AND o.agregat = d.agregat
  LEFT JOIN budgets_dgfip b ON b.exercice = o.exercice AND b.ident = o.siret_budget
),
dgfip_consolide AS (
  SELECT exercice, niveau, siren, code, agregat,
         sum(CASE WHEN cbudg = '1' THEN montant ELSE 0 END) AS montant_bp,
         sum(CASE WHEN cbudg <> '1' THEN montant ELSE 0 END) AS montant_ba
  FROM dgfip
  GROUP BY exercice, niveau, siren, code, agregat
),
consolide AS (
  SELECT COALESCE(d.exercice, o.exercice) AS exercice, COALESCE(d.niveau, o.niveau) AS niveau,
         COALESCE(d.siren, o.siren) AS siren, COALESCE(d.code, o.code) AS code,
         COALESCE(d.agregat, o.agregat) AS agregat,
         CASE WHEN d.montant_bp IS NOT NULL THEN d.montant_bp WHEN c.siren IS NOT NULL THEN 0 END AS dgfip_bp,
         o.montant_bp AS ofgl_bp,
         CASE WHEN d.montant_ba IS NOT NULL THEN d.montant_ba WHEN c.siren IS NOT NULL THEN 0 END AS dgfip_ba,
         o.montant_ba AS ofgl_ba
  FROM (SELECT * FROM dgfip_consolide
          WHERE siren IN (SELECT siren FROM ofgl_consolide)) d
  FULL OUTER JOIN ofgl_consolide o
    ON o.exercice = d.exercice AND o.siren = d.siren AND o.agregat = d.agregat
  LEFT JOIN collectivites_dgfip c ON c.exercice = o.exercice AND c.siren = o.siren
),
comparaisons AS (
  SELECT * FROM par_budget
  UNION ALL
  SELECT exercice, niveau, siren, code, 'consolidé BP', agregat, dgfip_bp, ofgl_bp FROM consolide
  UNION ALL
  SELECT exercice, niveau, siren, code, 'consolidé BA', agregat, dgfip_ba, ofgl_ba FROM consolide
)
SELECT exercice, niveau, siren, code, comparaison, agregat,
       CAST(montant_dgfip AS DECIMAL(18, 2)) AS montant_dgfip,
       CAST(montant_ofgl AS DECIMAL(18, 2)) AS montant_ofgl,
       CAST(montant_dgfip - montant_ofgl AS DECIMAL(18, 2)) AS ecart,
       CASE
         WHEN montant_dgfip IS NULL THEN 'absent dgfip'
         WHEN montant_ofgl IS NULL THEN 'absent ofgl'
         WHEN abs(montant_dgfip - montant_ofgl) <= 0.01 THEN 'ok'
         ELSE 'écart'
       END AS statut
FROM comparaisons
