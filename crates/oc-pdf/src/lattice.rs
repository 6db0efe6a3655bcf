//! Ruled tables: ruling segments → merged rules → intersections → cells → grids.

use crate::model::{BBox, Char, Segment};
use crate::text;

pub(crate) const SNAP: f32 = 2.5;
pub(crate) const JOIN: f32 = 3.0;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Rule {
    /// Fixed coordinate (y of a horizontal rule, x of a vertical one).
    pub at: f32,
    pub from: f32,
    pub to: f32,
}

/// Merges collinear segments (same coordinate within SNAP, gaps under JOIN).
pub(crate) fn merge(mut segs: Vec<Rule>) -> Vec<Rule> {
    segs.sort_by(|a, b| a.at.total_cmp(&b.at));
    // cluster by coordinate
    let mut groups: Vec<Vec<Rule>> = Vec::new();
    for s in segs {
        match groups.last_mut() {
            Some(g) if (s.at - g[0].at).abs() <= SNAP => g.push(s),
            _ => groups.push(vec![s]),
        }
    }
    let mut out = Vec::new();
    for mut g in groups {
        let at = g.iter().map(|r| r.at).sum::<f32>() / g.len() as f32;
        g.sort_by(|a, b| a.from.total_cmp(&b.from));
        let mut cur: Option<Rule> = None;
        for r in g {
            cur = match cur {
                Some(c) if r.from <= c.to + JOIN => Some(Rule {
                    at,
                    from: c.from,
                    to: c.to.max(r.to),
                }),
                Some(c) => {
                    out.push(c);
                    Some(Rule { at, ..r })
                }
                None => Some(Rule { at, ..r }),
            };
        }
        out.extend(cur);
    }
    out
}

/// Borders implied by the ends of `rules` (at least two rules ending at the same coordinate
/// with no crossing rule there), as rules of the other orientation.
fn implied(rules: &[Rule], cross: &[Rule]) -> Vec<Rule> {
    let mut out = Vec::new();
    for end in [true, false] {
        // only rules that cross a real rule of the other orientation: rules alone (booktabs
        // tables, underlines) do not make a grid
        let mut pts: Vec<(f32, f32)> = rules
            .iter()
            .filter(|r| {
                cross.iter().any(|c| {
                    c.at > r.from + JOIN
                        && c.at < r.to - JOIN
                        && r.at >= c.from - JOIN
                        && r.at <= c.to + JOIN
                })
            })
            .map(|r| (if end { r.to } else { r.from }, r.at))
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut i = 0;
        while i < pts.len() {
            let mut j = i + 1;
            while j < pts.len() && pts[j].0 - pts[i].0 <= SNAP {
                j += 1;
            }
            if j - i >= 2 {
                let at = pts[i..j].iter().map(|p| p.0).sum::<f32>() / (j - i) as f32;
                let mut ys: Vec<f32> = pts[i..j].iter().map(|p| p.1).collect();
                ys.sort_by(f32::total_cmp);
                // one border piece per pair of consecutive rules that a real crossing rule also
                // spans: two tables stacked with aligned ends stay apart
                for w in ys.windows(2) {
                    let spanned = cross
                        .iter()
                        .any(|c| c.from <= w[0] + JOIN && c.to >= w[1] - JOIN);
                    let covered = cross.iter().any(|c| {
                        (c.at - at).abs() <= JOIN && c.from <= w[0] + JOIN && c.to >= w[1] - JOIN
                    });
                    if spanned && !covered && w[1] - w[0] > 1.0 {
                        out.push(Rule {
                            at,
                            from: w[0],
                            to: w[1],
                        });
                    }
                }
            }
            i = j;
        }
    }
    out
}

/// A ruled grid found on the page: its cells with their grid spans.
#[derive(Debug, Clone)]
pub struct Grid {
    pub bbox: BBox,
    pub xs: Vec<f32>,
    pub ys: Vec<f32>,
    /// (row0, row1, col0, col1) half-open spans, plus the cell box.
    pub cells: Vec<(usize, usize, usize, usize, BBox)>,
}

/// Merged horizontal (or vertical) rules among `segments`, near `area` when given.
pub(crate) fn rules(segments: &[Segment], area: Option<&BBox>, horizontal: bool) -> Vec<Rule> {
    let inside = |s: &Segment| match area {
        Some(a) => {
            s.x1 >= a.x0 - 2.0
                && s.x0 <= a.x1 + 2.0
                && s.y1 >= a.top - 2.0
                && s.y0 <= a.bottom + 2.0
        }
        None => true,
    };
    merge(
        segments
            .iter()
            .filter(|s| inside(s))
            .filter_map(|s| {
                if horizontal && s.is_horizontal() {
                    Some(Rule {
                        at: (s.y0 + s.y1) / 2.0,
                        from: s.x0,
                        to: s.x1,
                    })
                } else if !horizontal && s.is_vertical() {
                    Some(Rule {
                        at: (s.x0 + s.x1) / 2.0,
                        from: s.y0,
                        to: s.y1,
                    })
                } else {
                    None
                }
            })
            .collect(),
    )
}

pub fn find_grids(segments: &[Segment], area: Option<&BBox>) -> Vec<Grid> {
    let hs = rules(segments, area, true);
    let vs = rules(segments, area, false);
    if hs.len() < 2 || vs.len() < 2 {
        return Vec::new();
    }
    // tables without an outer frame: rules that all end at the same place imply a border there
    let mut vs = vs;
    let mut hs = hs;
    let extra_v = implied(&hs, &vs);
    let extra_h = implied(&vs, &hs);
    vs = merge(vs.into_iter().chain(extra_v).collect());
    hs = merge(hs.into_iter().chain(extra_h).collect());
    // intersections: (x, y, h index, v index)
    let tol = JOIN;
    let mut pts: Vec<(f32, f32, usize, usize)> = Vec::new();
    for (vi, v) in vs.iter().enumerate() {
        for (hi, h) in hs.iter().enumerate() {
            if v.at >= h.from - tol
                && v.at <= h.to + tol
                && h.at >= v.from - tol
                && h.at <= v.to + tol
            {
                pts.push((v.at, h.at, hi, vi));
            }
        }
    }
    // cells: from each point, the smallest rectangle whose four edges are ruled
    let covers_h = |h: &Rule, xa: f32, xb: f32| h.from <= xa + tol && h.to >= xb - tol;
    let covers_v = |v: &Rule, ya: f32, yb: f32| v.from <= ya + tol && v.to >= yb - tol;
    let mut by_v: Vec<Vec<usize>> = vec![Vec::new(); vs.len()];
    let mut by_h: Vec<Vec<usize>> = vec![Vec::new(); hs.len()];
    for (i, p) in pts.iter().enumerate() {
        by_v[p.3].push(i);
        by_h[p.2].push(i);
    }
    for l in by_v.iter_mut() {
        l.sort_by(|&a, &b| pts[a].1.total_cmp(&pts[b].1));
    }
    for l in by_h.iter_mut() {
        l.sort_by(|&a, &b| pts[a].0.total_cmp(&pts[b].0));
    }
    let mut cells: Vec<BBox> = Vec::new();
    for &(x, y, hi, vi) in &pts {
        let below: Vec<usize> = by_v[vi]
            .iter()
            .copied()
            .filter(|&j| pts[j].1 > y + 1.0)
            .collect();
        let right: Vec<usize> = by_h[hi]
            .iter()
            .copied()
            .filter(|&j| pts[j].0 > x + 1.0)
            .collect();
        'outer: for &b in &below {
            let (_, by, bhi, _) = pts[b];
            if !covers_v(&vs[vi], y, by) {
                break;
            }
            for &r in &right {
                let (rx, _, _, rvi) = pts[r];
                if !covers_h(&hs[hi], x, rx) {
                    break;
                }
                // the opposite corner must exist and close the box
                if covers_v(&vs[rvi], y, by) && covers_h(&hs[bhi], x, rx) {
                    cells.push(BBox {
                        x0: x,
                        top: y,
                        x1: rx,
                        bottom: by,
                    });
                    break 'outer;
                }
            }
        }
    }
    // tables: cells connected through shared corners
    let n = cells.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(p: &mut [usize], i: usize) -> usize {
        let mut i = i;
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    let key = |x: f32, y: f32| ((x / SNAP).round() as i64, (y / SNAP).round() as i64);
    let mut corner_owner: std::collections::HashMap<(i64, i64), usize> =
        std::collections::HashMap::new();
    for (i, c) in cells.iter().enumerate() {
        for (x, y) in [
            (c.x0, c.top),
            (c.x1, c.top),
            (c.x0, c.bottom),
            (c.x1, c.bottom),
        ] {
            let k = key(x, y);
            match corner_owner.get(&k) {
                Some(&j) => {
                    let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                    parent[a] = b;
                }
                None => {
                    corner_owner.insert(k, i);
                }
            }
        }
    }
    let mut groups: std::collections::BTreeMap<usize, Vec<BBox>> = Default::default();
    for (i, cell) in cells.iter().enumerate() {
        let r = find(&mut parent, i);
        groups.entry(r).or_default().push(*cell);
    }
    let mut grids = Vec::new();
    for (_, cs) in groups {
        if cs.len() < 2 {
            continue;
        }
        let xs = cluster(cs.iter().flat_map(|c| [c.x0, c.x1]).collect());
        let ys = cluster(cs.iter().flat_map(|c| [c.top, c.bottom]).collect());
        let idx = |v: &[f32], a: f32| {
            v.iter()
                .enumerate()
                .min_by(|x, y| (x.1 - a).abs().total_cmp(&(y.1 - a).abs()))
                .map_or(0, |(i, _)| i)
        };
        let mut spans = Vec::new();
        for c in &cs {
            let (c0, c1, r0, r1) = (
                idx(&xs, c.x0),
                idx(&xs, c.x1),
                idx(&ys, c.top),
                idx(&ys, c.bottom),
            );
            if c1 > c0 && r1 > r0 {
                spans.push((r0, r1, c0, c1, *c));
            }
        }
        let bbox = BBox {
            x0: xs[0],
            top: ys[0],
            x1: *xs.last().unwrap_or(&xs[0]),
            bottom: *ys.last().unwrap_or(&ys[0]),
        };
        grids.push(Grid {
            bbox,
            xs,
            ys,
            cells: spans,
        });
    }
    grids
}

pub(crate) fn cluster(mut v: Vec<f32>) -> Vec<f32> {
    v.sort_by(f32::total_cmp);
    let mut out: Vec<(f32, usize)> = Vec::new();
    for x in v {
        match out.last_mut() {
            Some((m, n)) if x - *m / *n as f32 <= SNAP => {
                *m += x;
                *n += 1;
            }
            _ => out.push((x, 1)),
        }
    }
    out.into_iter().map(|(m, n)| m / n as f32).collect()
}

/// Fills a grid with text. A spanning cell's text goes to its top-left slot; with
/// `copy_spans` it is repeated in every slot it covers.
pub fn fill(grid: &Grid, chars: &[&Char], copy_spans: bool) -> Vec<Vec<String>> {
    let nr = grid.ys.len().saturating_sub(1);
    let nc = grid.xs.len().saturating_sub(1);
    let mut rows = vec![vec![String::new(); nc]; nr];
    let mut local: Vec<&Char> = chars
        .iter()
        .copied()
        .filter(|c| grid.bbox.contains_point(c.cx(), c.cy()))
        .collect();
    local.sort_by(|a, b| a.top.total_cmp(&b.top));
    for &(r0, r1, c0, c1, b) in &grid.cells {
        let t = text::text_in(&local, &b);
        if t.is_empty() {
            continue;
        }
        if copy_spans {
            for row in rows.iter_mut().take(r1).skip(r0) {
                for cell in row.iter_mut().take(c1).skip(c0) {
                    *cell = t.clone();
                }
            }
        } else if rows[r0][c0].is_empty() {
            rows[r0][c0] = t;
        }
    }
    rows.retain(|r| r.iter().any(|c| !c.is_empty()));
    rows
}
