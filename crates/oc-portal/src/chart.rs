//! Line charts as inline SVG rendered by the server: readable without JavaScript, labelled for
//! screen readers (the page puts the same numbers in a table next to it), series told apart
//! by dash pattern and marker as well as colour.

use maud::{Markup, html};

use crate::fmt;

pub struct Series {
    pub name: String,
    /// (exercice, cents) points; None leaves a gap.
    pub points: Vec<(i32, Option<i64>)>,
}

const COLOURS: [&str; 4] = ["#1d4f91", "#b3461b", "#2a7a3f", "#6f3a91"];
const DASHES: [&str; 4] = ["", "6 4", "2 3", "10 3 2 3"];
const W: f64 = 640.0;
const H: f64 = 260.0;
const LEFT: f64 = 78.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 34.0;

/// Round step for about five ticks over `span`.
fn step(span: f64) -> f64 {
    let raw = span / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag)
}

/// `id` makes the title and description ids unique on the page.
pub fn line_chart(id: &str, title: &str, unit: &str, series: &[Series]) -> Markup {
    let mut years: Vec<i32> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    years.sort_unstable();
    years.dedup();
    let values: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().filter_map(|p| p.1))
        .map(|c| c as f64 / 100.0)
        .collect();
    if years.is_empty() || values.is_empty() {
        return html! { p.muted { "Pas de données à représenter." } };
    }
    let lo = values.iter().cloned().fold(0.0f64, f64::min);
    let hi = values.iter().cloned().fold(0.0f64, f64::max);
    let st = step((hi - lo).max(1.0));
    let (lo, hi) = ((lo / st).floor() * st, (hi / st).ceil() * st);
    let hi = if hi <= lo { lo + st } else { hi };
    let x = |year: i32| -> f64 {
        let i = years.iter().position(|y| *y == year).unwrap_or(0) as f64;
        let n = (years.len().max(2) - 1) as f64;
        if years.len() == 1 {
            LEFT + (W - LEFT - RIGHT) / 2.0
        } else {
            LEFT + i * (W - LEFT - RIGHT) / n
        }
    };
    let y = |v: f64| TOP + (hi - v) / (hi - lo) * (H - TOP - BOTTOM);
    // As many decimals as the step needs (0.25 → 2, 2.5 → 1, 200 → 0).
    let decimals = (0..=2u8)
        .find(|d| ((st * 10f64.powi(*d as i32)).round() - st * 10f64.powi(*d as i32)).abs() < 1e-9)
        .unwrap_or(2);
    let mut ticks = Vec::new();
    let mut t = lo;
    while t <= hi + st / 2.0 {
        ticks.push(t);
        t += st;
    }
    let desc = format!(
        "{} de {} à {}, en {unit}. Les valeurs sont dans le tableau qui suit.",
        series
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        years[0],
        years[years.len() - 1]
    );
    html! {
        svg.chart viewBox={"0 0 " (W) " " (H)} role="img"
            aria-labelledby={(id) "-t " (id) "-d"} xmlns="http://www.w3.org/2000/svg" {
            title id={(id) "-t"} { (title) }
            desc id={(id) "-d"} { (desc) }
            @for t in &ticks {
                line.grid x1=(LEFT) x2=(W - RIGHT) y1=(y(*t)) y2=(y(*t)) {}
                text.tick x=(LEFT - 6.0) y=(y(*t) + 4.0) text-anchor="end" {
                    (fmt::float_fr(*t, decimals))
                }
            }
            @for yr in &years {
                text.tick x=(x(*yr)) y=(H - BOTTOM + 18.0) text-anchor="middle" { (yr) }
            }
            line.axis x1=(LEFT) x2=(W - RIGHT) y1=(y(0.0)) y2=(y(0.0)) {}
            @for (k, s) in series.iter().enumerate() {
                @let colour = COLOURS[k % COLOURS.len()];
                @let pts: Vec<(f64, f64, i64, i32)> = s.points.iter()
                    .filter_map(|(yr, v)| v.map(|c| (x(*yr), y(c as f64 / 100.0), c, *yr)))
                    .collect();
                @if pts.len() > 1 {
                    polyline fill="none" stroke=(colour) stroke-width="2.5"
                        stroke-dasharray=(DASHES[k % DASHES.len()])
                        points=(pts.iter().map(|p| format!("{:.1},{:.1}", p.0, p.1)).collect::<Vec<_>>().join(" ")) {}
                }
                @for p in &pts {
                    @if k % 2 == 0 {
                        circle cx=(format!("{:.1}", p.0)) cy=(format!("{:.1}", p.1)) r="4" fill=(colour) {
                            title { (s.name) " " (p.3) " : " (fmt::cents_fr(p.2)) " " (unit) }
                        }
                    } @else {
                        rect x=(format!("{:.1}", p.0 - 4.0)) y=(format!("{:.1}", p.1 - 4.0)) width="8" height="8" fill=(colour) {
                            title { (s.name) " " (p.3) " : " (fmt::cents_fr(p.2)) " " (unit) }
                        }
                    }
                }
            }
        }
        @if series.len() > 1 {
            ul.legend aria-hidden="true" {
                @for (k, s) in series.iter().enumerate() {
                    li {
                        svg width="36" height="12" {
                            line x1="0" x2="36" y1="6" y2="6" stroke=(COLOURS[k % COLOURS.len()])
                                stroke-width="3" stroke-dasharray=(DASHES[k % DASHES.len()]) {}
                        }
                        " " (s.name)
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round() {
        assert_eq!(step(1000.0), 200.0);
        assert_eq!(step(900.0), 200.0);
        assert_eq!(step(12.0), 2.5);
    }

    #[test]
    fn a_chart_escapes_names_and_labels_itself() {
        let s = Series {
            name: "<script>".into(),
            points: vec![(2023, Some(100)), (2024, Some(-250))],
        };
        let svg = line_chart("c", "Titre", "€", &[s]).into_string();
        assert!(svg.contains("&lt;script&gt;"), "{svg}");
        assert!(svg.contains("aria-labelledby=\"c-t c-d\""), "{svg}");
        assert!(svg.contains("-2,50 €"), "{svg}");
    }
}
