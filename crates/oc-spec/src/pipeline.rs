//! `pipelines/*.yaml`: one dataset each — where it comes from, which columns it keeps and how
//! they are typed, optional SQL transforms, and how it is written to the lake.

use indexmap::IndexMap;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::types::ColumnType;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// `<domain>.<table>`: the table's name in the lake and in SQL.
    pub name: Spanned<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub producer: Option<String>,
    pub licence: Option<String>,
    pub source: Source,
    /// Output columns, in order. Each is read `from` a source column, taken from a source
    /// `var`, or computed by a `sql` expression over the `from`/`var` columns (and the `sql`
    /// columns declared before it).
    pub columns: IndexMap<String, ColumnSpec>,
    #[serde(default)]
    pub on_extra_columns: OnExtraColumns,
    /// When the output's columns differ from the rows the table keeps (`replace_partitions`):
    /// `fail` (default) with a diff, or `evolve` (new nullable columns are added).
    #[serde(default)]
    pub on_schema_change: OnSchemaChange,
    /// How many rejected rows the run tolerates before failing (rejects are always recorded).
    #[serde(default)]
    pub max_rejects: u64,
    #[serde(default)]
    pub transform: Vec<TransformStep>,
    #[serde(default)]
    pub target: Target,
    /// Cron expression (5 fields, or 6 with seconds) for `opencoll serve --schedule`.
    pub schedule: Option<Spanned<String>>,
    /// Data tests run on the new table version before it is committed.
    #[serde(default)]
    pub checks: Vec<crate::checks::CheckSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// A path relative to the project (or absolute), with `{var}` placeholders.
    pub path: Spanned<String>,
    #[serde(default)]
    pub vars: IndexMap<String, Vec<VarValue>>,
    pub format: Option<Format>,
    /// Member of a `.zip` archive to read (by name, or `/regex/`); default: the only member.
    pub member: Option<String>,
    pub csv: Option<CsvOptions>,
    pub json: Option<JsonOptions>,
    pub pdf: Option<PdfOptions>,
}

/// A `vars` value: YAML numbers and strings are both accepted and used as text.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum VarValue {
    Int(i64),
    Str(String),
}

impl VarValue {
    pub fn as_string(&self) -> String {
        match self {
            VarValue::Int(i) => i.to_string(),
            VarValue::Str(s) => s.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Json,
    Pdf,
}

impl Format {
    /// The format implied by a file name (compression suffixes ignored).
    pub fn from_path(path: &str) -> Option<Format> {
        let p = path.to_ascii_lowercase();
        let p = p.strip_suffix(".gz").unwrap_or(&p);
        let ext = p.rsplit('.').next()?;
        match ext {
            "csv" | "tsv" | "txt" => Some(Format::Csv),
            "json" | "ndjson" | "jsonl" => Some(Format::Json),
            "pdf" => Some(Format::Pdf),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum Encoding {
    #[default]
    #[serde(rename = "utf-8", alias = "utf8", alias = "UTF-8")]
    Utf8,
    #[serde(rename = "windows-1252", alias = "cp1252", alias = "Windows-1252")]
    Windows1252,
    #[serde(
        rename = "iso-8859-1",
        alias = "latin-1",
        alias = "latin1",
        alias = "ISO-8859-1"
    )]
    Latin1,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvOptions {
    /// One character; `tab` or `\t` for TAB. Default `,`.
    pub delimiter: Option<String>,
    /// Quote character (default `"`); `none` disables quoting.
    pub quote: Option<String>,
    #[serde(default = "yes")]
    pub header: bool,
    /// Lines to skip before the header (title lines).
    #[serde(default)]
    pub skip_rows: u64,
    #[serde(default)]
    pub encoding: Encoding,
    /// Decimal mark for numbers: `.` (default) or `,`.
    pub decimal: Option<String>,
    /// Thousands separator inside numbers: ` ` (also matches NBSP and U+202F), `.`, `,` or `'`.
    pub thousands: Option<String>,
    /// Values read as NULL in typed (non-text) columns. Default: empty, n.c, nd, n.d, -, s.
    pub null_values: Option<Vec<String>>,
}

fn yes() -> bool {
    true
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self {
            delimiter: None,
            quote: None,
            header: true,
            skip_rows: 0,
            encoding: Encoding::Utf8,
            decimal: None,
            thousands: None,
            null_values: None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonOptions {
    /// Dotted path to the array of records inside a top-level object (default: the document
    /// is an array, or one object per line).
    pub records: Option<String>,
    /// Dotted path of a nested array to explode: one output row per element, whose fields are
    /// read as `<path>.<field>` (e.g. EPCI `membres` → `membres.code`).
    pub explode: Option<String>,
}

/// Tables printed in a PDF report (text layer; see `crates/oc-pdf`). Numbers are read the
/// French way (decimal `,`, space thousands) unless `csv:`-style marks are given here.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PdfOptions {
    /// Pages such as `1,3-5` (default: all).
    pub pages: Option<Spanned<String>>,
    /// `[x1, y1, x2, y2]` in points from the top-left corner of the displayed page.
    pub area: Option<Vec<f32>>,
    /// `lattice` (ruling lines), `stream` (aligned text) or `auto` (default).
    pub strategy: Option<Spanned<String>>,
    /// Column separators (x positions in points) for stream tables.
    pub columns: Option<Vec<f32>>,
    /// Rows at the top of the table that form the header (joined per column). Default 1;
    /// 0 names the columns `column_1`, `column_2`, …
    #[serde(default = "one")]
    pub header_rows: usize,
    /// Join a table continued on the next page (repeated header and "(suite)" lines dropped).
    #[serde(default = "yes")]
    pub stitch_pages: bool,
    /// Repeat the text of a spanning cell in every row it covers (row-spanning labels).
    #[serde(default)]
    pub repeat_spans: bool,
    /// Minimum quality score (0 to 1) of every ingested table; below it the run fails.
    pub min_quality: Option<f64>,
    pub decimal: Option<String>,
    pub thousands: Option<String>,
}

fn one() -> usize {
    1
}

impl Default for PdfOptions {
    fn default() -> Self {
        Self {
            pages: None,
            area: None,
            strategy: None,
            columns: None,
            header_rows: 1,
            stitch_pages: true,
            repeat_spans: false,
            min_quality: None,
            decimal: None,
            thousands: None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    /// Source column: a header name, or `/regex/` for headers that change (`Code Insee 2024 Commune`).
    pub from: Option<Spanned<String>>,
    /// Take the value of a `source.vars` variable (the file's vintage, say).
    pub var: Option<Spanned<String>>,
    /// SQL expression over the `from`/`var` columns and the `sql` columns declared before it.
    pub sql: Option<Spanned<String>>,
    #[serde(rename = "type")]
    pub ty: Option<Spanned<String>>,
    /// `code` only: left-pad with zeros to this width (`1001` → `01001`).
    pub width: Option<u8>,
    /// `date` only: chrono format (default `%Y-%m-%d`).
    pub format: Option<String>,
    /// Overrides the source's null markers for this column.
    pub null_values: Option<Vec<String>>,
    /// Documentation shown by `opencoll catalog`.
    pub doc: Option<String>,
}

impl ColumnSpec {
    /// The declared type; `string` when absent. Validation has checked it parses.
    pub fn column_type(&self) -> ColumnType {
        self.ty
            .as_ref()
            .and_then(|t| t.value.parse().ok())
            .unwrap_or(ColumnType::String)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnExtraColumns {
    #[default]
    Ignore,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnSchemaChange {
    #[default]
    Fail,
    Evolve,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TransformStep {
    /// A query over `input` (the previous step's output) and any lake table.
    Sql(Spanned<String>),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    #[serde(default)]
    pub partition_by: Vec<String>,
    #[serde(default)]
    pub mode: WriteMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteMode {
    /// The run's output becomes the whole table.
    #[default]
    Replace,
    /// Only the partitions present in the run's output are replaced; others are kept.
    ReplacePartitions,
}

impl Pipeline {
    pub fn vars(&self) -> IndexMap<String, Vec<String>> {
        self.source
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), v.iter().map(VarValue::as_string).collect()))
            .collect()
    }

    pub fn format(&self) -> Option<Format> {
        self.source
            .format
            .or_else(|| Format::from_path(&self.source.path.value))
    }

    pub fn csv_options(&self) -> CsvOptions {
        self.source.csv.clone().unwrap_or_default()
    }

    pub fn json_options(&self) -> JsonOptions {
        self.source.json.clone().unwrap_or_default()
    }

    pub fn pdf_options(&self) -> PdfOptions {
        self.source.pdf.clone().unwrap_or_default()
    }
}
