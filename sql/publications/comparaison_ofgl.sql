-- The publication's figures next to the harmonised finance data they should come from
-- (OFGL consolidated accounts of the régions): one row per edition × région × agrégat ×
-- exercice. `statut` says whether the figure is identical, a provisional figure that was
-- revised since, a secret cell, or a real discrepancy.
WITH publication AS (
  SELECT edition, code, exercice, provisoire, montant, montant_status,
         -- `dont frais de personnel` → `Frais de personnel`, as OFGL names the agrégat.
         CASE WHEN parent IS NULL THEN libelle
              ELSE upper(substr(libelle, 6, 1)) || substr(libelle, 7) END AS agregat
  FROM publications.comptes_regions
  WHERE code IS NOT NULL
),
ofgl AS (
  SELECT exercice, code, agregat, montant
  FROM finances.agregats
  WHERE niveau = 'REG' AND source = 'ofgl' AND budget = 'consolidé'
)
SELECT p.edition, p.exercice, p.code, p.agregat, p.provisoire,
       p.montant AS montant_publication, o.montant AS montant_ofgl,
       p.montant - o.montant AS ecart,
       CASE
         WHEN p.montant_status = 's' THEN 'secret'
         WHEN o.montant IS NULL THEN 'absent des données'
         WHEN p.montant = o.montant THEN 'identique'
         WHEN p.provisoire THEN 'provisoire révisé'
         ELSE 'écart'
       END AS statut
FROM publication p
LEFT JOIN ofgl o ON o.exercice = p.exercice AND o.code = p.code AND o.agregat = p.agregat
