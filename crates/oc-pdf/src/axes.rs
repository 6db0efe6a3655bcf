//! Mixed strategies: columns and rows taken from different sources.
//!
//! - columns from text, rows from lines: tables ruled only horizontally with a rule between
//!   rows (LibreOffice/Word exports, INSEE/DGCL style). Each band between two consecutive
//!   horizontal rules is a row; columns come from the alignment of the text, as in `stream`.
//! - columns from lines, rows from text: tables with vertical rules between columns and no
//!   horizontal rules. The vertical rules cut every text line into cells; each line is a row,
//!   and labels wrapped around a line of numbers are joined to it, as in `stream`.

use crate::lattice::{self, Rule};
use crate::model::{BBox, Char, Segment};
use crate::stream;
use crate::text::{self, Line};

pub struct AxesTable {
    pub bbox: BBox,
    pub rows: Vec<Vec<String>>,
}

/// Rules that overlap along their length belong to the same table: groups in `at` order.
fn group(mut rules: Vec<Rule>) -> Vec<Vec<Rule>> {
    rules.sort_by(|a, b| a.at.total_cmp(&b.at));
    let mut groups: Vec<(f32, f32, Vec<Rule>)> = Vec::new();
    for r in rules {
        let len = r.to - r.from;
        let hit = groups.iter_mut().find(|(from, to, _)| {
            let ov = r.to.min(*to) - r.from.max(*from);
            ov > 0.5 * len.min(*to - *from)
        });
        match hit {
            Some((from, to, g)) => {
                *from = from.min(r.from);
                *to = to.max(r.to);
                g.push(r);
            }
            None => groups.push((r.from, r.to, vec![r])),
        }
    }
    groups.into_iter().map(|(_, _, g)| g).collect()
}

fn filled(rows: &[Vec<String>]) -> usize {
    rows.iter().flatten().filter(|c| !c.is_empty()).count()
}

/// Columns from text alignment, rows between horizontal rules. `columns` are explicit
/// column separators (x positions) replacing the text alignment.
pub fn text_columns_ruled_rows(
    segments: &[Segment],
    chars: &[&Char],
    area: Option<&BBox>,
    columns: Option<&[f32]>,
) -> Vec<AxesTable> {
    let mut out = Vec::new();
    for g in group(lattice::rules(segments, area, true)) {
        let (x0, x1) = g.iter().fold((f32::MAX, f32::MIN), |(a, b), r| {
            (a.min(r.from), b.max(r.to))
        });
        // short rules (underlines, a rule under one word) do not separate rows; a rule under a
        // spanning header (a third of the width or more) does
        let ys = lattice::cluster(
            g.iter()
                .filter(|r| r.to - r.from >= 0.3 * (x1 - x0))
                .map(|r| r.at)
                .collect(),
        );
        if ys.len() < 2 {
            continue;
        }
        let tol = lattice::JOIN;
        // the text lines of each band between two consecutive rules
        let mut bands: Vec<(f32, f32, Vec<Line>)> = ys
            .windows(2)
            .map(|w| {
                let inside: Vec<&Char> = chars
                    .iter()
                    .copied()
                    .filter(|c| {
                        c.cy() > w[0] && c.cy() < w[1] && c.cx() >= x0 - tol && c.cx() <= x1 + tol
                    })
                    .collect();
                (w[0], w[1], text::lines(&inside, stream::GAP_EM))
            })
            .collect();
        // bands at the edges without any line of several chunks are titles, notes or the
        // page header caught between a page rule and the table: not rows
        let tabular = |b: &(f32, f32, Vec<Line>)| b.2.iter().any(|l| l.chunks.len() >= 2);
        while bands.last().is_some_and(|b| !tabular(b)) {
            bands.pop();
        }
        while bands.first().is_some_and(|b| !tabular(b)) {
            bands.remove(0);
        }
        if bands.is_empty() {
            continue;
        }
        let all: Vec<Line> = bands.iter().flat_map(|b| b.2.iter().cloned()).collect();
        let (ncols, cols) = match columns {
            Some(seps) => (seps.len() + 1, Vec::new()),
            None => {
                let cols = stream::column_intervals(&all);
                (cols.len().max(1), cols)
            }
        };
        let assign = |c: &text::Chunk| match columns {
            Some(seps) => seps.iter().filter(|&&s| s < c.cx()).count(),
            None => stream::column_of(c, &cols),
        };
        let mut rows: Vec<Vec<String>> = Vec::new();
        for (_, _, lines) in &bands {
            // lines of one band are lines of the same cells: joined with a line break, as
            // lattice does for text wrapped inside a ruled cell
            let mut cells: Vec<Vec<String>> = vec![Vec::new(); ncols];
            for l in lines {
                let mut on_line: Vec<String> = vec![String::new(); ncols];
                for c in &l.chunks {
                    let k = assign(c).min(ncols - 1);
                    if !on_line[k].is_empty() {
                        on_line[k].push(' ');
                    }
                    on_line[k].push_str(&c.text);
                }
                for (cell, t) in cells.iter_mut().zip(on_line) {
                    if !t.is_empty() {
                        cell.push(t);
                    }
                }
            }
            let row: Vec<String> = cells.into_iter().map(|c| c.join("\n")).collect();
            if row.iter().any(|c| !c.is_empty()) {
                rows.push(row);
            }
        }
        let mut cols = cols;
        if columns.is_none() {
            join_header_only_columns(&mut rows, &mut cols);
        }
        let ncols = rows.iter().map(Vec::len).max().unwrap_or(0);
        if ncols < 2 || filled(&rows) < 2 {
            continue;
        }
        let bbox = BBox {
            x0,
            top: bands[0].0,
            x1,
            bottom: bands[bands.len() - 1].1,
        };
        out.push(AxesTable { bbox, rows });
    }
    out
}

/// A header aligned unlike its column's body (a left-aligned region name over right-aligned
/// amounts) makes a text column filled only in the first row. Row bands tell it apart from a
/// real column: it joins the nearer neighbouring column that is empty in the first row.
fn join_header_only_columns(rows: &mut [Vec<String>], cols: &mut Vec<(f32, f32)>) {
    if rows.len() < 2 {
        return;
    }
    let header_only = |rows: &[Vec<String>], k: usize| {
        !rows[0][k].is_empty() && rows[1..].iter().all(|r| r[k].is_empty())
    };
    let body_only = |rows: &[Vec<String>], k: usize| {
        rows[0][k].is_empty() && rows[1..].iter().any(|r| !r[k].is_empty())
    };
    let mut k = 0;
    while k < cols.len() {
        if !header_only(rows, k) {
            k += 1;
            continue;
        }
        let gap = |j: usize| (cols[j].0 - cols[k].1).max(cols[k].0 - cols[j].1);
        let j = [k.checked_sub(1), Some(k + 1)]
            .into_iter()
            .flatten()
            .filter(|&j| j < cols.len() && body_only(rows, j))
            .min_by(|&a, &b| gap(a).total_cmp(&gap(b)));
        let Some(j) = j else {
            k += 1;
            continue;
        };
        rows[0][j] = std::mem::take(&mut rows[0][k]);
        for r in rows.iter_mut() {
            r.remove(k);
        }
        cols[j] = (cols[j].0.min(cols[k].0), cols[j].1.max(cols[k].1));
        cols.remove(k);
    }
}

/// Columns between vertical rules, rows from text lines (wrapped labels joined).
pub fn ruled_columns_text_rows(
    segments: &[Segment],
    chars: &[&Char],
    area: Option<&BBox>,
) -> Vec<AxesTable> {
    let mut out = Vec::new();
    for g in group(lattice::rules(segments, area, false)) {
        let top = g.iter().map(|r| r.from).fold(f32::MAX, f32::min);
        let bottom = g.iter().map(|r| r.to).fold(f32::MIN, f32::max);
        let xs = lattice::cluster(g.iter().map(|r| r.at).collect());
        // without a frame the first and last columns lie outside the rules: every glyph of
        // the rules' height belongs to the table (an `area` narrows it)
        let inside: Vec<&Char> = chars
            .iter()
            .copied()
            .filter(|c| c.cy() > top && c.cy() < bottom)
            .collect();
        let x0 = inside.iter().map(|c| c.x0).fold(xs[0], f32::min);
        let x1 = inside.iter().map(|c| c.x1).fold(xs[xs.len() - 1], f32::max);
        let mut rows: Vec<(f32, f32, Vec<String>)> = Vec::new();
        for line in text::group_lines(inside) {
            // cut at the rules, not at whitespace: cells of a tight ruled table may be closer
            // than a column gap
            let mut parts: Vec<Vec<&Char>> = vec![Vec::new(); xs.len() + 1];
            for c in &line {
                parts[xs.iter().filter(|&&x| x < c.cx()).count()].push(c);
            }
            let cells: Vec<String> = parts.iter().map(|p| text::join_text(p)).collect();
            let ink = line.iter().filter(|c| !c.text.is_whitespace());
            let (t, b) = ink.fold((f32::MAX, f32::MIN), |(t, b), c| {
                (t.min(c.top), b.max(c.bottom))
            });
            if cells.iter().any(|c| !c.is_empty()) {
                rows.push((t, b, cells));
            }
        }
        // columns outside a frame are empty: drop them first, so that the label column is
        // the first one when wrapped labels are joined
        let keep: Vec<bool> = (0..=xs.len())
            .map(|k| rows.iter().any(|r| !r.2[k].is_empty()))
            .collect();
        for r in rows.iter_mut() {
            let mut k = 0;
            r.2.retain(|_| {
                k += 1;
                keep[k - 1]
            });
        }
        let rows = stream::join_wrapped(rows);
        let ncols = rows.iter().map(Vec::len).max().unwrap_or(0);
        if rows.len() < 2 || ncols < 2 {
            continue;
        }
        out.push(AxesTable {
            bbox: BBox {
                x0,
                top,
                x1,
                bottom,
            },
            rows,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::model::{Boundaries, Char, Page, Segment, Strategy};
    use crate::{Options, extract_page};

    const SIZE: f32 = 10.0;
    /// Every glyph (spaces included) is half an em wide.
    const W: f32 = SIZE / 2.0;

    /// Places `s` with its left edge at `x` and its top at `top`.
    fn put(page: &mut Page, s: &str, x: f32, top: f32) {
        for (i, ch) in s.chars().enumerate() {
            let x0 = x + i as f32 * W;
            page.chars.push(Char {
                text: ch,
                x0,
                x1: x0 + W,
                top,
                bottom: top + SIZE,
                size: SIZE,
                font: "Helvetica".into(),
                mapped: true,
                rotation: 0.0,
            });
        }
    }

    /// Places `s` with its right edge at `x1`.
    fn put_right(page: &mut Page, s: &str, x1: f32, top: f32) {
        put(page, s, x1 - s.chars().count() as f32 * W, top);
    }

    fn hrule(page: &mut Page, x0: f32, x1: f32, y: f32) {
        page.segments.push(Segment {
            x0,
            y0: y,
            x1,
            y1: y,
        });
    }

    fn vrule(page: &mut Page, x: f32, y0: f32, y1: f32) {
        page.segments.push(Segment {
            x0: x,
            y0,
            x1: x,
            y1,
        });
    }

    fn run(page: &Page, strategy: Strategy) -> Vec<Vec<Vec<String>>> {
        let opts = Options {
            strategy,
            ..Default::default()
        };
        extract_page(page, &opts)
            .unwrap()
            .into_iter()
            .map(|t| t.rows)
            .collect()
    }

    fn rows(r: &[&[&str]]) -> Vec<Vec<String>> {
        r.iter()
            .map(|r| r.iter().map(|c| c.to_string()).collect())
            .collect()
    }

    /// Horizontal rules only, one between every row (a LibreOffice/Word export); the first
    /// cell of a row wraps onto a second line, top-aligned with the numbers.
    fn horizontal_rules_page() -> Page {
        let mut p = Page {
            number: 1,
            width: 595.0,
            height: 842.0,
            ..Default::default()
        };
        put(&mut p, "Tableau 2 - Communes", 50.0, 80.0);
        for y in [100.0, 120.0, 150.0, 170.0, 190.0] {
            hrule(&mut p, 45.0, 350.0, y);
        }
        put(&mut p, "Commune", 50.0, 105.0);
        put_right(&mut p, "Population", 250.0, 105.0);
        put_right(&mut p, "Budget", 340.0, 105.0);
        put(&mut p, "Saint-Martin-", 50.0, 123.0);
        put(&mut p, "de-Crau", 50.0, 136.0);
        put_right(&mut p, "11 512", 250.0, 123.0);
        put_right(&mut p, "1 234,5", 340.0, 123.0);
        put(&mut p, "Arles", 50.0, 155.0);
        put_right(&mut p, "52 000", 250.0, 155.0);
        put_right(&mut p, "9 876,0", 340.0, 155.0);
        put(&mut p, "Total", 50.0, 175.0);
        put_right(&mut p, "63 512", 250.0, 175.0);
        put_right(&mut p, "11 110,5", 340.0, 175.0);
        put(&mut p, "Source : DGCL.", 50.0, 200.0);
        p
    }

    #[test]
    fn columns_from_text_rows_from_rules() {
        let page = horizontal_rules_page();
        let strategy = "columns=text,rows=lines".parse().unwrap();
        assert_eq!(
            run(&page, strategy),
            vec![rows(&[
                &["Commune", "Population", "Budget"],
                &["Saint-Martin-\nde-Crau", "11 512", "1 234,5"],
                &["Arles", "52 000", "9 876,0"],
                &["Total", "63 512", "11 110,5"],
            ])]
        );
        // stream leaves the second line of the wrapped name as a row of its own, lattice finds
        // no grid at all
        let stream = run(&page, Strategy::Stream);
        assert_eq!(stream.len(), 1);
        assert!(
            stream[0].contains(&vec!["de-Crau".to_string(), String::new(), String::new()]),
            "{stream:?}"
        );
        assert!(run(&page, Strategy::Lattice).is_empty());
    }

    #[test]
    fn a_header_aligned_unlike_its_column_stays_in_it() {
        let mut p = Page {
            number: 1,
            ..Default::default()
        };
        for y in [100.0, 115.0, 130.0, 145.0] {
            hrule(&mut p, 45.0, 270.0, y);
        }
        put(&mut p, "Région", 50.0, 103.0);
        put(&mut p, "Montant", 150.0, 103.0);
        put(&mut p, "Corse", 50.0, 118.0);
        put_right(&mut p, "1 234,5", 260.0, 118.0);
        put(&mut p, "Guadeloupe", 50.0, 133.0);
        put_right(&mut p, "106 893,8", 260.0, 133.0);
        assert_eq!(
            run(&p, "columns=text,rows=lines".parse().unwrap()),
            vec![rows(&[
                &["Région", "Montant"],
                &["Corse", "1 234,5"],
                &["Guadeloupe", "106 893,8"],
            ])]
        );
    }

    /// Vertical rules between columns only, no horizontal rule and no frame; the two year
    /// columns are closer than a column gap, and a label wraps above and below its numbers.
    fn vertical_rules_page() -> Page {
        let mut p = Page {
            number: 1,
            width: 595.0,
            height: 842.0,
            ..Default::default()
        };
        put(&mut p, "Dépenses par collectivité", 50.0, 70.0);
        vrule(&mut p, 200.0, 95.0, 185.0);
        vrule(&mut p, 250.0, 95.0, 185.0);
        put(&mut p, "Collectivité", 50.0, 100.0);
        put_right(&mut p, "2023", 248.0, 100.0);
        put(&mut p, "2024", 252.0, 100.0);
        put(&mut p, "Arles", 50.0, 115.0);
        put_right(&mut p, "1 234", 248.0, 115.0);
        put(&mut p, "5 678", 252.0, 115.0);
        put(&mut p, "Communauté de", 50.0, 130.0);
        put(&mut p, "communes du", 50.0, 142.0);
        put_right(&mut p, "12 345", 248.0, 142.0);
        put(&mut p, "6 789", 252.0, 142.0);
        put(&mut p, "Pays d'Arles", 50.0, 154.0);
        put(&mut p, "Total", 50.0, 170.0);
        put_right(&mut p, "13 579", 248.0, 170.0);
        put(&mut p, "12 467", 252.0, 170.0);
        p
    }

    #[test]
    fn columns_from_rules_rows_from_text() {
        let page = vertical_rules_page();
        let strategy: Strategy = "rows=text, columns=lines".parse().unwrap();
        assert_eq!(
            strategy,
            Strategy::Axes {
                columns: Boundaries::Lines,
                rows: Boundaries::Text
            }
        );
        assert_eq!(
            run(&page, strategy),
            vec![rows(&[
                &["Collectivité", "2023", "2024"],
                &["Arles", "1 234", "5 678"],
                &["Communauté de communes du Pays d'Arles", "12 345", "6 789"],
                &["Total", "13 579", "12 467"],
            ])]
        );
        // from text alignment alone the two year columns run together
        let stream = run(&page, Strategy::Stream);
        assert!(
            stream
                .iter()
                .flatten()
                .flatten()
                .any(|c| c == "1 234 5 678"),
            "{stream:?}"
        );
        assert!(run(&page, Strategy::Lattice).is_empty());
    }

    #[test]
    fn a_frame_adds_no_empty_column() {
        let mut page = vertical_rules_page();
        vrule(&mut page, 45.0, 95.0, 185.0);
        vrule(&mut page, 300.0, 95.0, 185.0);
        let t = run(&page, "columns=lines,rows=text".parse().unwrap());
        assert_eq!(t.len(), 1);
        assert_eq!(t[0][2][0], "Communauté de communes du Pays d'Arles");
        assert_eq!(t[0][0].len(), 3);
    }

    #[test]
    fn strategy_syntax() {
        let p = |s: &str| s.parse::<Strategy>();
        assert_eq!(p("columns=lines,rows=lines"), Ok(Strategy::Lattice));
        assert_eq!(p("columns=text,rows=text"), Ok(Strategy::Stream));
        let axes = p("columns=text,rows=lines").unwrap();
        assert_eq!(axes.to_string(), "columns=text,rows=lines");
        assert_eq!(p(&axes.to_string()), Ok(axes));
        assert!(
            p("columns=line,rows=text")
                .unwrap_err()
                .contains("use lines or text")
        );
        assert!(p("columns=lines").unwrap_err().contains("give both axes"));
        assert!(
            p("cols=lines,rows=text")
                .unwrap_err()
                .contains("unknown axis")
        );
        assert!(p("latice").unwrap_err().contains("columns=lines|text"));
        // explicit separators cannot be used with columns from rules
        let opts = Options {
            strategy: axes_lines_text(),
            columns: Some(vec![100.0]),
            ..Default::default()
        };
        assert!(extract_page(&vertical_rules_page(), &opts).is_err());
    }

    fn axes_lines_text() -> Strategy {
        Strategy::axes(Boundaries::Lines, Boundaries::Text)
    }
}
