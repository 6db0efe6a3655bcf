//! Tables from the text layer of PDF files.
//!
//! ```no_run
//! let pdf = oc_pdf::open(std::path::Path::new("report.pdf"))?;
//! let tables = oc_pdf::extract(&pdf, &oc_pdf::Options::default())?;
//! for t in &tables {
//!     println!("page {} table {}: {} rows", t.page, t.index, t.rows.len());
//! }
//! # Ok::<(), oc_pdf::Error>(())
//! ```
//!
//! The PDF parser sits behind [`Backend`] (implemented with pdf_oxide); table finding works on
//! the neutral [`Page`] model: `lattice` builds the cell grid from ruling lines, `stream` from
//! whitespace-aligned text, `auto` uses lattice where the page is ruled and stream elsewhere;
//! [`Strategy::Axes`] takes columns from one source (rules or text) and rows from the other.

mod axes;
mod backend;
pub mod child;
mod lattice;
mod model;
mod nesting;
pub mod quality;
mod stitch;
mod stream;
mod text;

pub use backend::{Backend, OxideBackend, open};
pub use model::{BBox, Boundaries, Char, Page, Segment, Strategy, Table};
pub use quality::{ColumnKind, Quality, score};
pub use stitch::stitch;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error, Serialize, Deserialize)]
pub enum Error {
    #[error("cannot open PDF {0}")]
    Open(String),
    #[error("page {page} does not exist: the PDF has {pages} page(s)")]
    Page { page: usize, pages: usize },
    #[error("cannot read page {page}: {message}")]
    Read { page: usize, message: String },
    #[error(
        "page {page}: the text uses fonts without a Unicode mapping ({fonts}); its characters cannot be \
         read reliably. Ask the publisher for a text version or run OCR first; the PDF was not ingested"
    )]
    Unmapped { page: usize, fonts: String },
    #[error("invalid {what} `{value}`: {hint}")]
    Option {
        what: String,
        value: String,
        hint: String,
    },
    /// The reader process (child.rs) ended without an answer: killed, or aborted by a fault
    /// no panic handler sees (a stack overflow in the parser).
    #[error("the PDF reader stopped on this file ({0})")]
    Crashed(String),
    /// The reader process could not be started or answered (temporary files, the binary).
    #[error("the PDF reader could not run: {0}")]
    Reader(String),
    #[error("reading it took longer than the time limit ({0} s): the file is probably damaged")]
    TimedOut(f64),
    /// The reader process needed more memory than its limit (in MiB).
    #[error(
        "reading it needed more than the memory limit ({0} MiB): the file is probably damaged \
         or forged (a small file can unpack to gigabytes)"
    )]
    OutOfMemory(u64),
}

/// What to extract and how.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Options {
    /// The pages to read; all pages when `None`.
    pub pages: Option<Vec<PageRange>>,
    pub strategy: Strategy,
    /// Only look inside this box (displayed page frame, points from the top-left corner).
    pub area: Option<BBox>,
    /// Explicit column separators (x positions) for stream tables and tables whose columns
    /// come from text (an error when columns come from ruling lines).
    pub columns: Option<Vec<f32>>,
    /// Repeat the text of a spanning cell in every slot it covers (else top-left slot only).
    pub copy_spans: bool,
}

/// Pages `first` to `last`, 1-based and inclusive; `last` None: to the end of the document
/// (`3-`), whose page count is known once it is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRange {
    pub first: usize,
    pub last: Option<usize>,
}

impl PageRange {
    /// Page `n` alone.
    pub fn one(n: usize) -> PageRange {
        PageRange {
            first: n,
            last: Some(n),
        }
    }

    /// The page numbers `ranges` select in a document of `count` pages; a range past its end
    /// is an error naming the first page that does not exist.
    pub fn resolve(ranges: &[PageRange], count: usize) -> Result<Vec<usize>, Error> {
        let mut out = Vec::new();
        for r in ranges {
            let last = r.last.unwrap_or(count);
            if r.first > count || last > count {
                return Err(Error::Page {
                    page: last.max(r.first),
                    pages: count,
                });
            }
            out.extend(r.first..=last);
        }
        Ok(out)
    }
}

/// Parses `1,3-5,8-` into page ranges (checked against the document by [`extract`]).
pub fn parse_pages(spec: &str) -> Result<Vec<PageRange>, Error> {
    let bad = |hint: &str| Error::Option {
        what: "page list".into(),
        value: spec.to_string(),
        hint: hint.into(),
    };
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let first: usize = a
            .parse()
            .map_err(|_| bad("write page numbers and ranges such as 1,3-5"))?;
        let last: Option<usize> = if b.is_empty() {
            None
        } else {
            Some(
                b.parse()
                    .map_err(|_| bad("write page numbers and ranges such as 1,3-5"))?,
            )
        };
        if first == 0 || last.is_some_and(|last| last < first) {
            return Err(bad("pages count from 1 and ranges go upwards (3-5)"));
        }
        out.push(PageRange { first, last });
    }
    if out.is_empty() {
        return Err(bad("give at least one page"));
    }
    Ok(out)
}

/// Parses `x1,y1,x2,y2` (points, top-left origin of the displayed page).
pub fn parse_area(spec: &str) -> Result<BBox, Error> {
    let v: Vec<f32> = spec
        .split(',')
        .map(|s| s.trim().parse::<f32>())
        .collect::<Result<_, _>>()
        .map_err(|_| Error::Option {
            what: "area".into(),
            value: spec.into(),
            hint: "write x1,y1,x2,y2 in points".into(),
        })?;
    if v.len() != 4 || v.iter().any(|x| !x.is_finite()) {
        return Err(Error::Option {
            what: "area".into(),
            value: spec.into(),
            hint: "write four numbers x1,y1,x2,y2".into(),
        });
    }
    Ok(BBox {
        x0: v[0].min(v[2]),
        top: v[1].min(v[3]),
        x1: v[0].max(v[2]),
        bottom: v[1].max(v[3]),
    })
}

/// Extracts the tables of the selected pages, page by page, in reading order.
pub fn extract(pdf: &dyn Backend, opts: &Options) -> Result<Vec<Table>, Error> {
    let pages = match &opts.pages {
        Some(ranges) => PageRange::resolve(ranges, pdf.page_count())?,
        None => (1..=pdf.page_count()).collect(),
    };
    let mut out = Vec::new();
    for n in pages {
        let page = pdf.page(n)?;
        out.extend(extract_page(&page, opts)?);
    }
    Ok(out)
}

/// Rejects pages whose text comes from fonts without a Unicode mapping.
pub fn check_unicode(page: &Page) -> Result<(), Error> {
    let ink: Vec<&Char> = page
        .chars
        .iter()
        .filter(|c| !c.text.is_whitespace() || !c.mapped)
        .collect();
    if ink.is_empty() {
        return Ok(());
    }
    let bad: Vec<&Char> = ink.iter().copied().filter(|c| !c.mapped).collect();
    let readable = ink.iter().filter(|c| c.text.is_alphanumeric()).count();
    // a few stray codes (tabs drawn as glyphs, dingbat bullets) are tolerated; a page where
    // they outnumber letters and digits is unreadable
    if bad.len() >= 10 && bad.len() > readable {
        let mut fonts: Vec<&str> = bad.iter().map(|c| c.font.as_str()).collect();
        fonts.sort_unstable();
        fonts.dedup();
        return Err(Error::Unmapped {
            page: page.number,
            fonts: fonts.join(", "),
        });
    }
    Ok(())
}

/// A page whose text mostly runs sideways or upside down (a landscape table printed on a
/// portrait page without `/Rotate`) turned so that its text reads left to right.
fn upright_page(page: &Page) -> Option<Page> {
    let mut count = [0usize; 4];
    for c in page.chars.iter().filter(|c| !c.text.is_whitespace()) {
        let r = c.rotation / 90.0;
        if (r - r.round()).abs() < 0.05 {
            count[(r.round() as i64).rem_euclid(4) as usize] += 1;
        }
    }
    let total: usize = count.iter().sum();
    let (best, n) = count.iter().enumerate().max_by_key(|(_, n)| **n)?;
    if best == 0 || n * 2 <= total {
        return None;
    }
    let (w, h) = (page.width, page.height);
    let map = |x: f32, y: f32| -> (f32, f32) {
        match best {
            1 => (h - y, x),
            2 => (w - x, h - y),
            _ => (y, w - x),
        }
    };
    let mut out = page.clone();
    if best != 2 {
        out.width = h;
        out.height = w;
    }
    for c in out.chars.iter_mut() {
        let (a, b) = (map(c.x0, c.top), map(c.x1, c.bottom));
        (c.x0, c.x1, c.top, c.bottom) = (a.0.min(b.0), a.0.max(b.0), a.1.min(b.1), a.1.max(b.1));
        c.rotation = (c.rotation - 90.0 * best as f32).rem_euclid(360.0);
    }
    for s in out.segments.iter_mut() {
        let (a, b) = (map(s.x0, s.y0), map(s.x1, s.y1));
        *s = Segment {
            x0: a.0.min(b.0),
            y0: a.1.min(b.1),
            x1: a.0.max(b.0),
            y1: a.1.max(b.1),
        };
    }
    Some(out)
}

/// Tables of one page.
pub fn extract_page(page: &Page, opts: &Options) -> Result<Vec<Table>, Error> {
    check_unicode(page)?;
    // areas are given in the displayed frame: no turning then
    let turned = if opts.area.is_none() {
        upright_page(page)
    } else {
        None
    };
    let page = turned.as_ref().unwrap_or(page);
    let area = opts.area.as_ref();
    let chars: Vec<&Char> = match area {
        Some(a) => page
            .chars
            .iter()
            .filter(|c| a.contains_point(c.cx(), c.cy()))
            .collect(),
        None => page.chars.iter().collect(),
    };
    let strategy = opts.strategy.normalized();
    if let Strategy::Axes { columns, rows } = strategy {
        let tables = match columns {
            Boundaries::Text => {
                axes::text_columns_ruled_rows(&page.segments, &chars, area, opts.columns.as_deref())
            }
            Boundaries::Lines if opts.columns.is_some() => {
                return Err(Error::Option {
                    what: "strategy".into(),
                    value: strategy.to_string(),
                    hint: "explicit column separators replace text columns: drop them or take columns from text".into(),
                });
            }
            Boundaries::Lines => axes::ruled_columns_text_rows(&page.segments, &chars, area),
        };
        let mut found: Vec<Table> = tables
            .into_iter()
            .map(|t| table(page, t.bbox, Strategy::Axes { columns, rows }, t.rows))
            .collect();
        number(&mut found);
        return Ok(found);
    }
    let mut found: Vec<Table> = Vec::new();
    let mut taken: Vec<BBox> = Vec::new();
    if matches!(strategy, Strategy::Lattice | Strategy::Auto) && opts.columns.is_none() {
        for g in lattice::find_grids(&page.segments, area) {
            let rows = lattice::fill(&g, &chars, opts.copy_spans);
            // a ruled box around a paragraph or a single value is not a table
            let filled = rows.iter().flatten().filter(|c| !c.is_empty()).count();
            if rows.is_empty() || filled < 2 {
                continue;
            }
            taken.push(g.bbox);
            found.push(table(page, g.bbox, Strategy::Lattice, rows));
        }
    }
    let want_stream = matches!(strategy, Strategy::Stream | Strategy::Auto);
    if want_stream {
        let rest: Vec<&Char> = chars
            .iter()
            .copied()
            .filter(|c| !taken.iter().any(|b| b.contains_point(c.cx(), c.cy())))
            .collect();
        // in auto mode an area hint only frames lattice tables when the page has them
        let a = if taken.is_empty() { area } else { None };
        for t in stream::find(&rest, a, opts.columns.as_deref()) {
            found.push(table(page, t.bbox, Strategy::Stream, t.rows));
        }
    }
    number(&mut found);
    Ok(found)
}

/// Sorts the tables of a page in reading order and numbers them from 1.
fn number(found: &mut [Table]) {
    found.sort_by(|a, b| {
        // reading order: top to bottom, side-by-side tables left to right
        if a.bbox.bottom <= b.bbox.top || b.bbox.bottom <= a.bbox.top {
            a.bbox.top.total_cmp(&b.bbox.top)
        } else {
            a.bbox.x0.total_cmp(&b.bbox.x0)
        }
    });
    for (i, t) in found.iter_mut().enumerate() {
        t.index = i + 1;
    }
}

fn table(page: &Page, bbox: BBox, strategy: Strategy, rows: Vec<Vec<String>>) -> Table {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let rows = rows
        .into_iter()
        .map(|mut r| {
            r.resize(n, String::new());
            r
        })
        .collect();
    Table {
        page: page.number,
        last_page: page.number,
        index: 0,
        bbox,
        strategy,
        rows,
    }
}

/// Writes a table as RFC 4180 CSV.
pub fn to_csv(t: &Table) -> String {
    let mut s = String::new();
    for r in &t.rows {
        let cells: Vec<String> = r
            .iter()
            .map(|c| {
                if c.contains([',', '"', '\n', '\r']) {
                    format!("\"{}\"", c.replace('"', "\"\""))
                } else {
                    c.clone()
                }
            })
            .collect();
        s.push_str(&cells.join(","));
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_lists_are_ranges_checked_against_the_document_once_open() {
        let ranges = parse_pages("1, 3-4,6-").unwrap();
        assert_eq!(PageRange::resolve(&ranges, 7).unwrap(), [1, 3, 4, 6, 7]);
        // `6-` on five pages: page 6 is the first that does not exist.
        let err = PageRange::resolve(&ranges, 5).unwrap_err().to_string();
        assert_eq!(err, "page 6 does not exist: the PDF has 5 page(s)");
        let err = PageRange::resolve(&parse_pages("2-9").unwrap(), 4).unwrap_err();
        assert!(matches!(err, Error::Page { page: 9, pages: 4 }), "{err}");
        for bad in ["", ",", "0", "3-2", "a", "-3", "1-b"] {
            let err = parse_pages(bad).unwrap_err().to_string();
            assert!(err.starts_with("invalid page list"), "{bad}: {err}");
        }
    }
}
