//! `/comparer?ids=commune:2A004,commune:2B033`: 2 to 4 collectivités of one level side by side
//! (table + chart), with links to add and remove; the address is the comparison.

use maud::html;

use super::fiche::sql_keys;
use super::{Outcome, Page, Params, indicator_param, search_form, table};
use crate::chart::{Series, line_chart};
use crate::model::{Entity, INDICATORS, Level};
use crate::snapshot::Snapshot;
use crate::table::{Cell, Table};

pub const MAX: usize = 4;

fn parse_ids<'a>(s: &'a Snapshot, p: &Params) -> Result<Vec<&'a Entity>, String> {
    let mut out: Vec<&Entity> = Vec::new();
    for id in p
        .get("ids")
        .unwrap_or("")
        .split(',')
        .filter(|x| !x.trim().is_empty())
    {
        let (level, code) = id
            .trim()
            .split_once(':')
            .and_then(|(l, c)| Some((Level::from_slug(l)?, c.trim().to_uppercase())))
            .ok_or_else(|| format!("« {id} » n'est pas un identifiant : écrivez niveau:code, par exemple commune:2A004."))?;
        let e =
            s.c.get(level, &code)
                .ok_or_else(|| format!("Aucune collectivité « {id} » dans la publication."))?;
        if !out.iter().any(|o| o.id() == e.id()) {
            out.push(e);
        }
    }
    if out.len() > MAX {
        return Err(format!("On compare au plus {MAX} collectivités à la fois."));
    }
    if out.windows(2).any(|w| w[0].level != w[1].level) {
        return Err("On ne compare que des collectivités de même niveau (des communes entre elles, des départements entre eux…).".into());
    }
    Ok(out)
}

fn ids(es: &[&Entity]) -> String {
    es.iter().map(|e| e.id()).collect::<Vec<_>>().join(",")
}

pub fn compare(s: &Snapshot, p: &Params) -> Outcome {
    let mut es = match parse_ids(s, p) {
        Ok(es) => es,
        Err(m) => return Outcome::BadRequest(m),
    };
    // "Ajouter" adds the best match of a name or code, of the same level.
    let mut added_note = None;
    if let Some(q) = p.get("ajouter") {
        let level = es.first().map(|e| e.level);
        let hit = s
            .search
            .search(&s.c, q, 5)
            .into_iter()
            .map(|h| &s.c.entities[h.entity])
            .find(|e| level.is_none_or(|l| e.level == l));
        match hit {
            Some(e) if es.len() < MAX => {
                if !es.iter().any(|o| o.id() == e.id()) {
                    es.push(e);
                }
            }
            Some(_) => added_note = Some(format!("On compare au plus {MAX} collectivités.")),
            None => {
                added_note = Some(format!(
                    "Aucune collectivité de ce niveau ne correspond à « {q} »."
                ))
            }
        }
    }
    // The latest exercice any of them has: a collectivité without it shows "—".
    let latest: Option<i32> = es
        .iter()
        .filter_map(|e| e.latest())
        .map(|y| y.exercice)
        .max();
    let exercice = p.get("exercice").and_then(|x| x.parse().ok()).or(latest);
    let k = match indicator_param(p) {
        Ok(k) => k,
        Err(bad) => return bad,
    };
    let mut tables = vec![];
    if let (true, Some(ex)) = (es.len() >= 2, exercice) {
        let mut t = Table::new(
            format!("comparaison-{ex}"),
            format!("Comparaison {ex}, budget principal"),
        )
        .column("indicateur", "Indicateur");
        for e in &es {
            t = t
                .column(&format!("{}_montant", e.code), &format!("{} (€)", e.nom))
                .column(
                    &format!("{}_par_habitant", e.code),
                    &format!("{} (€/hab.)", e.nom),
                );
        }
        t.sql = format!(
            "SELECT * FROM finances.fiche WHERE exercice = {ex} AND {}",
            sql_keys(&es)
        );
        for (k, ind) in INDICATORS.iter().enumerate() {
            let mut row = vec![Cell::text(ind.label)];
            for e in &es {
                let y = e.year(ex);
                row.push(Cell::Money(y.and_then(|y| y.principal[k])));
                row.push(Cell::Money(y.and_then(|y| y.per_inhabitant(k))));
            }
            t.rows.push(row);
        }
        tables.push(t);
        let mut g = Table::new(
            format!("comparaison-{}", INDICATORS[k].key),
            format!(
                "{} par habitant et par exercice (€/hab.)",
                INDICATORS[k].label
            ),
        )
        .column("exercice", "Exercice");
        for e in &es {
            g = g.column(&e.code, &e.nom);
        }
        let mut years: Vec<i32> = es
            .iter()
            .flat_map(|e| e.years.iter().map(|y| y.exercice))
            .collect();
        years.sort_unstable();
        years.dedup();
        for yr in years {
            let mut row = vec![Cell::Text(Some(yr.to_string()))];
            for e in &es {
                row.push(Cell::Money(e.year(yr).and_then(|y| y.per_inhabitant(k))));
            }
            g.rows.push(row);
        }
        g.sql = format!(
            "SELECT exercice, code, nom, CAST({key} / population AS DECIMAL(18, 2)) AS {key}_par_habitant\nFROM finances.fiche WHERE {} ORDER BY exercice, code",
            sql_keys(&es),
            key = INDICATORS[k].key,
        );
        tables.push(g);
    }
    let current = ids(&es);
    let body = html! {
        h1 { "Comparer des collectivités" }
        @if let Some(n) = &added_note { p.note role="status" { (n) } }
        @if es.is_empty() {
            p { "Choisissez jusqu'à " (MAX) " collectivités de même niveau : ouvrez la fiche de la première puis « Comparer avec d'autres collectivités », ou saisissez un nom ci-dessous." }
        }
        @if !es.is_empty() {
            ul.chips aria-label="Collectivités comparées" {
                @for e in &es {
                    li {
                        a href=(e.url()) { (e.nom) } " (" (e.code)
                        @if let Some(pop) = exercice.and_then(|x| e.year(x)).and_then(|y| y.population) {
                            ", " (crate::fmt::int_fr(pop)) " hab."
                        }
                        ") "
                        @let rest: Vec<&Entity> = es.iter().copied().filter(|o| o.id() != e.id()).collect();
                        a.remove href={"/comparer?ids=" (ids(&rest))} aria-label={"Retirer " (e.nom) " de la comparaison"} { "retirer" }
                    }
                }
            }
        }
        @if es.len() < MAX {
            form.inline method="get" action="/comparer" {
                input type="hidden" name="ids" value=(current);
                label for="ajouter" { "Ajouter une collectivité" }
                input #ajouter type="search" name="ajouter" maxlength="100" placeholder="Nom ou code" data-suggest="1";
                button type="submit" { "Ajouter" }
            }
        }
        @if es.len() == 1 { p { "Ajoutez au moins une autre collectivité pour comparer." } }
        @if tables.len() == 2 {
            (table(&tables[0], p))
            h2 { "Évolution par habitant" }
            form.inline method="get" action="/comparer" {
                input type="hidden" name="ids" value=(current);
                label for="indicateur" { "Indicateur" }
                select #indicateur name="indicateur" {
                    @for (i, ind) in INDICATORS.iter().enumerate() { option value=(ind.key) selected[i == k] { (ind.label) } }
                }
                button type="submit" { "Afficher" }
            }
            (line_chart("graphique", &format!("{} par habitant", INDICATORS[k].label), "€/hab.",
                &es.iter().map(|e| Series { name: e.nom.clone(), points: e.years.iter().map(|y| (y.exercice, y.per_inhabitant(k))).collect() }).collect::<Vec<_>>()))
            (table(&tables[1], p))
            p { "Adresse de cette comparaison : " code { "/comparer?ids=" (current) } }
        }
        @if es.is_empty() { (search_form("", "q")) }
    };
    Outcome::Page(Page {
        title: if es.is_empty() {
            "Comparer".into()
        } else {
            format!(
                "Comparer {}",
                es.iter()
                    .map(|e| e.nom.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
        body,
        tables,
    })
}
