-- One long harmonised table of agrégats: computed from the DGFiP balances (source `dgfip`, per
-- budget) and published by OFGL (source `ofgl`, per budget for communes and consolidated for
-- every level), with the collectivité's name and population in its geography vintage and the
-- amount per inhabitant. Population is taken once per collectivité (SIREN), never summed over
-- its budgets.
WITH faits AS (
  SELECT exercice, niveau, siren, code,
         CASE cbudg WHEN '1' THEN 'principal' ELSE 'annexe' END AS budget,
         ident AS siret_budget, agregat, montant, 'dgfip' AS source
  FROM finances.agregats_dgfip
  UNION ALL
  SELECT exercice, 'COM', siren, code_insee,
         CASE type_budget WHEN 'Budget principal' THEN 'principal' ELSE 'annexe' END,
         siret_budget, agregat, montant, 'ofgl'
  FROM finances.ofgl_communes_budgets
  UNION ALL
  SELECT exercice, 'COM', siren, code, 'consolidé', CAST(NULL AS VARCHAR), agregat, montant, 'ofgl' FROM finances.ofgl_communes
  UNION ALL
  SELECT exercice, 'GFP', siren, code, 'consolidé', CAST(NULL AS VARCHAR), agregat, montant, 'ofgl' FROM finances.ofgl_gfp
  UNION ALL
  SELECT exercice, 'DEP', siren, code, 'consolidé', CAST(NULL AS VARCHAR), agregat, montant, 'ofgl' FROM finances.ofgl_departements
  UNION ALL
  SELECT exercice, 'REG', siren, code, 'consolidé', CAST(NULL AS VARCHAR), agregat, montant, 'ofgl' FROM finances.ofgl_regions
),
-- Names and populations in the COG 2026 (the vintage of the sample codes).
collectivites AS (
  SELECT 'COM' AS niveau, code, nom, population FROM ref.communes WHERE millesime = 2026 AND type_commune = 'COM'
  UNION ALL
  SELECT DISTINCT 'GFP', siren_epci, nom_epci, population_totale_epci FROM ref.epci_membres WHERE millesime = 2026
  UNION ALL
  SELECT 'DEP', d.code, d.nom, sum(c.population)
  FROM ref.departements d JOIN ref.communes c ON c.millesime = 2026 AND c.type_commune = 'COM' AND c.departement = d.code
  WHERE d.millesime = 2026 GROUP BY d.code, d.nom
  UNION ALL
  SELECT 'REG', r.code, r.nom, sum(c.population)
  FROM ref.regions r JOIN ref.communes c ON c.millesime = 2026 AND c.type_commune = 'COM' AND c.region = r.code
  WHERE r.millesime = 2026 GROUP BY r.code, r.nom
)
SELECT f.exercice, f.niveau, f.siren, f.code, c.nom, f.budget, f.siret_budget, f.agregat, f.montant,
       c.population,
       CAST(f.montant / c.population AS DECIMAL(18, 2)) AS euros_par_habitant,
       f.source,
       CAST(2026 AS SMALLINT) AS cog_millesime
FROM faits f
LEFT JOIN collectivites c ON c.niveau = f.niveau AND c.code = f.code
