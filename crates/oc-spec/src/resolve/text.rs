//! The marks of delimited text: the CSV dialect's bytes and how numbers are written (decimal
//! mark, thousands separator), for every format whose cells are text.

use std::path::Path;

use crate::diag::{Diagnostic, Diagnostics};
use crate::pipeline::{CsvOptions, Encoding};
use crate::syntax::{delimiter_byte, quote_byte};
use crate::yaml::locate_key;

/// How a CSV file is cut into records and fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvDialect {
    pub delimiter: u8,
    /// `None`: no quoting (`quote: none`).
    pub quote: Option<u8>,
    pub header: bool,
    pub skip_rows: u64,
    pub encoding: Encoding,
}

/// How numbers are written in a source's cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumberMarks {
    pub decimal: char,
    /// `' '` stands for any space-like separator: space, NBSP, U+202F (narrow NBSP).
    pub thousands: Option<char>,
}

/// The dialect of `csv:` (defaults where it is absent); a `.tsv` path defaults to tabs.
pub(super) fn dialect(
    file: &Path,
    text: &str,
    csv: &CsvOptions,
    path: &str,
    diags: &mut Diagnostics,
) -> CsvDialect {
    let mut bad = |key: &str, msg: String, hint: &str| {
        let (l, c) = locate_key(text, key);
        diags.push(Diagnostic::new(file, l, c, msg).with_hint(hint.to_string()));
    };
    let delimiter = match &csv.delimiter {
        Some(d) => delimiter_byte(d).unwrap_or_else(|| {
            bad(
                "delimiter",
                format!("delimiter `{d}` must be one ASCII character"),
                "e.g. \";\", \",\" or tab",
            );
            b','
        }),
        None if path.to_ascii_lowercase().contains(".tsv") => b'\t',
        None => b',',
    };
    let quote = match csv.quote.as_deref().map(quote_byte) {
        None => Some(b'"'),
        Some(Ok(q)) => q,
        Some(Err(msg)) => {
            bad("quote", msg, "e.g. '\"'");
            Some(b'"')
        }
    };
    CsvDialect {
        delimiter,
        quote,
        header: csv.header,
        skip_rows: csv.skip_rows,
        encoding: csv.encoding,
    }
}

impl NumberMarks {
    /// `1234.5`: CSV, JSON, workbooks (whose numbers are typed; this is for those stored as
    /// text).
    pub const PLAIN: NumberMarks = NumberMarks {
        decimal: '.',
        thousands: None,
    };
    /// `1 234,5`: what reports (PDF, web pages) print.
    pub const FRENCH: NumberMarks = NumberMarks {
        decimal: ',',
        thousands: Some(' '),
    };
}

/// `decimal:` and `thousands:` of any format's block, `default` where not given.
pub(super) fn number_marks(
    file: &Path,
    text: &str,
    decimal: Option<&str>,
    thousands: Option<&str>,
    default: NumberMarks,
    diags: &mut Diagnostics,
) -> NumberMarks {
    let mut bad = |key: &str, msg: String, hint: &str| {
        let (l, c) = locate_key(text, key);
        diags.push(Diagnostic::new(file, l, c, msg).with_hint(hint.to_string()));
    };
    let decimal = match decimal {
        None => default.decimal,
        Some(".") => '.',
        Some(",") => ',',
        Some(d) => {
            bad(
                "decimal",
                format!("decimal mark `{d}` must be `.` or `,`"),
                "French files use \",\"",
            );
            default.decimal
        }
    };
    let thousands = match thousands {
        None => default.thousands,
        Some(t @ (" " | "." | "," | "'" | "\u{a0}" | "\u{202f}")) => {
            let c = t.chars().next().map(|c| {
                if c == '\u{a0}' || c == '\u{202f}' {
                    ' '
                } else {
                    c
                }
            });
            if c == Some(decimal) {
                bad(
                    "thousands",
                    "thousands separator and decimal mark are the same".into(),
                    "French numbers: decimal \",\" and thousands \" \"",
                );
                None
            } else {
                c
            }
        }
        Some(t) => {
            bad(
                "thousands",
                format!("thousands separator `{t}` is not supported"),
                "use \" \", \".\", \",\" or \"'\"",
            );
            None
        }
    };
    NumberMarks { decimal, thousands }
}
