//! The portal's pages, server-rendered in French. Each page builder returns an `Outcome`:
//! a page with the tables it shows (so `?format=` downloads exactly those), a redirect, or a
//! French error. The layout, the table markup and the download links live here, once.

pub mod catalogue;
pub mod compare;
pub mod fiche;
pub mod home;
pub mod map_page;
pub mod strate_page;

use maud::{DOCTYPE, Markup, html};

use crate::export::Format;
use crate::snapshot::Snapshot;
use crate::table::Table;

pub struct Page {
    pub title: String,
    pub body: Markup,
    pub tables: Vec<Table>,
}

pub enum Outcome {
    Page(Page),
    /// Permanent redirect (an old code to the current one).
    Redirect(String),
    NotFound(String),
    BadRequest(String),
}

/// A request's query string, decoded leniently (bad escapes never fail a request) and
/// bounded: at most 20 parameters of at most 200 characters are read.
#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(query: Option<&str>) -> Params {
        Params(
            url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .take(20)
                .map(|(k, v)| (k.into_owned(), v.chars().take(200).collect()))
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// This query with `name` set to `value` (or removed when None), as `?a=b&…`. Only the
    /// parameters pages read are carried over, so a link never echoes arbitrary input.
    pub fn with(&self, name: &str, value: Option<&str>) -> String {
        const KEPT: [&str; 7] = [
            "q",
            "ids",
            "exercice",
            "indicateur",
            "niveau",
            "page",
            "ancien",
        ];
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.0 {
            if k != name && KEPT.contains(&k.as_str()) {
                s.append_pair(k, v);
            }
        }
        if let Some(v) = value {
            s.append_pair(name, v);
        }
        let q = s.finish();
        if q.is_empty() {
            String::new()
        } else {
            format!("?{q}")
        }
    }
}

/// `?exercice=`: one of `exercices` (the latest when absent). Anything else is the request's
/// error, said with what is expected, rather than the latest shown as if it had been asked.
pub fn exercice_param(p: &Params, exercices: &[i32]) -> Result<Option<i32>, Outcome> {
    let Some(raw) = p.get("exercice") else {
        return Ok(exercices.last().copied());
    };
    match raw.parse::<i32>() {
        Ok(x) if exercices.contains(&x) => Ok(Some(x)),
        _ => Err(Outcome::BadRequest(format!(
            "Paramètre exercice : une année parmi {} (reçu « {raw} »).",
            exercices
                .iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// `?indicateur=`: the key of one of the indicators (the third when absent).
pub fn indicator_param(p: &Params) -> Result<usize, Outcome> {
    let Some(raw) = p.get("indicateur") else {
        return Ok(2);
    };
    crate::model::indicator(raw).ok_or_else(|| {
        Outcome::BadRequest(format!(
            "Paramètre indicateur : l'un de {} (reçu « {raw} »).",
            crate::model::INDICATORS
                .iter()
                .map(|i| i.key)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

/// `?page=`: a page number from 1 (past the last, the last is shown).
pub fn page_param(p: &Params) -> Result<(), Outcome> {
    match p.get("page") {
        Some(raw) if !raw.parse::<usize>().is_ok_and(|n| n >= 1) => Err(Outcome::BadRequest(
            format!("Paramètre page : un numéro de page à partir de 1 (reçu « {raw} »)."),
        )),
        _ => Ok(()),
    }
}

pub fn search_form(value: &str, id: &str) -> Markup {
    html! {
        form.search role="search" action="/recherche" method="get" {
            label for=(id) { "Rechercher une collectivité" }
            div.searchrow {
                input #(id) type="search" name="q" value=(value) autocomplete="off"
                    placeholder="Nom, code INSEE, SIREN ou code postal"
                    aria-describedby={(id) "-aide"} data-suggest="1" maxlength="100";
                button type="submit" { "Rechercher" }
            }
            p.small id={(id) "-aide"} { "Par exemple : Saint-Denis, 2A004, 200046977, 97400." }
            ul.suggestions hidden aria-live="polite" {}
        }
    }
}

pub fn layout(s: &Snapshot, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="fr" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — Open Collectivités" }
                link rel="stylesheet" href="/static/portail.css";
                script src="/static/portail.js" defer {}
            }
            body {
                a.skip href="#contenu" { "Aller au contenu" }
                header.site {
                    div.wrap {
                        a.brand href="/" { "Open Collectivités" }
                        nav aria-label="Navigation principale" {
                            ul {
                                li { a href="/" { "Rechercher" } }
                                li { a href="/carte" { "Carte" } }
                                li { a href="/comparer" { "Comparer" } }
                                li { a href="/catalogue" { "Données" } }
                            }
                        }
                    }
                }
                main #contenu.wrap tabindex="-1" { (body) }
                footer.site {
                    div.wrap {
                        p {
                            "Données de la publication " strong { (s.latest.release) }
                            " du " (s.release_date()) " (géographie COG " (s.c.millesime) "). "
                            a href="/catalogue" { "Sources et licences" } " · "
                            a href="/catalogue/dcat.jsonld" { "Catalogue DCAT" }
                        }
                        p.small { "Open Collectivités réunit les données publiques des collectivités locales : DGFiP, OFGL, INSEE, DGCL. Les montants sont en euros courants." }
                    }
                }
            }
        }
    }
}

/// A table with its caption, then its downloads, its SQL and a psql line.
pub fn table(t: &Table, params: &Params) -> Markup {
    html! {
        figure.table {
            div.scroll role="region" aria-label=(t.caption) tabindex="0" {
                table {
                    caption { (t.caption) }
                    thead { tr { @for c in &t.columns { th scope="col" { (c.label) } } } }
                    tbody {
                        @for (r, row) in t.rows.iter().enumerate() {
                                tr {
                                @for (i, cell) in row.iter().enumerate() {
                                    @if i == 0 {
                                        th scope="row" {
                                            @if let Some(Some(url)) = t.links.get(r) {
                                                a href=(url) { (cell.french()) }
                                            } @else {
                                                (cell.french())
                                            }
                                        }
                                    } @else if cell.is_number() {
                                        td.num { (cell.french()) }
                                    } @else {
                                        td { (cell.french()) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            (downloads(t, params))
        }
    }
}

/// A long table shown `per_page` rows at a time (`?page=N`); downloads carry every row.
pub fn paged_table(t: &Table, params: &Params, per_page: usize) -> Markup {
    let pages = t.rows.len().div_ceil(per_page).max(1);
    let page = params
        .get("page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, pages);
    if pages == 1 {
        return table(t, params);
    }
    let from = (page - 1) * per_page;
    let to = (from + per_page).min(t.rows.len());
    let shown = Table {
        name: t.name.clone(),
        caption: format!(
            "{} (lignes {} à {to} sur {})",
            t.caption,
            from + 1,
            t.rows.len()
        ),
        columns: t.columns.clone(),
        rows: t.rows[from..to].to_vec(),
        sql: t.sql.clone(),
        links: t
            .links
            .get(from..to.min(t.links.len()))
            .unwrap_or(&[])
            .to_vec(),
    };
    html! {
        (table(&shown, params))
        nav.pages aria-label="Pages du tableau" {
            @if page > 1 { a href=(params.with("page", Some(&(page - 1).to_string()))) rel="prev" { "← Page précédente" } " " }
            "Page " (page) " sur " (pages)
            @if page < pages { " " a href=(params.with("page", Some(&(page + 1).to_string()))) rel="next" { "Page suivante →" } }
        }
    }
}

pub fn downloads(t: &Table, params: &Params) -> Markup {
    let base = params.with("table", Some(&t.name));
    let sep = if base.is_empty() { "?" } else { "&" };
    html! {
        div.downloads {
            span { "Télécharger ce tableau : " }
            @for (i, f) in Format::ALL.iter().enumerate() {
                @if i > 0 { " · " }
                a href={(base) (sep) "format=" (f.param())} download={(t.name) "." (f.extension())} { (f.label()) }
            }
            @if !t.sql.is_empty() {
                details {
                    summary { "La requête SQL qui produit ce tableau" }
                    pre { code { (t.sql) } }
                    p.small { "Sur la publication, avec " code { "opencoll sql" } ", ou sur l'entrepôt servi par " code { "opencoll serve --pg 127.0.0.1:5433" } " :" }
                    pre { code { "psql -h 127.0.0.1 -p 5433 -c \"" (t.sql.replace('"', "\\\"").replace('\n', " ")) "\"" } }
                }
            }
        }
    }
}

/// The `<title>`-free body of the French 404/400 pages.
pub fn error_body(message: &str) -> Markup {
    html! {
        h1 { "Page introuvable" }
        p { (message) }
        (search_form("", "q-erreur"))
        p { a href="/" { "Retour à l'accueil" } }
    }
}

/// SQL string literal (for the SQL shown next to tables).
pub fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}
