//! Unruled tables: text lines → table regions → whitespace-aligned columns → rows, with
//! wrapped labels joined to the row whose numbers they surround.

use crate::model::{BBox, Char};
use crate::text::{self, Chunk, Line};

/// Gap (in em) that separates two chunks of a line; smaller gaps are word spaces.
pub(crate) const GAP_EM: f32 = 0.55;

pub struct StreamTable {
    pub bbox: BBox,
    pub rows: Vec<Vec<String>>,
}

/// Finds unruled tables among `chars`. With `area` the whole area is one table.
/// `columns` are explicit column separators (x positions).
pub fn find(chars: &[&Char], area: Option<&BBox>, columns: Option<&[f32]>) -> Vec<StreamTable> {
    let local: Vec<&Char> = match area {
        Some(a) => chars
            .iter()
            .copied()
            .filter(|c| a.contains_point(c.cx(), c.cy()))
            .collect(),
        None => chars.to_vec(),
    };
    let lines = text::lines(&local, GAP_EM);
    if lines.is_empty() {
        return Vec::new();
    }
    let regions: Vec<Vec<Line>> = if area.is_some() || columns.is_some() {
        vec![lines]
    } else {
        regions(lines)
    };
    regions
        .into_iter()
        .filter_map(|ls| {
            let bbox = BBox {
                x0: ls.iter().map(Line::x0).fold(f32::MAX, f32::min),
                top: ls[0].top,
                x1: ls.iter().map(Line::x1).fold(f32::MIN, f32::max),
                bottom: ls.iter().map(|l| l.bottom).fold(f32::MIN, f32::max),
            };
            let mut rows = build(&ls, columns);
            if area.is_none() && columns.is_none() {
                trim_notes(&mut rows);
            }
            if rows.is_empty() || (columns.is_none() && area.is_none() && is_list(&rows)) {
                None
            } else {
                Some(StreamTable { bbox, rows })
            }
        })
        .collect()
}

fn is_numeric(s: &str) -> bool {
    let t: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let t = t.trim_end_matches(['%', '*']);
    let t = t
        .trim_start_matches(['-', '+', '\u{2212}', '(', '$', '€'])
        .trim_end_matches(')');
    !t.is_empty()
        && t.chars().any(|c| c.is_ascii_digit())
        && t.chars()
            .all(|c| c.is_ascii_digit() || ".,'\u{a0}\u{202f}".contains(c))
}

/// Titles and notes caught at the edges of a detected region: a row whose only cell is prose
/// (six words or more) is not part of the table.
fn trim_notes(rows: &mut Vec<Vec<String>>) {
    let prose = |r: &Vec<String>| {
        let filled: Vec<&String> = r.iter().filter(|c| !c.is_empty()).collect();
        filled.len() == 1 && filled[0].split_whitespace().count() >= 6
    };
    while rows.last().is_some_and(prose) {
        rows.pop();
    }
    while rows.first().is_some_and(prose) {
        rows.remove(0);
    }
}

/// A bulleted or dashed list (a column of bullet glyphs next to one column of prose) looks
/// like a two-column table but is not one.
fn is_list(rows: &[Vec<String>]) -> bool {
    let bullet = |c: &String| {
        let n = c.chars().count();
        n <= 1 || (n <= 2 && !c.chars().any(char::is_alphanumeric))
    };
    let ncols = rows.iter().map(Vec::len).max().unwrap_or(0);
    ncols <= 2 && rows.iter().all(|r| r.first().is_none_or(bullet))
}

/// Splits the page's lines into table regions: runs of multi-chunk lines, with single-chunk
/// lines kept when they sit inside a run (section labels, wrapped text).
fn regions(lines: Vec<Line>) -> Vec<Vec<Line>> {
    let n = lines.len();
    let multi: Vec<bool> = lines.iter().map(|l| l.chunks.len() >= 2).collect();
    let heights: Vec<f32> = lines.iter().map(|l| l.bottom - l.top).collect();
    let mut med_h = heights.clone();
    med_h.sort_by(f32::total_cmp);
    let med_h = med_h[med_h.len() / 2].max(1.0);
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        if !multi[i] {
            i += 1;
            continue;
        }
        let start = i;
        let mut end = i; // inclusive, last multi line
        let mut j = i + 1;
        while j < n {
            let gap = lines[j].top - lines[j - 1].bottom;
            if gap > 2.5 * med_h {
                break;
            }
            if multi[j] {
                end = j;
            } else if j - end > 3 {
                break;
            }
            j += 1;
        }
        // a region of a single multi-chunk line is not a table
        let count = (start..=end).filter(|&k| multi[k]).count();
        if count >= 2 {
            out.push(lines[start..=end].to_vec());
        }
        i = end + 1;
    }
    // a region whose lines are mostly prose (two chunks only because of justification) is
    // dropped by requiring a column that several lines share
    out.into_iter().filter(|r| has_aligned_columns(r)).collect()
}

fn has_aligned_columns(r: &[Line]) -> bool {
    let multi: Vec<&Line> = r.iter().filter(|l| l.chunks.len() >= 2).collect();
    if multi.len() < 2 {
        return false;
    }
    // some non-first chunk starts or ends where a chunk of another line does
    let mut hits = 0;
    for (i, a) in multi.iter().enumerate() {
        let mut found = false;
        for b in multi.iter().skip(i + 1).take(3) {
            for ca in a.chunks.iter().skip(1) {
                if b.chunks
                    .iter()
                    .skip(1)
                    .any(|cb| (ca.x0 - cb.x0).abs() < 3.0 || (ca.x1 - cb.x1).abs() < 3.0)
                {
                    found = true;
                }
            }
        }
        if found {
            hits += 1;
        }
    }
    hits * 2 >= multi.len().saturating_sub(1)
}

/// Column intervals from the chunks of the lines that have the most chunks.
pub(crate) fn column_intervals(lines: &[Line]) -> Vec<(f32, f32)> {
    let mut counts: Vec<usize> = lines
        .iter()
        .map(|l| l.chunks.len())
        .filter(|&c| c >= 2)
        .collect();
    if counts.is_empty() {
        counts = lines.iter().map(|l| l.chunks.len()).collect();
    }
    counts.sort_unstable();
    let median = counts[counts.len() / 2];
    let mut iv: Vec<(f32, f32)> = lines
        .iter()
        .filter(|l| l.chunks.len() >= median)
        .flat_map(|l| l.chunks.iter().map(|c| (c.x0, c.x1)))
        .collect();
    let mut cols = merge_intervals(&mut iv);
    // chunks of the other lines that fall in no column open a column of their own, unless
    // they straddle several columns (spanning headers)
    let mut extra: Vec<(f32, f32)> = Vec::new();
    for l in lines.iter().filter(|l| l.chunks.len() < median) {
        for c in &l.chunks {
            let hit = cols.iter().filter(|(a, b)| c.x0 < *b && c.x1 > *a).count();
            if hit == 0 {
                extra.push((c.x0, c.x1));
            }
        }
    }
    if !extra.is_empty() {
        let mut extra_merged = merge_intervals(&mut extra);
        // an extra interval that now overlaps a column is a spanning chunk: ignore it
        extra_merged.retain(|(a, b)| !cols.iter().any(|(x, y)| a < y && b > x));
        cols.extend(extra_merged);
        cols.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    cols
}

fn merge_intervals(iv: &mut [(f32, f32)]) -> Vec<(f32, f32)> {
    iv.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out: Vec<(f32, f32)> = Vec::new();
    for &(a, b) in iv.iter() {
        match out.last_mut() {
            Some(last) if a < last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// Column of a chunk: the first column it overlaps (a spanning chunk's text goes to the
/// leftmost column it covers), else the nearest.
pub(crate) fn column_of(c: &Chunk, cols: &[(f32, f32)]) -> usize {
    let mut best = 0;
    let mut best_ov = f32::MIN;
    for (i, (a, b)) in cols.iter().enumerate() {
        let ov = c.x1.min(*b) - c.x0.max(*a);
        if ov > 0.0 && ov >= 0.3 * (c.x1 - c.x0).min(*b - *a) {
            return i;
        }
        if ov > best_ov {
            best_ov = ov;
            best = i;
        }
    }
    best
}

fn build(lines: &[Line], columns: Option<&[f32]>) -> Vec<Vec<String>> {
    type Assign = Box<dyn Fn(&Chunk) -> usize>;
    let (ncols, assign): (usize, Assign) = match columns {
        Some(seps) => {
            let mut seps = seps.to_vec();
            seps.sort_by(f32::total_cmp);
            let n = seps.len() + 1;
            (
                n,
                Box::new(move |c: &Chunk| seps.iter().filter(|&&s| s < c.cx()).count()),
            )
        }
        None => {
            let cols = column_intervals(lines);
            (
                cols.len().max(1),
                Box::new(move |c: &Chunk| column_of(c, &cols)),
            )
        }
    };
    // one row per line
    let mut rows: Vec<(f32, f32, Vec<String>)> = Vec::new();
    for l in lines {
        let mut cells = vec![String::new(); ncols];
        for c in &l.chunks {
            // with explicit separators a chunk may need splitting at word level; chunks are
            // word runs, so split them on separators they cross
            let k = assign(c).min(ncols - 1);
            if !cells[k].is_empty() {
                cells[k].push(' ');
            }
            cells[k].push_str(&c.text);
        }
        rows.push((l.top, l.bottom, cells));
    }
    join_wrapped(rows)
}

/// Labels wrapped over several lines around a line of numbers (vertically centred) become one
/// row: label-only lines directly above and below a data line, equally many on each side.
pub(crate) fn join_wrapped(rows: Vec<(f32, f32, Vec<String>)>) -> Vec<Vec<String>> {
    let n = rows.len();
    // A wrapped label's extra lines have text in one column only (the label's, not always
    // the first: `Code | Libellé | amounts…`), and that text is not a number.
    let label_col = |r: &Vec<String>| {
        let mut filled = r.iter().enumerate().filter(|(_, c)| !c.is_empty());
        match (filled.next(), filled.next()) {
            (Some((c, text)), None) if !is_numeric(text) => Some(c),
            _ => None,
        }
    };
    let data = |r: &Vec<String>| r.iter().skip(1).any(|c| is_numeric(c));
    let line_h: Vec<f32> = rows.iter().map(|r| r.1 - r.0).collect();
    let tight = |a: usize, b: usize| {
        let gap = rows[b].0 - rows[a].1;
        gap < 0.6 * line_h[a].max(line_h[b])
    };
    // For each line: the data line it belongs to, and the label's column.
    let mut merged_into: Vec<Option<(usize, usize)>> = vec![None; n];
    for i in 0..n {
        if !data(&rows[i].2) {
            continue;
        }
        // the label column is the one of the nearest label-only line, above or below
        let col = [i.checked_sub(1), Some(i + 1)]
            .into_iter()
            .flatten()
            .filter(|&j| j < n)
            .find_map(|j| label_col(&rows[j].2));
        let Some(col) = col else {
            continue;
        };
        let same = |j: usize| label_col(&rows[j].2) == Some(col);
        let mut up = 0;
        while i > up
            && same(i - up - 1)
            && merged_into[i - up - 1].is_none()
            && tight(i - up - 1, i - up)
        {
            up += 1;
        }
        let mut down = 0;
        while i + down + 1 < n && same(i + down + 1) && tight(i + down, i + down + 1) {
            down += 1;
        }
        // centred on its numbers: as many lines above as below
        let k = up.min(down);
        if k == 0 {
            continue;
        }
        for m in merged_into.iter_mut().take(i + k + 1).skip(i - k) {
            *m = Some((i, col));
        }
        merged_into[i] = None;
    }
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut pending: Vec<String> = Vec::new();
    let mut i = 0;
    while i < n {
        match merged_into[i] {
            Some((t, c)) if t > i => pending.push(rows[i].2.get(c).cloned().unwrap_or_default()),
            Some((_, c)) => {
                // below the data line: append to the row just emitted
                if let (Some(cell), Some(more)) = (
                    out.last_mut().and_then(|last| last.get_mut(c)),
                    rows[i].2.get(c),
                ) {
                    cell.push(' ');
                    cell.push_str(more);
                }
            }
            None => {
                let mut r = rows[i].2.clone();
                if !pending.is_empty() {
                    let c = merged_into[i - 1].map_or(0, |(_, c)| c);
                    if let Some(cell) = r.get_mut(c) {
                        let mut label = pending.join(" ");
                        if !cell.is_empty() {
                            label.push(' ');
                            label.push_str(cell);
                        }
                        *cell = label;
                    }
                    pending.clear();
                }
                out.push(r);
            }
        }
        i += 1;
    }
    // drop columns that ended up empty
    let nc = out.iter().map(Vec::len).max().unwrap_or(0);
    let keep: Vec<bool> = (0..nc)
        .map(|c| out.iter().any(|r| r.get(c).is_some_and(|s| !s.is_empty())))
        .collect();
    out.into_iter()
        .map(|r| {
            r.into_iter()
                .enumerate()
                .filter(|(i, _)| keep[*i])
                .map(|(_, s)| s)
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::is_numeric;
    #[test]
    fn numbers() {
        assert!(is_numeric("12 345,6"));
        assert!(is_numeric("−3,2"));
        assert!(is_numeric("(35,8)"));
        assert!(!is_numeric("Total"));
    }
}
