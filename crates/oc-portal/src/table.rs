//! "Download exactly what you see": every table a page shows is built once as a `Table`, then
//! rendered as HTML or exported (`export`). Amounts stay cents until the last moment.

use crate::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(Option<String>),
    Int(Option<i64>),
    /// Cents, shown in euros with two decimals.
    Money(Option<i64>),
    /// A ratio with `decimals` decimals, and the unit shown after it in HTML (`%`, `ans`).
    Float(Option<f64>, u8, &'static str),
}

impl Cell {
    pub fn text(s: impl Into<String>) -> Cell {
        Cell::Text(Some(s.into()))
    }

    /// The value in a machine format (dot decimal, no thousands separator); "" when absent.
    pub fn plain(&self) -> String {
        match self {
            Cell::Text(s) => s.clone().unwrap_or_default(),
            Cell::Int(v) => v.map(|v| v.to_string()).unwrap_or_default(),
            Cell::Money(v) => v.map(fmt::cents_plain).unwrap_or_default(),
            Cell::Float(v, d, _) => v
                .map(|v| format!("{v:.prec$}", prec = *d as usize))
                .unwrap_or_default(),
        }
    }

    /// The value as the French read it (`1 566 738,72`); "—" when absent.
    pub fn french(&self) -> String {
        let absent = "—".to_string();
        match self {
            Cell::Text(s) => s.clone().unwrap_or(absent),
            Cell::Int(v) => v.map(fmt::int_fr).unwrap_or(absent),
            Cell::Money(v) => v.map(fmt::cents_fr).unwrap_or(absent),
            Cell::Float(v, d, unit) => v
                .map(|v| {
                    let s = fmt::float_fr(v, *d);
                    if unit.is_empty() {
                        s
                    } else {
                        format!("{s} {unit}")
                    }
                })
                .unwrap_or(absent),
        }
    }

    /// The value for `csv-fr`: decimal comma, no thousands separator (Excel reads it back as a
    /// number).
    pub fn csv_fr(&self) -> String {
        match self {
            Cell::Text(_) | Cell::Int(_) => self.plain(),
            _ => self.plain().replace('.', ","),
        }
    }

    pub fn is_absent(&self) -> bool {
        matches!(
            self,
            Cell::Text(None) | Cell::Int(None) | Cell::Money(None) | Cell::Float(None, _, _)
        )
    }

    pub fn is_number(&self) -> bool {
        !matches!(self, Cell::Text(_))
    }
}

#[derive(Debug, Clone)]
pub struct Column {
    /// Machine name (CSV header, JSON key, Parquet column).
    pub key: String,
    /// Header shown on the page.
    pub label: String,
}

#[derive(Debug, Clone)]
pub struct Table {
    /// File name stem of downloads (`2A004-evolution`).
    pub name: String,
    pub caption: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
    /// The SQL that computes the same rows on the release.
    pub sql: String,
    /// Per row, the page its first cell links to (a member's fiche); not exported.
    pub links: Vec<Option<String>>,
}

impl Table {
    pub fn new(name: impl Into<String>, caption: impl Into<String>) -> Table {
        Table {
            name: name.into(),
            caption: caption.into(),
            columns: vec![],
            rows: vec![],
            sql: String::new(),
            links: vec![],
        }
    }

    pub fn column(mut self, key: &str, label: &str) -> Table {
        self.columns.push(Column {
            key: key.into(),
            label: label.into(),
        });
        self
    }

    /// Adds a row whose first cell links to `url`.
    pub fn linked_row(&mut self, url: String, row: Vec<Cell>) {
        self.links.resize(self.rows.len(), None);
        self.links.push(Some(url));
        self.rows.push(row);
    }

    pub fn sql(mut self, sql: impl Into<String>) -> Table {
        self.sql = sql.into();
        self
    }
}
