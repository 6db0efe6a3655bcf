//! `/strate/{niveau}/{n}?exercice=&indicateur=`: what a strate is, its statistics and its
//! members ranked by euros per inhabitant.

use maud::html;

use super::{Outcome, Page, Params, exercice_param, indicator_param, page_param, paged_table};
use crate::model::{INDICATORS, Level};
use crate::snapshot::Snapshot;
use crate::strate::{band_label, bands};
use crate::table::{Cell, Table};

pub fn strate(s: &Snapshot, level: Level, band: &str, p: &Params) -> Outcome {
    let Some((band, label)) = band
        .parse::<usize>()
        .ok()
        .and_then(|b| Some((b, band_label(level, b)?)))
    else {
        return Outcome::NotFound(format!(
            "Les {} ont {} strates, numérotées de 1 à {}.",
            level.plural().to_lowercase(),
            bands(level).len(),
            bands(level).len()
        ));
    };
    let exercices = s.c.exercices(level);
    let ex = match exercice_param(p, &exercices) {
        Ok(x) => x,
        Err(bad) => return bad,
    };
    let Some(ex) = ex else {
        return Outcome::NotFound(format!(
            "Aucun compte de {} dans la publication.",
            level.plural().to_lowercase()
        ));
    };
    let k = match indicator_param(p).and_then(|k| page_param(p).map(|()| k)) {
        Ok(k) => k,
        Err(bad) => return bad,
    };
    let stat = s.strates.stat(level, ex, band, k);
    let mut t = Table::new(
        format!("strate-{}-{band}-{ex}-{}", level.slug(), INDICATORS[k].key),
        format!(
            "Membres de la strate en {ex} : {} par habitant",
            INDICATORS[k].label
        ),
    )
    .column("code", "Code")
    .column("nom", "Nom")
    .column("population", "Population de l'exercice")
    .column("montant", "Montant (€)")
    .column("euros_par_habitant", "€ par habitant");
    let mut members: Vec<_> = s
        .strates
        .members(level, ex, band)
        .iter()
        .map(|&i| &s.c.entities[i])
        .filter_map(|e| Some((e, e.year(ex)?)))
        .collect();
    members.sort_by(|a, b| {
        b.1.per_inhabitant(k)
            .cmp(&a.1.per_inhabitant(k))
            .then(a.0.nom.cmp(&b.0.nom))
    });
    for (e, y) in &members {
        t.linked_row(
            e.url(),
            vec![
                Cell::text(&e.code),
                Cell::text(&e.nom),
                Cell::Int(y.population),
                Cell::Money(y.principal[k]),
                Cell::Money(y.per_inhabitant(k)),
            ],
        );
    }
    let lo = bands(level)[band - 1].0;
    let hi = bands(level).get(band).map(|b| b.0);
    t.sql = format!(
        "SELECT code, nom, population, {key}, CAST({key} / population AS DECIMAL(18, 2)) AS par_habitant\nFROM finances.fiche WHERE niveau = '{}' AND exercice = {ex} AND population >= {lo}{}\nORDER BY par_habitant DESC",
        level.niveau(),
        hi.map(|h| format!(" AND population < {h}"))
            .unwrap_or_default(),
        key = INDICATORS[k].key
    );
    let body = html! {
        p.crumbs { a href="/" { "Accueil" } " › Strates" }
        h1 { "Strate : " (level.plural().to_lowercase()) " " (label) }
        p { "Une strate regroupe les collectivités d'un même niveau dont la population de l'exercice est dans la même tranche. "
            "Pour les communes ce sont les onze tranches des comptes individuels de la DGFiP ; les régions sont comparées à l'ensemble des régions." }
        dl.identity {
            dt { "Exercice" } dd { (ex) }
            dt { "Tranche" } dd { (label) }
            dt { "Membres" } dd { (members.len()) }
            @if let Some(st) = stat {
                dt { "Moyenne de la strate" } dd { (Cell::Money(st.mean).french()) " €/hab. (total de la strate divisé par sa population, comme la DGFiP)" }
                dt { "Médiane" } dd { (Cell::Money(st.median).french()) " €/hab. (médiane des montants par habitant des membres)" }
            }
        }
        form.inline method="get" {
            input type="hidden" name="exercice" value=(ex);
            label for="indicateur" { "Indicateur" }
            select #indicateur name="indicateur" {
                @for (i, ind) in INDICATORS.iter().enumerate() { option value=(ind.key) selected[i == k] { (ind.label) } }
            }
            button type="submit" { "Afficher" }
        }
        (paged_table(&t, p, 100))
    };
    Outcome::Page(Page {
        title: format!("Strate {} {label}", level.plural().to_lowercase()),
        body,
        tables: vec![t],
    })
}
