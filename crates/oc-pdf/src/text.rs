//! Glyphs to text lines and chunks (runs of words separated by less than a column gap).

use crate::model::{BBox, Char};

/// A run of glyphs on one line, separated from its neighbours by at least a column gap.
#[derive(Debug, Clone)]
pub struct Chunk {
    pub text: String,
    pub x0: f32,
    pub x1: f32,
    pub top: f32,
    pub bottom: f32,
}

impl Chunk {
    pub fn cx(&self) -> f32 {
        (self.x0 + self.x1) / 2.0
    }
}

#[derive(Debug, Clone)]
pub struct Line {
    pub top: f32,
    pub bottom: f32,
    pub chunks: Vec<Chunk>,
}

impl Line {
    pub fn x0(&self) -> f32 {
        self.chunks.first().map_or(0.0, |c| c.x0)
    }
    pub fn x1(&self) -> f32 {
        self.chunks.last().map_or(0.0, |c| c.x1)
    }
}

/// Upright glyphs only: rotated text (vertical headers, watermarks) is not table body text.
pub fn upright(c: &Char) -> bool {
    let r = c.rotation.rem_euclid(360.0);
    !(5.0..=355.0).contains(&r)
}

/// Groups glyphs into lines (by vertical overlap), sorted top to bottom, glyphs left to right.
pub fn group_lines<'a>(chars: impl IntoIterator<Item = &'a Char>) -> Vec<Vec<&'a Char>> {
    let mut cs: Vec<&Char> = chars.into_iter().filter(|c| upright(c)).collect();
    cs.sort_by(|a, b| a.cy().total_cmp(&b.cy()).then(a.x0.total_cmp(&b.x0)));
    let mut lines: Vec<(f32, f32, Vec<&Char>)> = Vec::new();
    for c in cs {
        let h = (c.bottom - c.top).max(0.1);
        // join the line whose vertical band overlaps this glyph the most
        let mut best: Option<(usize, f32)> = None;
        for (i, (top, bottom, _)) in lines.iter().enumerate().rev().take(4) {
            let ov = c.bottom.min(*bottom) - c.top.max(*top);
            let lh = (*bottom - *top).max(0.1);
            if ov > 0.5 * h.min(lh) && best.is_none_or(|(_, o)| ov > o) {
                best = Some((i, ov));
            }
        }
        match best {
            Some((i, _)) => {
                let l = &mut lines[i];
                // keep the band of the line's dominant glyphs: superscripts must not widen it
                if h >= 0.7 * (l.1 - l.0) {
                    l.0 = l.0.min(c.top);
                    l.1 = l.1.max(c.bottom);
                }
                l.2.push(c);
            }
            None => lines.push((c.top, c.bottom, vec![c])),
        }
    }
    let mut out: Vec<Vec<&Char>> = lines
        .into_iter()
        .map(|(_, _, mut v)| {
            v.sort_by(|a, b| a.x0.total_cmp(&b.x0));
            dedup_overlapping(v)
        })
        .collect();
    out.sort_by(|a, b| {
        let ya = a.iter().map(|c| c.cy()).sum::<f32>() / a.len() as f32;
        let yb = b.iter().map(|c| c.cy()).sum::<f32>() / b.len() as f32;
        ya.total_cmp(&yb)
    });
    out
}

/// Some generators draw bold text twice at a tiny offset: keep one copy.
fn dedup_overlapping(v: Vec<&Char>) -> Vec<&Char> {
    let mut out: Vec<&Char> = Vec::with_capacity(v.len());
    for c in v {
        if let Some(p) = out.last()
            && p.text == c.text
            && (p.x0 - c.x0).abs() < 0.3 * (c.x1 - c.x0).max(0.5)
            && (p.top - c.top).abs() < 1.0
            && !c.text.is_whitespace()
        {
            continue;
        }
        out.push(c);
    }
    out
}

/// Text of a left-to-right glyph run, with spaces where the PDF has gaps but no space glyph.
pub fn join_text(chars: &[&Char]) -> String {
    let mut s = String::new();
    let mut prev: Option<&Char> = None;
    for c in chars {
        if let Some(p) = prev {
            let gap = c.x0 - p.x1;
            let size = c.size.max(p.size).max(1.0);
            if gap > 0.15 * size && !p.text.is_whitespace() && !c.text.is_whitespace() {
                s.push(' ');
            }
        }
        s.push(c.text);
        prev = Some(c);
    }
    collapse_ws(&logical_order(&s))
}

fn is_rtl(c: char) -> bool {
    matches!(c, '\u{0590}'..='\u{08FF}' | '\u{FB1D}'..='\u{FDFF}' | '\u{FE70}'..='\u{FEFF}')
}

/// Glyphs come in visual (left-to-right) order; Hebrew or Arabic text is stored right to left.
/// A run that is mostly right-to-left letters is reversed, then its digit and Latin runs are
/// turned back (numbers inside Hebrew text read left to right).
fn logical_order(s: &str) -> String {
    let rtl = s.chars().filter(|c| is_rtl(*c)).count();
    let ltr = s
        .chars()
        .filter(|c| c.is_alphabetic() && !is_rtl(*c))
        .count();
    if rtl == 0 || rtl <= ltr {
        return s.to_string();
    }
    let rev: Vec<char> = s.chars().rev().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < rev.len() {
        if rev[i].is_ascii_alphanumeric() {
            let mut j = i;
            while j < rev.len()
                && (rev[j].is_ascii_alphanumeric()
                    || ((rev[j] == '.' || rev[j] == ',')
                        && j + 1 < rev.len()
                        && rev[j + 1].is_ascii_alphanumeric()))
            {
                j += 1;
            }
            out.extend(rev[i..j].iter().rev());
            i = j;
        } else {
            let c = match rev[i] {
                '(' => ')',
                ')' => '(',
                c => c,
            };
            out.push(c);
            i += 1;
        }
    }
    out
}

pub fn collapse_ws(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    // NBSP / U+202F become plain spaces: French number parsing accepts both, and labels read
    // better without them
    for w in s.split(char::is_whitespace) {
        if w.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

/// Splits one line of glyphs into chunks wherever the horizontal gap exceeds `gap_em` times
/// the font size (spaces count as gap).
pub fn chunks(line: &[&Char], gap_em: f32) -> Vec<Chunk> {
    let mut out = Vec::new();
    let mut cur: Vec<&Char> = Vec::new();
    let mut last_ink: Option<&Char> = None;
    let flush = |cur: &mut Vec<&Char>, out: &mut Vec<Chunk>| {
        let ink: Vec<&Char> = cur
            .iter()
            .copied()
            .filter(|c| !c.text.is_whitespace())
            .collect();
        if let (Some(f), Some(l)) = (ink.first(), ink.last()) {
            let text = join_text(cur);
            if !text.is_empty() {
                out.push(Chunk {
                    text,
                    x0: f.x0,
                    x1: l.x1,
                    top: ink.iter().map(|c| c.top).fold(f32::MAX, f32::min),
                    bottom: ink.iter().map(|c| c.bottom).fold(f32::MIN, f32::max),
                });
            }
        }
        cur.clear();
    };
    for c in line {
        if c.text.is_whitespace() && c.text != '\u{a0}' && c.text != '\u{202f}' {
            cur.push(c);
            continue;
        }
        if let Some(p) = last_ink {
            let size = c.size.max(p.size).max(1.0);
            if c.x0 - p.x1 > gap_em * size {
                flush(&mut cur, &mut out);
            }
        }
        cur.push(c);
        last_ink = Some(c);
    }
    flush(&mut cur, &mut out);
    out
}

pub fn lines(chars: &[&Char], gap_em: f32) -> Vec<Line> {
    group_lines(chars.iter().copied())
        .into_iter()
        .filter_map(|l| {
            let cs = chunks(&l, gap_em);
            if cs.is_empty() {
                return None;
            }
            let top = cs.iter().map(|c| c.top).fold(f32::MAX, f32::min);
            let bottom = cs.iter().map(|c| c.bottom).fold(f32::MIN, f32::max);
            Some(Line {
                top,
                bottom,
                chunks: cs,
            })
        })
        .collect()
}

/// Text inside a box: lines joined by `\n`.
pub fn text_in(chars: &[&Char], bbox: &BBox) -> String {
    let inside: Vec<&Char> = chars
        .iter()
        .copied()
        .filter(|c| bbox.contains_point(c.cx(), c.cy()))
        .collect();
    let lines = group_lines(inside);
    lines
        .iter()
        .map(|l| join_text(l))
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn hebrew_in_logical_order() {
        assert_eq!(super::logical_order("שפנל - לכה ךס"), "סך הכל - לנפש");
        assert_eq!(super::logical_order("2014 תנש"), "שנת 2014");
        assert_eq!(super::logical_order("Total 12"), "Total 12");
    }
}
