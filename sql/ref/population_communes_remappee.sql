-- Re-mapping facts to a later geography, shown on populations: the population of each
-- commune of every earlier vintage, carried to the communes of each later vintage with the
-- passage weights (sums of amounts; ratios must be recomputed after re-mapping, never summed).
SELECT p.millesime_from, p.millesime_to, p.code_to AS code,
       round(sum(c.population * p.poids)) AS population_from
FROM ref.passage_communes p
JOIN ref.communes c
  ON c.millesime = p.millesime_from AND c.type_commune = 'COM' AND c.code = p.code_from
GROUP BY p.millesime_from, p.millesime_to, p.code_to
