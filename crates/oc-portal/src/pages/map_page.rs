//! `/carte?indicateur=&niveau=departement|region&exercice=`: a per-inhabitant figure on the map
//! of départements or régions, with the same values in a table.

use maud::html;

use super::{Outcome, Page, Params, exercice_param, indicator_param, table};
use crate::map::{Value, choropleth, commune_geometry, geometry};
use crate::model::{INDICATORS, Level};
use crate::snapshot::Snapshot;
use crate::table::{Cell, Table};

pub fn carte(s: &Snapshot, p: &Params) -> Outcome {
    let level = match p.get("niveau").unwrap_or("departement") {
        "departement" => Level::Departement,
        "region" => Level::Region,
        "commune" => Level::Commune,
        other => {
            return Outcome::BadRequest(format!(
                "Niveau de carte inconnu : « {other} ». Choisissez commune, departement ou region."
            ));
        }
    };
    // Communes are drawn one département at a time.
    let dep = p.get("departement").map(|d| d.trim().to_uppercase());
    let geo = match (level, &dep) {
        (Level::Commune, Some(d)) => match commune_geometry(d) {
            Some(g) => g,
            None => {
                return Outcome::NotFound(format!(
                    "Pas de contours de communes pour le département « {d} »."
                ));
            }
        },
        (Level::Commune, None) => {
            return Outcome::BadRequest(
                "La carte des communes se lit département par département : ajoutez par exemple &departement=2A.".into(),
            );
        }
        (l, _) => match geometry(l) {
            Some(g) => g,
            None => return Outcome::BadRequest("Pas de contours pour ce niveau.".into()),
        },
    };
    let k = match indicator_param(p) {
        Ok(k) => k,
        Err(bad) => return bad,
    };
    let exercices = s.c.exercices(level);
    let ex = match exercice_param(p, &exercices) {
        Ok(x) => x,
        Err(bad) => return bad,
    };
    let mut values = Vec::new();
    let mut t = Table::new(
        format!("carte-{}-{}-{}", level.slug(), INDICATORS[k].key, ex.unwrap_or(0)),
        format!("{} par habitant, {}{}", INDICATORS[k].label, level.plural().to_lowercase(), ex.map(|e| format!(", {e}")).unwrap_or_default()),
    )
    .column("code", "Code")
    .column("nom", "Nom")
    .column("euros_par_habitant", "€ par habitant")
    .sql(format!(
        "SELECT code, nom, CAST({key} / population AS DECIMAL(18, 2)) AS euros_par_habitant\nFROM finances.fiche WHERE niveau = '{}' AND exercice = {} ORDER BY code",
        level.niveau(),
        ex.unwrap_or(0),
        key = INDICATORS[k].key
    ));
    for f in &geo.features {
        let e = s.c.get(level, &f.code);
        let v = ex.and_then(|ex| e?.year(ex)?.per_inhabitant(k));
        values.push(Value {
            code: f.code.clone(),
            name: e.map(|e| e.nom.clone()).unwrap_or_default(),
            value: v,
            url: e.map(|e| e.url()).unwrap_or_default(),
        });
        let row = vec![
            Cell::text(&f.code),
            Cell::text(e.map(|e| e.nom.as_str()).unwrap_or(&f.name)),
            Cell::Money(v),
        ];
        match e {
            Some(e) => t.linked_row(e.url(), row),
            None => t.rows.push(row),
        }
    }
    values.retain(|v| !v.url.is_empty());
    let with_data = t.rows.iter().filter(|r| r[2] != Cell::Money(None)).count();
    let title = format!(
        "{} par habitant{}{}",
        INDICATORS[k].label,
        match (&dep, level) {
            (Some(d), Level::Commune) =>
                format!(", communes de {}", s.c.name_of(Level::Departement, d)),
            _ => String::new(),
        },
        ex.map(|e| format!(" en {e}")).unwrap_or_default()
    );
    let mut deps: Vec<&crate::model::Entity> =
        s.c.entities
            .iter()
            .filter(|e| e.level == Level::Departement)
            .collect();
    deps.sort_by(|a, b| a.code.cmp(&b.code));
    let body = html! {
        h1 { "Carte : " (title) }
        form.inline method="get" action="/carte" {
            label for="niveau" { "Niveau" }
            select #niveau name="niveau" {
                option value="departement" selected[level == Level::Departement] { "Départements" }
                option value="region" selected[level == Level::Region] { "Régions" }
                option value="commune" selected[level == Level::Commune] { "Communes d'un département" }
            }
            label for="departement" { "Département (carte des communes)" }
            select #departement name="departement" {
                @for d in &deps { option value=(d.code) selected[dep.as_deref() == Some(d.code.as_str())] { (d.code) " " (d.nom) } }
            }
            label for="indicateur" { "Indicateur" }
            select #indicateur name="indicateur" {
                @for (i, ind) in INDICATORS.iter().enumerate() { option value=(ind.key) selected[i == k] { (ind.label) } }
            }
            @if !exercices.is_empty() {
                label for="exercice" { "Exercice" }
                select #exercice name="exercice" {
                    @for x in &exercices { option value=(x) selected[Some(*x) == ex] { (x) } }
                }
            }
            button type="submit" { "Afficher" }
        }
        p { (with_data) " " (level.plural().to_lowercase()) " sur " (geo.features.len()) " ont des comptes dans la publication." }
        (choropleth(geo, &title, "€/hab.", &values))
        (table(&t, p))
    };
    Outcome::Page(Page {
        title: format!("Carte — {title}"),
        body,
        tables: vec![t],
    })
}
