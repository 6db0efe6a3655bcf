-- Agrégats computed from the DGFiP balances of all levels (communes, GFP, départements, régions) with the definitions of ref.agregats_definitions
-- (base agrégats: account prefixes included/excluded, balance columns, direction) and
-- ref.agregats_composantes (derived agrégats as signed sums of base ones). One row per
-- exercice, budget and agrégat. Amounts are exact Decimal(18,2).
WITH balances AS (
  SELECT 'COM' AS niveau, exercice, siren, ident, cbudg, nomen, code_insee AS code, lbudg,
         compte, obnetdeb, obnetcre, oobdeb, oobcre, sd, sc
  FROM finances.balances_communes
  UNION ALL
  SELECT niveau, exercice, siren, ident, cbudg, nomen, code, lbudg,
         compte, obnetdeb, obnetcre, oobdeb, oobcre, sd, sc
  FROM finances.balances_gfp_dep_reg
),
-- Every prefix of each account, so that prefix rules become equality joins.
prefixes AS (
  SELECT b.*, unnest(array_distinct(make_array(
    substr(compte, 1, 1), substr(compte, 1, 2), substr(compte, 1, 3), substr(compte, 1, 4),
    substr(compte, 1, 5), substr(compte, 1, 6), substr(compte, 1, 7), substr(compte, 1, 8)))) AS prefixe
  FROM balances b
),
definitions AS (
  SELECT agregat, niveau, nomenclature, exercice_min, COALESCE(exercice_max, 9999) AS exercice_max,
         sens, colonne, comptes_inclus, comptes_exclus
  FROM ref.agregats_definitions
  WHERE sens <> 'derive'
),
inclus AS (
  SELECT agregat, niveau, nomenclature, exercice_min, exercice_max, sens, colonne,
         unnest(string_to_array(comptes_inclus, '|')) AS prefixe
  FROM definitions
),
exclus AS (
  SELECT agregat, niveau, nomenclature, exercice_min, exercice_max,
         unnest(string_to_array(comptes_exclus, '|')) AS prefixe
  FROM definitions
  WHERE comptes_exclus IS NOT NULL
),
applies AS (
  SELECT DISTINCT i.agregat, i.sens, i.colonne, p.niveau, p.exercice, p.siren, p.ident, p.cbudg, p.code,
         p.lbudg, p.compte, p.obnetdeb, p.obnetcre, p.oobdeb, p.oobcre, p.sd, p.sc, p.nomen
  FROM prefixes p
  JOIN inclus i
    ON p.prefixe = i.prefixe
   AND (i.niveau = '*' OR i.niveau = p.niveau)
   AND (i.nomenclature = '*' OR i.nomenclature = p.nomen)
   AND p.exercice BETWEEN i.exercice_min AND i.exercice_max
),
excluded AS (
  SELECT DISTINCT e.agregat, p.exercice, p.ident, p.compte
  FROM prefixes p
  JOIN exclus e
    ON p.prefixe = e.prefixe
   AND (e.niveau = '*' OR e.niveau = p.niveau)
   AND (e.nomenclature = '*' OR e.nomenclature = p.nomen)
   AND p.exercice BETWEEN e.exercice_min AND e.exercice_max
),
base AS (
  SELECT a.niveau, a.exercice, a.siren, a.ident, a.cbudg, a.code, a.lbudg, a.agregat,
         CAST(SUM(CASE
           WHEN a.colonne = 'solde' THEN a.sc - a.sd
           WHEN a.sens = 'credit' THEN (a.obnetcre - a.obnetdeb)
                - CASE WHEN a.colonne = 'obnet_reel' THEN a.oobcre - a.oobdeb ELSE 0 END
           WHEN a.sens = 'debit' THEN (a.obnetdeb - a.obnetcre)
                - CASE WHEN a.colonne = 'obnet_reel' THEN a.oobdeb - a.oobcre ELSE 0 END
           WHEN a.sens = 'credit_brut' THEN a.obnetcre - CASE WHEN a.colonne = 'obnet_reel' THEN a.oobcre ELSE 0 END
           WHEN a.sens = 'debit_brut' THEN a.obnetdeb - CASE WHEN a.colonne = 'obnet_reel' THEN a.oobdeb ELSE 0 END
         END) AS DECIMAL(18, 2)) AS montant
  FROM applies a
  WHERE NOT EXISTS (
    SELECT 1 FROM excluded x
    WHERE x.agregat = a.agregat AND x.exercice = a.exercice AND x.ident = a.ident AND x.compte = a.compte)
  GROUP BY a.niveau, a.exercice, a.siren, a.ident, a.cbudg, a.code, a.lbudg, a.agregat
),
derived AS (
  SELECT b.niveau, b.exercice, b.siren, b.ident, b.cbudg, b.code, b.lbudg, c.agregat,
         CAST(SUM(c.signe * b.montant) AS DECIMAL(18, 2)) AS montant
  FROM base b
  JOIN ref.agregats_composantes c ON c.composante = b.agregat
  GROUP BY b.niveau, b.exercice, b.siren, b.ident, b.cbudg, b.code, b.lbudg, c.agregat
)
SELECT niveau, exercice, siren, ident, cbudg, code, lbudg, agregat, montant
FROM base
WHERE agregat NOT LIKE '\_%' ESCAPE '\'
UNION ALL
SELECT niveau, exercice, siren, ident, cbudg, code, lbudg, agregat, montant
FROM derived
