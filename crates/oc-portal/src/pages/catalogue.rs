//! The catalogue of the release (`catalog.json`): datasets with their documentation, columns,
//! vintages and files, and a DCAT-AP feed in JSON-LD that data.gouv.fr can harvest.

use maud::html;
use serde_json::{Value, json};

use super::{Outcome, Page, Params, table};
use crate::fmt;
use crate::release::CatalogDataset;
use crate::snapshot::Snapshot;
use crate::table::{Cell, Table};

fn title(d: &CatalogDataset) -> &str {
    d.title.as_deref().unwrap_or(&d.name)
}

pub fn index(s: &Snapshot, p: &Params) -> Outcome {
    let mut t = Table::new(
        "catalogue",
        format!("Jeux de données de la publication {}", s.latest.release),
    )
    .column("jeu", "Jeu de données")
    .column("titre", "Titre")
    .column("producteur", "Producteur")
    .column("licence", "Licence")
    .column("lignes", "Lignes");
    for d in &s.catalog.datasets {
        t.rows.push(vec![
            Cell::text(&d.name),
            Cell::text(title(d)),
            Cell::Text(d.producer.clone()),
            Cell::Text(d.licence.clone()),
            Cell::Int(Some(d.rows as i64)),
        ]);
    }
    let body = html! {
        h1 { "Les données" }
        p { "Tout ce que montre le portail vient de la publication " strong { (s.latest.release) } " (" (s.release_date()) "), fichiers Parquet et schémas Table Schema, réutilisables librement selon la licence de chaque jeu." }
        ul.datasets {
            @for d in &s.catalog.datasets {
                li {
                    a href={"/catalogue/" (d.name)} { (title(d)) } " "
                    span.muted { code { (d.name) } " · " (fmt::int_fr(d.rows as i64)) " lignes" @if let Some(l) = &d.licence { " · " (l) } }
                }
            }
        }
        (table(&t, p))
        p { a href="/catalogue/dcat.jsonld" { "Ce catalogue au format DCAT-AP (JSON-LD)" } " · " a href="/fichiers/latest.json" { "latest.json" } }
    };
    Outcome::Page(Page {
        title: "Les données".into(),
        body,
        tables: vec![t],
    })
}

pub fn dataset(s: &Snapshot, name: &str, p: &Params) -> Outcome {
    let Some(d) = s.catalog.datasets.iter().find(|d| d.name == name) else {
        return Outcome::NotFound(format!(
            "La publication {} ne contient pas de jeu « {name} ».",
            s.latest.release
        ));
    };
    let mut cols = Table::new(format!("{}-colonnes", d.name), "Colonnes")
        .column("colonne", "Colonne")
        .column("type", "Type")
        .column("description", "Description");
    for c in &d.columns {
        cols.rows.push(vec![
            Cell::text(&c.name),
            Cell::text(&c.data_type),
            Cell::Text(c.doc.clone()),
        ]);
    }
    let body = html! {
        p.crumbs { a href="/catalogue" { "Données" } " › " (d.name) }
        h1 { (title(d)) }
        @if let Some(desc) = &d.description { p { (desc) } }
        dl.identity {
            dt { "Nom" } dd { code { (d.name) } }
            @if let Some(pr) = &d.producer { dt { "Producteur" } dd { (pr) } }
            @if let Some(l) = &d.licence { dt { "Licence" } dd { (l) } }
            dt { "Lignes" } dd { (fmt::int_fr(d.rows as i64)) }
            dt { "Mise à jour" } dd { "publication " (s.latest.release) " du " (s.release_date()) }
            @for (k, v) in &d.vintages {
                dt { "Millésimes (" (k) ")" }
                dd { (v.as_array().map(|a| a.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(", ")).unwrap_or_default()) }
            }
            @if !d.partitioned_by.is_empty() { dt { "Partitionné par" } dd { (d.partitioned_by.join(", ")) } }
        }
        (table(&cols, p))
        h2 { "Fichiers" }
        ul {
            @for f in &d.files {
                li { a href={"/fichiers/" (s.latest.release) "/" (f.path)} { (f.path) } " " span.muted { "(" (fmt::int_fr(f.bytes as i64)) " octets, sha256 " code { (f.sha256.get(..12).unwrap_or("")) } "…)" } }
            }
            @if let Some(ts) = &d.table_schema { li { a href={"/fichiers/" (s.latest.release) "/" (ts)} { "Table Schema (JSON)" } } }
        }
        h2 { "Lire ces fichiers" }
        pre { code { "SELECT * FROM read_parquet('" (s.latest.release) "/" (d.name) "/**/*.parquet', hive_partitioning = true) LIMIT 10;  -- DuckDB" } }
    };
    Outcome::Page(Page {
        title: title(d).to_string(),
        body,
        tables: vec![cols],
    })
}

/// DCAT-AP 2 catalogue: one `dcat:Dataset` per dataset, one `dcat:Distribution` per file
/// (Parquet) plus its Table Schema.
pub fn dcat(s: &Snapshot, base: &str) -> Value {
    let base = base.trim_end_matches('/');
    let file = |path: &str| format!("{base}/fichiers/{}/{path}", s.latest.release);
    let datasets: Vec<Value> = s
        .catalog
        .datasets
        .iter()
        .map(|d| {
            let mut dist: Vec<Value> = d
                .files
                .iter()
                .map(|f| {
                    json!({
                        "@type": "dcat:Distribution",
                        "dct:title": f.path,
                        "dcat:downloadURL": {"@id": file(&f.path)},
                        "dcat:accessURL": {"@id": file(&f.path)},
                        "dcat:mediaType": "application/vnd.apache.parquet",
                        "dct:format": "Parquet",
                        "dcat:byteSize": f.bytes,
                        "spdx:checksum": {"@type": "spdx:Checksum", "spdx:algorithm": "spdx:checksumAlgorithm_sha256", "spdx:checksumValue": f.sha256},
                        "dct:license": d.licence,
                    })
                })
                .collect();
            if let Some(ts) = &d.table_schema {
                dist.push(json!({
                    "@type": "dcat:Distribution",
                    "dct:title": "Table Schema",
                    "dcat:downloadURL": {"@id": file(ts)},
                    "dcat:accessURL": {"@id": file(ts)},
                    "dcat:mediaType": "application/schema+json",
                    "dct:conformsTo": {"@id": "https://specs.frictionlessdata.io/table-schema/"},
                }));
            }
            json!({
                "@id": format!("{base}/catalogue/{}", d.name),
                "@type": "dcat:Dataset",
                "dct:identifier": d.name,
                "dct:title": title(d),
                "dct:description": d.description.clone().unwrap_or_default(),
                "dct:publisher": {"@type": "foaf:Agent", "foaf:name": d.producer.clone().unwrap_or_else(|| s.catalog.project.clone())},
                "dct:license": d.licence,
                "dct:modified": s.catalog.created_at,
                "dcat:landingPage": {"@id": format!("{base}/catalogue/{}", d.name)},
                "dcat:keyword": ["collectivités locales", "finances locales"],
                "dct:language": {"@id": "http://publications.europa.eu/resource/authority/language/FRA"},
                "dcat:distribution": dist,
            })
        })
        .collect();
    json!({
        "@context": {
            "dcat": "http://www.w3.org/ns/dcat#",
            "dct": "http://purl.org/dc/terms/",
            "foaf": "http://xmlns.com/foaf/0.1/",
            "spdx": "http://spdx.org/rdf/terms#",
            "xsd": "http://www.w3.org/2001/XMLSchema#",
        },
        "@id": format!("{base}/catalogue/dcat.jsonld"),
        "@type": "dcat:Catalog",
        "dct:title": "Open Collectivités — données des collectivités locales",
        "dct:description": format!("Publication {} du projet {}", s.latest.release, s.catalog.project),
        "dct:modified": s.catalog.created_at,
        "dct:language": {"@id": "http://publications.europa.eu/resource/authority/language/FRA"},
        "dcat:dataset": datasets,
    })
}
