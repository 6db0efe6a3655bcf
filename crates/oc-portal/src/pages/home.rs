//! The home page, the search results page and the JSON suggestions behind the search box.

use maud::html;
use serde_json::{Value, json};

use super::{Outcome, Page, Params, search_form};
use crate::fmt;
use crate::model::{Entity, Level};
use crate::search::{Hit, Match};
use crate::snapshot::Snapshot;

pub fn home(s: &Snapshot) -> Outcome {
    let mut regions: Vec<&Entity> =
        s.c.entities
            .iter()
            .filter(|e| e.level == Level::Region)
            .collect();
    regions.sort_by(|a, b| a.nom.cmp(&b.nom));
    let count = |l: Level| s.c.entities.iter().filter(|e| e.level == l).count();
    Outcome::Page(Page {
        title: "Les finances des collectivités locales".into(),
        tables: vec![],
        body: html! {
            h1 { "Les finances des collectivités locales" }
            p.lead { "Trouvez une commune, un groupement, un département ou une région et consultez ses comptes, comparés à ceux des collectivités de même taille, avec leurs sources." }
            (search_form("", "q"))
            section aria-labelledby="h-regions" {
                h2 #h-regions { "Les régions" }
                ul.columns { @for r in &regions { li { a href=(r.url()) { (r.nom) } } } }
            }
            section aria-labelledby="h-contenu" {
                h2 #h-contenu { "Ce que contient le portail" }
                ul {
                    @for l in Level::ALL {
                        li { (fmt::int_fr(count(l) as i64)) " " (l.plural().to_lowercase()) }
                    }
                }
                p { a href="/carte" { "Voir la carte des départements" } " · " a href="/catalogue" { "Les jeux de données" } }
            }
        },
    })
}

fn detail(s: &Snapshot, e: &Entity) -> String {
    let mut parts = vec![e.level.label().to_string(), e.code.clone()];
    if let Some(d) = &e.departement {
        parts.push(s.c.name_of(Level::Departement, d));
    }
    if let Some(p) = e.population {
        parts.push(format!("{} hab.", fmt::int_fr(p)));
    }
    parts.join(" · ")
}

fn note(s: &Snapshot, h: &Hit, query: &str) -> Option<String> {
    let e = &s.c.entities[h.entity];
    match h.how {
        Match::OldCode => Some(s.c.old_code_note(&crate::search::code_query(query), e)),
        Match::PostalCode => Some(format!("Code postal {}", query.trim())),
        _ => None,
    }
}

pub fn results(s: &Snapshot, p: &Params) -> Outcome {
    let q = p.get("q").unwrap_or("").trim().to_string();
    let hits = if q.is_empty() {
        vec![]
    } else {
        s.search.search(&s.c, &q, 50)
    };
    Outcome::Page(Page {
        title: if q.is_empty() {
            "Recherche".into()
        } else {
            format!("Recherche « {q} »")
        },
        tables: vec![],
        body: html! {
            h1 { "Recherche" }
            (search_form(&q, "q"))
            @if q.is_empty() {
                p { "Saisissez un nom, un code INSEE, un SIREN ou un code postal." }
            } @else if hits.is_empty() {
                p role="status" { "Aucune collectivité ne correspond à « " (q) " ». Vérifiez l'orthographe ou essayez un code." }
            } @else {
                p role="status" { (hits.len()) " résultat" @if hits.len() > 1 { "s" } " pour « " (q) " »." }
                @for level in Level::ALL {
                    @let in_level: Vec<&Hit> = hits.iter().filter(|h| s.c.entities[h.entity].level == level).collect();
                    @if !in_level.is_empty() {
                        section {
                            h2 { (level.plural()) " (" (in_level.len()) ")" }
                            ul.results {
                                @for h in in_level {
                                    @let e = &s.c.entities[h.entity];
                                    li {
                                        a href=(e.url()) { (e.nom) }
                                        " " span.muted { (detail(s, e)) }
                                        @if let Some(n) = note(s, h, &q) { br; span.note { (n) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    })
}

/// `/api/suggestions?q=`: at most 10 collectivités, best first.
pub fn suggestions(s: &Snapshot, p: &Params) -> Value {
    let q = p.get("q").unwrap_or("").trim();
    if q.chars().count() < 2 && !q.chars().all(|c| c.is_ascii_digit()) {
        return json!([]);
    }
    let mut hits = s.search.search(&s.c, q, 10);
    hits.sort_by_key(|h| h.how);
    Value::Array(
        hits.iter()
            .take(10)
            .map(|h| {
                let e = &s.c.entities[h.entity];
                json!({
                    "nom": e.nom,
                    "niveau": e.level.slug(),
                    "code": e.code,
                    "url": e.url(),
                    "detail": detail(s, e),
                    "note": note(s, h, q),
                })
            })
            .collect(),
    )
}
