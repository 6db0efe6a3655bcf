//! The fiche of a collectivité: identity, key figures of an exercice next to its strate, the
//! evolution over every exercice, members, and where each figure comes from.

use maud::{Markup, html};

use super::{
    Outcome, Page, Params, exercice_param, indicator_param, lit, page_param, paged_table, table,
};
use crate::chart::{Series, line_chart};
use crate::fmt;
use crate::model::{Entity, INDICATORS, Level, status_note};
use crate::snapshot::Snapshot;
use crate::strate::{Strates, band_label};
use crate::table::{Cell, Table};

/// The column that holds a collectivité's address key in `finances.fiche` and
/// `finances.agregats`: a groupement is known by its SIREN, the others by their INSEE code.
fn key_column(level: Level) -> &'static str {
    match level {
        Level::Groupement => "siren",
        _ => "code",
    }
}

/// The `WHERE` that selects a collectivité in `finances.fiche` / `finances.agregats`.
pub fn sql_key(e: &Entity) -> String {
    sql_keys(std::slice::from_ref(&e))
}

/// The `WHERE` that selects collectivités of one level.
pub fn sql_keys(es: &[&Entity]) -> String {
    let Some(first) = es.first() else {
        return "false".into();
    };
    let column = key_column(first.level);
    let niveau = first.level.niveau();
    match es {
        [e] => format!("niveau = '{niveau}' AND {column} = {}", lit(&e.code)),
        _ => format!(
            "niveau = '{niveau}' AND {column} IN ({})",
            es.iter()
                .map(|e| lit(&e.code))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Key figures of `exercice` with the strate's statistics and OFGL's figure.
pub fn key_figures(s: &Snapshot, e: &Entity, exercice: i32) -> Table {
    let mut t = Table::new(
        format!("{}-{}-chiffres-{exercice}", e.level.slug(), e.code),
        format!("Chiffres clés {exercice}, budget principal"),
    )
    .column("indicateur", "Indicateur")
    .column("montant", "Montant (€)")
    .column("euros_par_habitant", "€ par habitant")
    .column("strate_moyenne", "Moyenne de la strate (€/hab.)")
    .column("strate_mediane", "Médiane de la strate (€/hab.)")
    .column("rang_centile", "Position dans la strate (centile)")
    .column("ofgl_montant", "Montant publié par l'OFGL (€)")
    .column("rapprochement", "Rapprochement DGFiP / OFGL")
    .column("ofgl_consolide", "Budget consolidé, OFGL (€)")
    .sql(format!(
        "SELECT * FROM finances.fiche WHERE {} AND exercice = {exercice}",
        sql_key(e)
    ));
    let Some(y) = e.year(exercice) else {
        return t;
    };
    let band = Strates::band(e, exercice);
    for (k, ind) in INDICATORS.iter().enumerate() {
        let stat = band.and_then(|b| s.strates.stat(e.level, exercice, b, k));
        let ph = y.per_inhabitant(k);
        let rapprochement = match (y.principal[k], y.ofgl_principal[k]) {
            (Some(a), Some(b)) if (a - b).abs() <= 1 => "concordant".to_string(),
            (Some(a), Some(b)) => format!("écart de {} €", fmt::cents_fr(a - b)),
            (None, Some(_)) => "absent des comptes DGFiP".into(),
            _ => String::new(),
        };
        t.rows.push(vec![
            Cell::text(ind.label),
            Cell::Money(y.principal[k]),
            Cell::Money(ph),
            Cell::Money(stat.and_then(|s| s.mean)),
            Cell::Money(stat.and_then(|s| s.median)),
            Cell::Int(ph.and_then(|v| stat?.percentile(v)).map(i64::from)),
            Cell::Money(y.ofgl_principal[k]),
            Cell::Text(Some(rapprochement).filter(|r| !r.is_empty())),
            Cell::Money(y.ofgl_consolide[k]),
        ]);
    }
    t
}

pub fn evolution(e: &Entity) -> Table {
    let mut t = Table::new(
        format!("{}-{}-evolution", e.level.slug(), e.code),
        "Évolution, budget principal (€)",
    )
    .column("exercice", "Exercice")
    .column("population", "Population");
    for ind in &INDICATORS {
        t = t.column(ind.key, ind.label);
    }
    t = t
        .column("taux_epargne_brute_pct", "Taux d'épargne brute")
        .column(
            "capacite_desendettement_annees",
            "Capacité de désendettement",
        );
    t.sql = format!(
        "SELECT exercice, population, {}, taux_epargne_brute_pct, capacite_desendettement_annees\nFROM finances.fiche WHERE {} ORDER BY exercice",
        INDICATORS
            .iter()
            .map(|i| i.key)
            .collect::<Vec<_>>()
            .join(", "),
        sql_key(e)
    );
    for y in &e.years {
        let mut row = vec![
            Cell::Text(Some(y.exercice.to_string())),
            Cell::Int(y.population),
        ];
        row.extend(y.principal.iter().map(|v| Cell::Money(*v)));
        row.push(Cell::Float(y.taux_epargne_brute_pct, 2, "%"));
        row.push(Cell::Float(y.capacite_desendettement_annees, 2, "ans"));
        t.rows.push(row);
    }
    t
}

fn chart_table(e: &Entity, k: usize) -> Table {
    let ind = &INDICATORS[k];
    let mut t = Table::new(
        format!("{}-{}-{}", e.level.slug(), e.code, ind.key),
        format!("{} par exercice (€)", ind.label),
    )
    .column("exercice", "Exercice")
    .column("budget_principal", "Budget principal (DGFiP)")
    .column("budget_consolide_ofgl", "Budget consolidé (OFGL)")
    .sql(format!(
        "SELECT exercice, source, budget, montant FROM finances.agregats\nWHERE {} AND agregat = {} AND ((source = 'dgfip' AND budget = 'principal') OR (source = 'ofgl' AND budget = 'consolidé'))\nORDER BY exercice",
        sql_key(e),
        lit(ind.agregat)
    ));
    for y in &e.years {
        t.rows.push(vec![
            Cell::Text(Some(y.exercice.to_string())),
            Cell::Money(y.principal[k]),
            Cell::Money(y.ofgl_consolide[k]),
        ]);
    }
    t
}

fn members(s: &Snapshot, e: &Entity) -> Option<Table> {
    let (sub, caption, sql) = match e.level {
        Level::Groupement => (
            Level::Commune,
            "Communes membres",
            format!(
                "SELECT code_membre, nom_membre, population_municipale FROM ref.epci_membres\nWHERE siren_epci = {} AND millesime = (SELECT max(millesime) FROM ref.epci_membres) ORDER BY nom_membre",
                lit(&e.code)
            ),
        ),
        Level::Departement => (
            Level::Commune,
            "Communes du département",
            format!(
                "SELECT code, nom, population FROM ref.communes\nWHERE type_commune = 'COM' AND departement = {} AND millesime = {} ORDER BY nom",
                lit(&e.code),
                s.c.millesime
            ),
        ),
        Level::Region => (
            Level::Departement,
            "Départements de la région",
            format!(
                "SELECT code, nom FROM ref.departements WHERE region = {} AND millesime = {} ORDER BY nom",
                lit(&e.code),
                s.c.millesime
            ),
        ),
        Level::Commune => return None,
    };
    let mut t = Table::new(format!("{}-{}-membres", e.level.slug(), e.code), caption)
        .column("code", "Code")
        .column("nom", "Nom")
        .column("population", "Population")
        .sql(sql);
    let mut rows: Vec<&Entity> = e.members.iter().filter_map(|m| s.c.get(sub, m)).collect();
    rows.sort_by(|a, b| a.nom.cmp(&b.nom));
    for m in rows {
        t.linked_row(
            m.url(),
            vec![
                Cell::text(&m.code),
                Cell::text(&m.nom),
                Cell::Int(m.population),
            ],
        );
    }
    Some(t)
}

fn link(s: &Snapshot, level: Level, code: &Option<String>) -> Markup {
    match code.as_deref().and_then(|c| s.c.get(level, c)) {
        Some(e) => html! { a href=(e.url()) { (e.nom) } " (" (e.code) ")" },
        None => html! { (code.clone().unwrap_or_else(|| "—".into())) },
    }
}

fn indicator_form(p: &Params, k: usize, exercice: i32) -> Markup {
    html! {
        form.inline method="get" {
            input type="hidden" name="exercice" value=(exercice);
            label for="indicateur" { "Indicateur du graphique" }
            select #indicateur name="indicateur" {
                @for (i, ind) in INDICATORS.iter().enumerate() {
                    option value=(ind.key) selected[i == k] { (ind.label) }
                }
            }
            @if let Some(ids) = p.get("ancien") { input type="hidden" name="ancien" value=(ids); }
            button type="submit" { "Afficher" }
        }
    }
}

pub fn fiche(s: &Snapshot, level: Level, code: &str, p: &Params) -> Outcome {
    let code = code.trim().to_uppercase();
    let Some(e) = s.c.get(level, &code) else {
        if level == Level::Commune
            && let Some(&i) = s.c.old_codes.get(&code)
        {
            return Outcome::Redirect(format!("{}?ancien={code}", s.c.entities[i].url()));
        }
        return Outcome::NotFound(format!(
            "Aucune collectivité de niveau « {} » n'a le code « {code} » dans la publication {}.",
            level.label().to_lowercase(),
            s.latest.release
        ));
    };
    let exercices: Vec<i32> = e.years.iter().map(|y| y.exercice).collect();
    let exercice = match exercice_param(p, &exercices) {
        Ok(x) => x,
        Err(bad) => return bad,
    };
    let k = match indicator_param(p).and_then(|k| page_param(p).map(|()| k)) {
        Ok(k) => k,
        Err(bad) => return bad,
    };
    let mut tables = Vec::new();
    if let Some(ex) = exercice {
        tables.push(key_figures(s, e, ex));
    }
    let chart = chart_table(e, k);
    let evo = evolution(e);
    let mem = members(s, e);
    tables.push(chart.clone());
    tables.push(evo.clone());
    if let Some(m) = &mem {
        tables.push(m.clone());
    }
    let band = exercice.and_then(|ex| Strates::band(e, ex).map(|b| (ex, b)));
    let old = p
        .get("ancien")
        .filter(|o| e.anciens_codes.iter().any(|a| a == o));
    let fiche_ds = s
        .catalog
        .datasets
        .iter()
        .find(|d| d.name == "finances.fiche");
    let body = html! {
        p.crumbs { a href="/" { "Accueil" } " › " (e.level.label()) }
        h1 { (e.nom) " " span.kind { (e.level.label()) } }
        @if let Some(o) = old {
            p.note role="note" { (s.c.old_code_note(o, e)) }
        }
        @if let Some(n) = status_note(e.level, &e.code) { p.note role="note" { (n) } }
        dl.identity {
            @if e.level == Level::Groupement {
                dt { "SIREN" } dd { (e.code) }
                @if let Some(n) = &e.nature { dt { "Nature" } dd { (nature(n)) } }
            } @else {
                dt { "Code INSEE" } dd { (e.code) }
                @if let Some(siren) = &e.siren { dt { "SIREN" } dd { (siren) } }
            }
            dt { "Population" }
            dd { @match e.population { Some(pop) => { (fmt::int_fr(pop)) " habitants" }, None => { "—" } } " " span.muted { "(" (e.population_source) ")" } }
            @if e.level == Level::Commune {
                dt { "Département" } dd { (link(s, Level::Departement, &e.departement)) }
            }
            @if matches!(e.level, Level::Commune | Level::Departement) {
                dt { "Région" } dd { (link(s, Level::Region, &e.region)) }
            }
            @if e.level == Level::Commune {
                dt { "Groupement (EPCI)" } dd { (link(s, Level::Groupement, &e.epci)) }
                @if !e.codes_postaux.is_empty() { dt { "Codes postaux" } dd { (e.codes_postaux.join(", ")) } }
                @if !e.anciens_codes.is_empty() { dt { "Anciens codes" } dd { (e.anciens_codes.join(", ")) } }
            }
        }
        p {
            a.button href={"/comparer?ids=" (e.id())} { "Comparer avec d'autres collectivités" }
            @if e.level == Level::Departement {
                " " a href={"/carte?niveau=commune&departement=" (e.code) "&indicateur=" (INDICATORS[k].key)} { "Carte des communes du département" }
            }
        }
        @match exercice {
            None => { p { "La publication ne contient pas de comptes pour cette collectivité." } }
            Some(ex) => {
                section aria-labelledby="h-chiffres" {
                    h2 #h-chiffres { "Chiffres clés " (ex) }
                    @if exercices.len() > 1 {
                        nav.years aria-label="Exercice" {
                            "Exercice : "
                            @for x in &exercices {
                                @if *x == ex { strong aria-current="page" { (x) } } @else { a href=(p.with("exercice", Some(&x.to_string()))) { (x) } }
                                " "
                            }
                        }
                    }
                    @if let Some((ex, b)) = band {
                        p {
                            "Strate : " (e.level.plural().to_lowercase()) " " (band_label(e.level, b).unwrap_or(""))
                            " (" (s.strates.members(e.level, ex, b).len()) " en " (ex) "). "
                            a href={"/strate/" (e.level.slug()) "/" (b) "?exercice=" (ex)} { "Définition et membres de la strate" }
                        }
                    }
                    @if let Some(y) = e.year(ex) {
                        p {
                            "Taux d'épargne brute : " strong { (y.taux_epargne_brute_pct.map(|v| format!("{} %", fmt::float_fr(v, 2))).unwrap_or("—".into())) }
                            " · Capacité de désendettement : " strong { (y.capacite_desendettement_annees.map(|v| format!("{} ans", fmt::float_fr(v, 2))).unwrap_or("—".into())) }
                            " · Population de l'exercice : " (y.population.map(fmt::int_fr).unwrap_or("—".into()))
                        }
                    }
                    (table(&tables[0], p))
                }
                section aria-labelledby="h-evolution" {
                    h2 #h-evolution { "Évolution" }
                    (indicator_form(p, k, ex))
                    (line_chart("graphique", &format!("{} de {} par exercice", INDICATORS[k].label, e.nom), "€",
                        &[Series { name: "Budget principal (DGFiP)".into(), points: e.years.iter().map(|y| (y.exercice, y.principal[k])).collect() },
                          Series { name: "Budget consolidé (OFGL)".into(), points: e.years.iter().map(|y| (y.exercice, y.ofgl_consolide[k])).collect() }]
                            .into_iter().filter(|s| s.points.iter().any(|p| p.1.is_some())).collect::<Vec<_>>()))
                    (table(&chart, p))
                    (table(&evo, p))
                }
            }
        }
        @if let Some(m) = &mem {
            section aria-labelledby="h-membres" {
                h2 #h-membres { (m.caption) " (" (m.rows.len()) ")" }
                (paged_table(m, p, 200))
            }
        }
        section aria-labelledby="h-sources" {
            h2 #h-sources { "Sources" }
            ul {
                li { "Budget principal : comptes de gestion (balances comptables) de la DGFiP, agrégés par Open Collectivités selon les définitions de l'OFGL — jeu "
                    a href="/catalogue/finances.fiche" { "finances.fiche" }
                    @if let Some(d) = fiche_ds { @if let Some(pr) = &d.producer { " (" (pr) ")" } } "." }
                li { "Montants publiés par l'OFGL (budget principal et consolidé) : jeu " a href="/catalogue/finances.agregats" { "finances.agregats" } ", source « ofgl »." }
                li { "Identité, population et rattachements : " a href="/catalogue/ref.communes" { "ref.communes" } ", " a href="/catalogue/ref.epci_membres" { "ref.epci_membres" } " (COG " (s.c.millesime) ")." }
                li { "Publication " (s.latest.release) " du " (s.release_date()) "." }
            }
        }
    };
    Outcome::Page(Page {
        title: format!("{} ({})", e.nom, e.level.label()),
        body,
        tables,
    })
}

pub fn nature(n: &str) -> &str {
    match n {
        "CC" => "Communauté de communes",
        "CA" => "Communauté d'agglomération",
        "CU" => "Communauté urbaine",
        "ME" | "METRO" => "Métropole",
        other => other,
    }
}
