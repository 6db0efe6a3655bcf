-- Agrégats of communes re-mapped from the COG vintage they came with (cog_millesime) to every
-- vintage at or after it (choose one with WHERE cog_cible = …): amounts are summed through the
-- passage weights (a split commune's amounts are shared, never duplicated); the population is
-- the target commune's, taken once per commune and never summed from the source rows; € per
-- inhabitant is recomputed from both, never averaged.
WITH passage AS (
  SELECT millesime_from, code_from, millesime_to, code_to, poids FROM ref.passage_communes
  UNION ALL
  SELECT millesime, code, millesime AS millesime_cible, code AS code_cible, 1.0 FROM ref.communes WHERE type_commune = 'COM'
),
faits AS (
  SELECT exercice, cog_millesime, code, budget, source, agregat, montant
  FROM finances.agregats
  WHERE niveau = 'COM'
),
remappes AS (
  SELECT f.exercice, f.cog_millesime AS cog_source, p.millesime_to AS cog_cible, p.code_to AS code,
         f.budget, f.source, f.agregat,
         CAST(sum(CAST(f.montant AS DOUBLE) * p.poids) AS DECIMAL(18, 2)) AS montant
  FROM faits f
  JOIN passage p ON p.millesime_from = f.cog_millesime AND p.code_from = f.code
  GROUP BY f.exercice, f.cog_millesime, p.millesime_to, p.code_to, f.budget, f.source, f.agregat
)
SELECT r.exercice, r.cog_source, r.cog_cible, r.code, c.nom, r.budget, r.source, r.agregat, r.montant,
       c.population,
       CAST(r.montant / c.population AS DECIMAL(18, 2)) AS euros_par_habitant
FROM remappes r
JOIN ref.communes c ON c.millesime = r.cog_cible AND c.type_commune = 'COM' AND c.code = r.code
