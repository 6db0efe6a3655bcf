//! Backend-neutral page model. All coordinates are PDF points in the *displayed* page frame:
//! origin at the top-left corner after `/Rotate` is applied, x to the right, y downwards
//! (the tabula convention used by `area` hints).

use serde::{Deserialize, Serialize};

/// One glyph with its box and font.
#[derive(Debug, Clone, PartialEq)]
pub struct Char {
    pub text: char,
    pub x0: f32,
    pub x1: f32,
    pub top: f32,
    pub bottom: f32,
    pub size: f32,
    pub font: String,
    /// False when the glyph's font has no usable Unicode mapping (text is a guess).
    pub mapped: bool,
    /// Text direction in the displayed frame, in degrees (0 = left to right, upright).
    pub rotation: f32,
}

impl Char {
    pub fn cx(&self) -> f32 {
        (self.x0 + self.x1) / 2.0
    }
    pub fn cy(&self) -> f32 {
        (self.top + self.bottom) / 2.0
    }
}

/// A horizontal or vertical ruling (rectangle edges are split into four segments).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
}

impl Segment {
    pub fn is_horizontal(&self) -> bool {
        (self.y1 - self.y0).abs() < 1.0 && (self.x1 - self.x0).abs() >= 1.0
    }
    pub fn is_vertical(&self) -> bool {
        (self.x1 - self.x0).abs() < 1.0 && (self.y1 - self.y0).abs() >= 1.0
    }
}

/// A rectangle `x0,top,x1,bottom` in the displayed frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BBox {
    pub x0: f32,
    pub top: f32,
    pub x1: f32,
    pub bottom: f32,
}

impl BBox {
    pub fn contains_point(&self, x: f32, y: f32) -> bool {
        x >= self.x0 && x <= self.x1 && y >= self.top && y <= self.bottom
    }
    pub fn width(&self) -> f32 {
        self.x1 - self.x0
    }
    pub fn height(&self) -> f32 {
        self.bottom - self.top
    }
}

/// Everything the table finders need from one page.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// 1-based page number.
    pub number: usize,
    pub width: f32,
    pub height: f32,
    /// `/Rotate` of the page (0, 90, 180, 270), already applied to the coordinates.
    pub rotation: i32,
    pub chars: Vec<Char>,
    pub segments: Vec<Segment>,
}

/// A table as a grid of cell texts plus where it was found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// 1-based page number (first page for stitched tables).
    pub page: usize,
    /// Last page the table covers (equals `page` unless stitched).
    pub last_page: usize,
    /// 1-based index among the tables of the page, in reading order.
    pub index: usize,
    pub bbox: BBox,
    pub strategy: Strategy,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// A stream table of `rows` on `page` (tests of the steps after extraction).
    #[cfg(test)]
    pub(crate) fn of_rows(page: usize, index: usize, rows: &[&[&str]]) -> Table {
        Table {
            page,
            last_page: page,
            index,
            bbox: BBox {
                x0: 0.0,
                top: 0.0,
                x1: 1.0,
                bottom: 1.0,
            },
            strategy: Strategy::Stream,
            rows: rows
                .iter()
                .map(|r| r.iter().map(|s| s.to_string()).collect())
                .collect(),
        }
    }

    pub fn n_cols(&self) -> usize {
        self.rows.iter().map(Vec::len).max().unwrap_or(0)
    }
}

/// Where the boundaries along one axis come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Boundaries {
    /// Ruling lines (vertical rules for columns, horizontal rules for rows).
    Lines,
    /// Text: aligned chunks for columns, text lines for rows.
    Text,
}

impl Boundaries {
    fn name(self) -> &'static str {
        match self {
            Boundaries::Lines => "lines",
            Boundaries::Text => "text",
        }
    }
}

impl std::str::FromStr for Boundaries {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "lines" => Ok(Boundaries::Lines),
            "text" => Ok(Boundaries::Text),
            other => Err(format!("unknown boundaries `{other}`: use lines or text")),
        }
    }
}

/// How table structure is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Strategy {
    /// Ruling lines form the cell grid.
    Lattice,
    /// Whitespace-aligned text columns.
    Stream,
    /// Lattice where the page has a ruled grid, stream elsewhere.
    #[default]
    Auto,
    /// Column boundaries from one source, row boundaries from another. `Lines`/`Lines` is
    /// [`Strategy::Lattice`] and `Text`/`Text` is [`Strategy::Stream`]; [`Strategy::axes`]
    /// returns those for them.
    Axes {
        columns: Boundaries,
        rows: Boundaries,
    },
}

impl Strategy {
    /// The strategy taking columns and rows from the given sources.
    pub fn axes(columns: Boundaries, rows: Boundaries) -> Strategy {
        match (columns, rows) {
            (Boundaries::Lines, Boundaries::Lines) => Strategy::Lattice,
            (Boundaries::Text, Boundaries::Text) => Strategy::Stream,
            (columns, rows) => Strategy::Axes { columns, rows },
        }
    }

    /// Same-source `Axes` as lattice or stream.
    pub fn normalized(self) -> Strategy {
        match self {
            Strategy::Axes { columns, rows } => Strategy::axes(columns, rows),
            s => s,
        }
    }
}

const STRATEGY_HINT: &str = "use lattice, stream, auto, or columns=lines|text,rows=lines|text (e.g. columns=text,rows=lines)";

impl std::str::FromStr for Strategy {
    type Err = String;
    /// `lattice`, `stream`, `auto`, or `columns=lines,rows=text` (keys in any order).
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "lattice" => return Ok(Strategy::Lattice),
            "stream" => return Ok(Strategy::Stream),
            "auto" => return Ok(Strategy::Auto),
            _ => {}
        }
        if !s.contains('=') {
            return Err(format!("unknown strategy `{s}`: {STRATEGY_HINT}"));
        }
        let (mut columns, mut rows) = (None, None);
        for part in s.split(',') {
            let Some((k, v)) = part.split_once('=') else {
                return Err(format!(
                    "strategy `{s}`: `{part}` is not key=value; {STRATEGY_HINT}"
                ));
            };
            let b: Boundaries = v.parse().map_err(|e| format!("strategy `{s}`: {e}"))?;
            let slot = match k.trim() {
                "columns" => &mut columns,
                "rows" => &mut rows,
                other => {
                    return Err(format!(
                        "strategy `{s}`: unknown axis `{other}`: use columns and rows"
                    ));
                }
            };
            if slot.replace(b).is_some() {
                return Err(format!("strategy `{s}`: `{}` is given twice", k.trim()));
            }
        }
        match (columns, rows) {
            (Some(c), Some(r)) => Ok(Strategy::axes(c, r)),
            _ => Err(format!(
                "strategy `{s}`: give both axes, e.g. columns=text,rows=lines"
            )),
        }
    }
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Strategy::Lattice => f.write_str("lattice"),
            Strategy::Stream => f.write_str("stream"),
            Strategy::Auto => f.write_str("auto"),
            Strategy::Axes { columns, rows } => {
                write!(f, "columns={},rows={}", columns.name(), rows.name())
            }
        }
    }
}
