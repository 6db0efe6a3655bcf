//! Source readers: each turns one source file into a stream of Arrow record batches of the
//! pipeline's declared columns, plus rejected rows with their reason.
//!
//! Readers are synchronous and streaming (bounded memory whatever the file size); the engine
//! runs them on a blocking thread and receives batches through a [`Sink`].

use std::fmt;
use std::path::PathBuf;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use indexmap::IndexMap;
use oc_spec::project::{delimiter_byte, regex_of};
use oc_spec::{
    ColumnType, Encoding, Format, JsonOptions, OnExtraColumns, PdfOptions, Pipeline, XlsxOptions,
};

pub mod conform;
pub mod csv;
pub mod encoding;
pub mod input;
pub mod json;
pub mod number;
pub mod pdf;
mod rows;
#[cfg(test)]
mod testutil;
pub mod xlsx;

use conform::ColumnPlan;
use number::NumberFormat;

/// Rows per record batch.
pub const BATCH_ROWS: usize = 32 * 1024;

/// A failure that stops reading a file: says which file, where, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractError {
    pub file: String,
    pub line: Option<u64>,
    pub message: String,
    pub hint: Option<String>,
}

impl ExtractError {
    pub fn new(file: &str, line: Option<u64>, message: impl Into<String>) -> Self {
        Self {
            file: file.to_string(),
            line,
            message: message.into(),
            hint: None,
        }
    }
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for ExtractError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.file, l, self.message)?,
            None => write!(f, "{}: {}", self.file, self.message)?,
        }
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ExtractError {}

/// A row that could not be conformed. It goes to `_ops.rejects`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub file: String,
    /// Line of the record in the file (CSV, NDJSON) or record number (JSON array).
    pub line: u64,
    /// Source column (header) of the failing cell, if a cell failed.
    pub column: Option<String>,
    pub value: Option<String>,
    pub reason: String,
}

/// Where a reader sends its output.
pub trait Sink {
    fn batch(&mut self, batch: RecordBatch) -> Result<(), ExtractError>;
    fn reject(&mut self, reject: Reject) -> Result<(), ExtractError>;
}

/// One file to read and the values of the pipeline variables that produced its path.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    /// As shown to the user (relative to the project).
    pub display: String,
    pub vars: IndexMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStats {
    pub rows_read: u64,
    pub rows_rejected: u64,
    pub sha256: String,
    pub bytes: u64,
    /// Footnotes and notes found around the table (workbooks), kept with the commit.
    pub notes: Vec<String>,
}

/// How a declared column finds its value in a record.
#[derive(Debug, Clone)]
pub enum Selector {
    Header(String),
    Regex(regex::Regex),
    Var(String),
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Header(h) => write!(f, "`{h}`"),
            Selector::Regex(r) => write!(f, "/{}/", r.as_str()),
            Selector::Var(v) => write!(f, "var `{v}`"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SourceColumn {
    pub plan: ColumnPlan,
    pub selector: Selector,
}

#[derive(Debug, Clone)]
pub struct CsvDialect {
    pub delimiter: u8,
    pub quote: Option<u8>,
    pub header: bool,
    pub skip_rows: u64,
    pub encoding: Encoding,
}

#[derive(Debug, Clone)]
pub struct UnpivotSpec {
    pub columns: regex::Regex,
    pub name: String,
    pub value: String,
    pub flag: String,
}

/// Everything a reader needs, resolved from a pipeline.
#[derive(Debug, Clone)]
pub struct ReadSpec {
    pub format: Format,
    pub columns: Vec<SourceColumn>,
    pub csv: CsvDialect,
    pub json: JsonOptions,
    pub pdf: PdfOptions,
    pub member: Option<String>,
    pub xlsx: XlsxOptions,
    /// Year columns into rows, applied to source records before typing.
    pub unpivot: Option<UnpivotSpec>,
    pub on_extra_columns: OnExtraColumns,
    pub batch_rows: usize,
    /// Reading stops (and the run fails) once this many rows were rejected.
    pub reject_limit: u64,
}

impl ReadSpec {
    /// The `from`/`var` columns of a pipeline (`sql` columns are computed later, in SQL).
    pub fn from_pipeline(p: &Pipeline) -> Result<ReadSpec, String> {
        let format = p.format().ok_or("unknown source format")?;
        let mut csv = p.csv_options();
        let xlsx = p.xlsx_options();
        if format == Format::Xlsx {
            // Numbers stored as text in a workbook follow the same rules as in a CSV.
            csv.decimal = xlsx.decimal.clone();
            csv.thousands = xlsx.thousands.clone();
            csv.null_values = xlsx.null_values.clone();
        }
        let number = NumberFormat {
            decimal: csv
                .decimal
                .as_deref()
                .and_then(|d| d.chars().next())
                .unwrap_or('.'),
            thousands: csv
                .thousands
                .as_deref()
                .and_then(|t| t.chars().next())
                .map(|c| {
                    if c == '\u{a0}' || c == '\u{202f}' {
                        ' '
                    } else {
                        c
                    }
                }),
        };
        let number = if format == Format::Pdf {
            pdf::number_format(&p.pdf_options())
        } else {
            number
        };
        let mut columns = Vec::new();
        for (name, spec) in &p.columns {
            let selector = if let Some(from) = &spec.from {
                match regex_of(&from.value) {
                    Some(re) => Selector::Regex(
                        regex::Regex::new(re).map_err(|e| format!("column {name}: {e}"))?,
                    ),
                    None => Selector::Header(from.value.clone()),
                }
            } else if let Some(var) = &spec.var {
                Selector::Var(var.value.clone())
            } else {
                continue;
            };
            let ty: ColumnType = spec.column_type();
            let mut plan = ColumnPlan::new(name, ty, number);
            plan.width = spec.width;
            if let Some(f) = &spec.format {
                plan.date_format = f.clone();
            }
            if let Some(nulls) = spec.null_values.as_ref().or(if ty.is_text() {
                None
            } else {
                csv.null_values.as_ref()
            }) {
                plan.set_null_values(nulls.clone());
            }
            let status = spec.status.then(|| SourceColumn {
                plan: plan.status(),
                selector: selector.clone(),
            });
            columns.push(SourceColumn { plan, selector });
            columns.extend(status);
        }
        let delimiter = match &csv.delimiter {
            Some(d) => delimiter_byte(d).ok_or_else(|| format!("bad delimiter `{d}`"))?,
            None if p.source.path.value.to_ascii_lowercase().contains(".tsv") => b'\t',
            None => b',',
        };
        let quote = match csv.quote.as_deref() {
            Some("none") => None,
            Some(q) => Some(q.as_bytes()[0]),
            None => Some(b'"'),
        };
        Ok(ReadSpec {
            format,
            columns,
            csv: CsvDialect {
                delimiter,
                quote,
                header: csv.header,
                skip_rows: csv.skip_rows,
                encoding: csv.encoding,
            },
            json: p.json_options(),
            pdf: p.pdf_options(),
            member: p.source.member.clone(),
            xlsx,
            unpivot: match p.unpivot() {
                Some(u) => Some(UnpivotSpec {
                    columns: regex::Regex::new(u.regex())
                        .map_err(|e| format!("unpivot columns: {e}"))?,
                    name: u.name.clone(),
                    value: u.value.clone(),
                    flag: u.flag_column(),
                }),
                None => None,
            },
            on_extra_columns: p.on_extra_columns,
            batch_rows: BATCH_ROWS,
            reject_limit: p.max_rejects.saturating_add(10_000),
        })
    }

    pub fn schema(&self) -> SchemaRef {
        conform::schema_of(
            &self
                .columns
                .iter()
                .map(|c| c.plan.clone())
                .collect::<Vec<_>>(),
        )
    }
}

/// Values of `vars` for each expanded source path.
pub fn expand_sources(p: &Pipeline, root: &std::path::Path) -> Vec<SourceFile> {
    let vars = p.vars();
    oc_spec::template::bindings(&vars)
        .into_iter()
        .map(|b| {
            let rel = oc_spec::template::render(&p.source.path.value, &b);
            let path = if std::path::Path::new(&rel).is_absolute() {
                PathBuf::from(&rel)
            } else {
                root.join(&rel)
            };
            SourceFile {
                path,
                display: rel,
                vars: b,
            }
        })
        .collect()
}

/// Reads one file according to the spec, sending batches and rejects to `sink`.
pub fn read_file(
    spec: &ReadSpec,
    file: &SourceFile,
    sink: &mut dyn Sink,
) -> Result<FileStats, ExtractError> {
    if spec.format == Format::Pdf {
        // binary: not through the text input (which refuses PDF bytes)
        return pdf::read_file(spec, file, sink);
    }
    if spec.format == Format::Xlsx {
        return xlsx::read_workbook(spec, file, sink);
    }
    let ((rows_read, rows_rejected), sha256, bytes) = input::with_reader(
        &file.path,
        &file.display,
        spec.member.as_deref(),
        |r| match spec.format {
            Format::Csv => csv::read(spec, file, r, sink),
            Format::Json => json::read(spec, file, r, sink),
            // both return early above: they need the whole file, not a text stream
            Format::Pdf | Format::Xlsx => Err(ExtractError::new(
                &file.display,
                None,
                "a workbook or PDF cannot be read as a stream",
            )),
        },
    )?;
    Ok(FileStats {
        rows_read,
        rows_rejected,
        sha256,
        bytes,
        notes: Vec::new(),
    })
}
