-- One row per collectivité and exercice with its key indicators side by side (budget
-- principal, computed from the DGFiP balances): the shape a portal "fiche" needs, to compare
-- several collectivités or export. Ratios are recomputed from the amounts, never averaged.
WITH p AS (
  SELECT * FROM finances.agregats WHERE source = 'dgfip' AND budget = 'principal'
),
w AS (
  SELECT exercice, niveau, siren, code, nom, population,
    sum(CASE agregat WHEN 'Recettes de fonctionnement' THEN montant END) AS recettes_fonctionnement,
    sum(CASE agregat WHEN 'Dépenses de fonctionnement' THEN montant END) AS depenses_fonctionnement,
    sum(CASE agregat WHEN 'Epargne brute' THEN montant END) AS epargne_brute,
    sum(CASE agregat WHEN 'Epargne nette' THEN montant END) AS epargne_nette,
    sum(CASE agregat WHEN 'Frais de personnel' THEN montant END) AS frais_personnel,
    sum(CASE agregat WHEN 'Impôts locaux' THEN montant END) AS impots_locaux,
    sum(CASE agregat WHEN 'Recettes d''investissement' THEN montant END) AS recettes_investissement,
    sum(CASE agregat WHEN 'Dépenses d''investissement' THEN montant END) AS depenses_investissement,
    sum(CASE agregat WHEN 'Dépenses d''équipement' THEN montant END) AS depenses_equipement,
    sum(CASE agregat WHEN 'Emprunts hors GAD' THEN montant END) AS emprunts,
    sum(CASE agregat WHEN 'Remboursements d''emprunts hors GAD' THEN montant END) AS remboursements_emprunts,
    sum(CASE agregat WHEN 'Annuité de la dette' THEN montant END) AS annuite_dette,
    sum(CASE agregat WHEN 'Encours de dette' THEN montant END) AS encours_dette
  FROM p
  GROUP BY exercice, niveau, siren, code, nom, population
)
SELECT w.*,
  CAST(epargne_brute / population AS DECIMAL(18, 2)) AS epargne_brute_par_habitant,
  CAST(encours_dette / population AS DECIMAL(18, 2)) AS encours_dette_par_habitant,
  CAST(depenses_equipement / population AS DECIMAL(18, 2)) AS depenses_equipement_par_habitant,
  round(CAST(epargne_brute AS DOUBLE) / CAST(recettes_fonctionnement AS DOUBLE) * 100, 2) AS taux_epargne_brute_pct,
  CASE WHEN epargne_brute > 0 THEN round(CAST(encours_dette AS DOUBLE) / CAST(epargne_brute AS DOUBLE), 2) END AS capacite_desendettement_annees
FROM w
