-- Passage table between COG vintages, built from the geography itself: for each commune (COM)
-- of an earlier vintage, the commune(s) of each later vintage that cover its territory, with
-- a weight (1 when there is one target; the later population's share when a commune was split
-- by a de-merger, so that amounts re-mapped with the weights are never counted twice).
--   - the code is still a commune: itself;
--   - merged: the later commune that lists it in anciens_codes, or of which it is now a
--     commune déléguée / associée;
--   - de-merger: later communes that were déléguées / associées of it and are communes again.
WITH com AS (
  SELECT millesime, code, population FROM ref.communes WHERE type_commune = 'COM'
),
sub AS (
  SELECT millesime, code, code_parent FROM ref.communes WHERE type_commune IN ('COMD', 'COMA')
),
anciens AS (
  SELECT millesime, code, unnest(string_to_array(anciens_codes, '|')) AS ancien
  FROM ref.communes
  WHERE type_commune = 'COM' AND anciens_codes IS NOT NULL
),
vintages AS (SELECT DISTINCT millesime FROM com),
pairs AS (
  SELECT a.millesime AS millesime_from, b.millesime AS millesime_to
  FROM vintages a CROSS JOIN vintages b
  WHERE a.millesime < b.millesime
),
targets AS (
  SELECT p.millesime_from, f.code AS code_from, p.millesime_to, t.code AS code_to, 'identique' AS evenement
  FROM pairs p
  JOIN com f ON f.millesime = p.millesime_from
  JOIN com t ON t.millesime = p.millesime_to AND t.code = f.code
  UNION
  SELECT p.millesime_from, f.code, p.millesime_to, a.code, 'fusion'
  FROM pairs p
  JOIN com f ON f.millesime = p.millesime_from
  JOIN anciens a ON a.millesime = p.millesime_to AND a.ancien = f.code
  WHERE NOT EXISTS (SELECT 1 FROM com t WHERE t.millesime = p.millesime_to AND t.code = f.code)
  UNION
  SELECT p.millesime_from, f.code, p.millesime_to, s.code_parent, 'fusion'
  FROM pairs p
  JOIN com f ON f.millesime = p.millesime_from
  JOIN sub s ON s.millesime = p.millesime_to AND s.code = f.code
  WHERE NOT EXISTS (SELECT 1 FROM com t WHERE t.millesime = p.millesime_to AND t.code = f.code)
  UNION
  SELECT p.millesime_from, f.code, p.millesime_to, t.code, 'rétablissement'
  FROM pairs p
  JOIN com f ON f.millesime = p.millesime_from
  JOIN sub s ON s.millesime = p.millesime_from AND s.code_parent = f.code
  JOIN com t ON t.millesime = p.millesime_to AND t.code = s.code
  WHERE t.code <> f.code
    AND NOT EXISTS (SELECT 1 FROM com x WHERE x.millesime = p.millesime_from AND x.code = t.code)
),
weighted AS (
  SELECT tg.*, c.population,
         sum(c.population) OVER (PARTITION BY tg.millesime_from, tg.code_from, tg.millesime_to) AS population_cibles,
         count(*) OVER (PARTITION BY tg.millesime_from, tg.code_from, tg.millesime_to) AS cibles
  FROM targets tg
  JOIN com c ON c.millesime = tg.millesime_to AND c.code = tg.code_to
)
SELECT millesime_from, code_from, millesime_to, code_to, evenement,
       CASE WHEN cibles = 1 THEN 1.0
            WHEN population_cibles > 0 THEN CAST(population AS DOUBLE) / population_cibles
            ELSE 1.0 / cibles END AS poids
FROM weighted
