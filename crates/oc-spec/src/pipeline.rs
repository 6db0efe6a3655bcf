//! `pipelines/*.yaml`: one dataset each — where it comes from, which columns it keeps and how
//! they are typed, optional SQL transforms, and how it is written to the lake.

use crate::span::Spanned;
use indexmap::IndexMap;
use serde::Deserialize;

use crate::types::ColumnType;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
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
    /// How many source files (pages) may fail — not fetched, or not readable — before the run
    /// fails. Failed files are recorded in `_ops.rejects` and their rows left out; the default
    /// 0 fails the run on the first one.
    #[serde(default)]
    pub max_failed_sources: u64,
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

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// A path relative to the project (or absolute), with `{var}` placeholders. Not used by
    /// database sources (their `database.url` says where they are).
    #[serde(default)]
    pub path: Spanned<String>,
    /// Values of the placeholders: a list, or `{ sql: "SELECT …" }` on the lake (one value
    /// per row of its single column).
    #[serde(default)]
    pub vars: IndexMap<String, VarSpec>,
    /// How remote files are fetched (concurrency, politeness, retries, timeout).
    pub fetch: Option<FetchOptions>,
    pub format: Option<Format>,
    /// Member of a `.zip` archive to read (by name, or `/regex/`); default: the only member.
    pub member: Option<String>,
    pub csv: Option<CsvOptions>,
    pub json: Option<JsonOptions>,
    pub pdf: Option<PdfOptions>,
    /// Spreadsheet options (`.xlsx`, `.xlsm`, `.xlsb`, `.xls`, `.ods`).
    pub xlsx: Option<XlsxOptions>,
    /// Tables of web pages (`.html`, `.htm`).
    pub html: Option<HtmlOptions>,
    /// The result of a query on a PostgreSQL or SQLite database.
    pub database: Option<DatabaseOptions>,
    /// Database sources: load only the rows past the cursor the last run committed.
    pub incremental: Option<Incremental>,
}

/// `database:` — where the database is, how to log in, what to read.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatabaseOptions {
    /// `sqlite:path/to/file.db` (relative to the project) or
    /// `postgres://user@host:port/dbname` — without a password: it never sits in the YAML.
    pub url: Option<Spanned<String>>,
    /// The name of an environment variable holding the whole URL (password included).
    pub url_env: Option<String>,
    /// The environment variable holding the PostgreSQL password (default `PGPASSWORD`).
    pub password_env: Option<String>,
    /// A file holding the password (relative to the project; keep it out of version control).
    pub password_file: Option<String>,
    /// The query whose rows are loaded.
    pub query: Spanned<String>,
}

/// `incremental: { cursor: updated_at }`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Incremental {
    /// A column of the query whose values only grow (a modification time, a serial id).
    pub cursor: String,
}

/// The values of one `source.vars` entry.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum VarSpec {
    Values(Vec<VarValue>),
    Query(VarQuery),
}

/// `{ sql: "SELECT siren FROM ref.communes WHERE …" }`: the values come from the lake when
/// the pipeline runs (it then runs after the tables the query reads).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VarQuery {
    pub sql: Spanned<String>,
}

/// `source.fetch`: how remote sources are downloaded.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FetchOptions {
    /// Downloads at the same time (default 4).
    pub concurrency: Option<usize>,
    /// Requests per second to one host, at most (default 5).
    pub rate: Option<f64>,
    /// Retries of a request that failed with 429, 5xx, a timeout or a broken connection, with
    /// exponential backoff, or the wait the server's `Retry-After` asks for (default 3).
    pub retries: Option<u32>,
    /// Seconds one request may take, body included (default 60).
    pub timeout: Option<f64>,
    /// Seconds a fetched copy is taken as current without asking the server again (default
    /// 0: every refresh revalidates). A server's `Cache-Control: max-age` counts too.
    pub max_age: Option<u64>,
    /// Largest file downloaded, in MiB (default 8192): a larger one fails, whether its size
    /// is announced or not, and the partial copy is removed (a server sending without end
    /// cannot fill the disk).
    pub max_mib: Option<u64>,
}

/// A `vars` value: YAML numbers and strings are both accepted and used as text.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Json,
    Pdf,
    /// Any workbook calamine reads: `.xlsx`, `.xlsm`, `.xlsb`, `.xls` (BIFF) and `.ods`.
    #[serde(alias = "xls", alias = "ods", alias = "xlsb", alias = "xlsm")]
    Xlsx,
    /// A table of a web page.
    #[serde(alias = "htm")]
    Html,
    /// Apache Parquet, the format of the open-data portals' exports.
    Parquet,
    /// Arrow IPC: the file format (`.arrow`, `.feather`) or the stream format (`.arrows`).
    #[serde(alias = "ipc", alias = "feather", alias = "arrows")]
    Arrow,
    /// The result of a query on PostgreSQL or SQLite.
    Database,
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
            "xlsx" | "xlsm" | "xlsb" | "xls" | "ods" => Some(Format::Xlsx),
            "html" | "htm" => Some(Format::Html),
            "parquet" | "pq" => Some(Format::Parquet),
            "arrow" | "arrows" | "feather" | "ipc" => Some(Format::Arrow),
            _ => None,
        }
    }
}

/// A source format and its options, as one value (the YAML keeps `format:` and one option
/// block beside it, `csv:`, `json:`, `xlsx:`, `pdf:` or `html:`).
#[derive(Debug, Clone)]
pub enum SourceFormat {
    Csv(CsvOptions),
    Json(JsonOptions),
    Xlsx(XlsxOptions),
    Pdf(PdfOptions),
    Html(HtmlOptions),
    /// Typed columnar files carry their schema: no options.
    Parquet,
    Arrow,
    Database(DatabaseOptions),
}

impl SourceFormat {
    pub fn format(&self) -> Format {
        match self {
            SourceFormat::Csv(_) => Format::Csv,
            SourceFormat::Json(_) => Format::Json,
            SourceFormat::Xlsx(_) => Format::Xlsx,
            SourceFormat::Pdf(_) => Format::Pdf,
            SourceFormat::Html(_) => Format::Html,
            SourceFormat::Parquet => Format::Parquet,
            SourceFormat::Arrow => Format::Arrow,
            SourceFormat::Database(_) => Format::Database,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema)]
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

impl Encoding {
    /// The name a pipeline writes.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Windows1252 => "windows-1252",
            Encoding::Latin1 => "iso-8859-1",
        }
    }
}

/// The names a pipeline accepts (for command-line options).
impl std::str::FromStr for Encoding {
    type Err = String;
    fn from_str(s: &str) -> Result<Encoding, String> {
        match s.to_ascii_lowercase().as_str() {
            "utf-8" | "utf8" => Ok(Encoding::Utf8),
            "windows-1252" | "cp1252" => Ok(Encoding::Windows1252),
            "iso-8859-1" | "latin-1" | "latin1" => Ok(Encoding::Latin1),
            _ => Err(format!(
                "unknown encoding `{s}`: use utf-8, windows-1252 or iso-8859-1"
            )),
        }
    }
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
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

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PdfOptions {
    /// Pages such as `1,3-5` (default: all).
    pub pages: Option<Spanned<String>>,
    /// `[x1, y1, x2, y2]` in points from the top-left corner of the displayed page.
    pub area: Option<Vec<f32>>,
    /// `lattice` (ruling lines), `stream` (aligned text), `auto` (default), or where each
    /// axis takes its boundaries from: `{ columns: lines|text, rows: lines|text }`.
    pub strategy: Option<Spanned<PdfStrategy>>,
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

/// `strategy:` of a PDF source: a name (`lattice`, `stream`, `auto`, or the CLI form
/// `columns=lines,rows=text`), or a map `{ columns: lines|text, rows: lines|text }`. Kept as
/// written (entries with their locations) so that validation can point at a bad key or value.
#[derive(Debug, Clone)]
pub enum PdfStrategy {
    Name(String),
    Axes(Vec<(Spanned<String>, Spanned<String>)>),
}

impl schemars::JsonSchema for PdfStrategy {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PdfStrategy".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "lattice (ruling lines), stream (aligned text), auto, or where each axis takes its boundaries from",
            "anyOf": [
                { "type": "string", "examples": ["auto", "lattice", "stream", "columns=text,rows=lines"] },
                {
                    "type": "object",
                    "properties": {
                        "columns": { "enum": ["lines", "text"] },
                        "rows": { "enum": ["lines", "text"] }
                    },
                    "additionalProperties": false
                }
            ]
        })
    }
}

impl<'de> Deserialize<'de> for PdfStrategy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = PdfStrategy;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "lattice, stream, auto, or a map { columns: lines|text, rows: lines|text }",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PdfStrategy, E> {
                Ok(PdfStrategy::Name(v.to_string()))
            }
            // entries are read one by one (not through an untagged enum) so that each key and
            // value keeps its location
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<PdfStrategy, A::Error> {
                let mut kv = Vec::new();
                while let Some(k) = map.next_key::<Spanned<String>>()? {
                    kv.push((k, map.next_value::<Spanned<String>>()?));
                }
                Ok(PdfStrategy::Axes(kv))
            }
        }
        d.deserialize_any(V)
    }
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

/// Where the table is in a workbook made for reading: which sheet, which rows, how many
/// header rows, where it stops, which rows are footnotes.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct XlsxOptions {
    /// Sheet name (with `{var}` placeholders), `/regex/` (every matching sheet is read, in
    /// workbook order; named groups become vars), or a 1-based position. Default: the first.
    pub sheet: Option<SheetRef>,
    /// Cells to read, e.g. `A5:K120` (`A5:K` = to the last row). Default: the whole sheet.
    pub range: Option<String>,
    /// Header rows (default 1; 0 = no header, columns are `column_1`, `column_2`…). Several
    /// rows are joined per column with `header_separator`, merged cells filled across and down.
    pub header_rows: Option<u32>,
    /// Joins the parts of a multi-row header (default a space).
    pub header_separator: Option<String>,
    /// Rows to skip before the header. Without it (and without `skip_until`), the header is
    /// the first row with at least two non-empty cells (title and unit rows have one).
    pub skip_rows: Option<u32>,
    /// Skip rows until one with a cell matching this regex: it is the first header row.
    pub skip_until: Option<String>,
    /// Where the table ends: `blank` (the first empty row) or a regex matched against the
    /// first non-empty cell (that row is not part of the table). Default: the end of the sheet.
    pub stop_at: Option<String>,
    /// Footnote rows inside the table (regex on the first non-empty cell, e.g. `^\(\d\)`):
    /// dropped from the rows and kept, with the rows after `stop_at`, as the commit's notes.
    pub notes: Option<String>,
    /// Row-label hierarchy: adds a source column holding each row's parent label.
    pub hierarchy: Option<Hierarchy>,
    /// Section rows inside the table (a title row such as `OPERATIONS DE FONCTIONNEMENT`):
    /// dropped from the rows, their text kept in a source column of the rows below.
    pub sections: Option<Sections>,
    /// Numbers stored as text: decimal mark `.` (default) or `,`.
    pub decimal: Option<String>,
    /// Numbers stored as text: thousands separator (` ` also matches NBSP and U+202F).
    pub thousands: Option<String>,
    /// Values read as NULL in typed columns (default: empty, n.c, nd, n.d, -, s, NA, N/A).
    pub null_values: Option<Vec<String>>,
}

/// `sections:` of a report table (workbook or web page).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sections {
    /// Name of the added source column, to read with `from:`.
    pub column: String,
    /// `/regex/` a section row's text matches. Default: any row with exactly one non-empty
    /// cell.
    #[serde(rename = "match")]
    pub matches: Option<String>,
}

/// Where the table is in a web page, and how the page's text is decoded. The table layout
/// options are the workbook's (`header_rows`, `skip_until`, `stop_at`, `notes`, `hierarchy`,
/// `sections`, number marks): a page table is read like a report sheet once its cells are
/// laid out on a grid (`colspan`/`rowspan` expanded like merged cells).
///
/// The fields are repeated rather than shared with [`XlsxOptions`] through `#[serde(flatten)]`
/// because flattening disables `deny_unknown_fields`, and a misspelt option must stay an error.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HtmlOptions {
    /// The table: a 1-based position among the page's tables (nested ones included, in
    /// document order), `/regex/` on its caption or on the last heading before it, or
    /// `css:SELECTOR` (the first match). Default: the first table.
    pub table: Option<SheetRef>,
    /// The encoding used when neither the server (`Content-Type: …; charset=`) nor the page
    /// (`<meta charset>`) declares one. Without it such a page must be valid UTF-8.
    pub encoding: Option<Encoding>,
    /// `/regex/`es with named groups matched against the page's text (outside the table
    /// too): each group becomes a var of the page (the population printed above the table,
    /// the collectivité's name). The text is laid out as a browser's `innerText`: a tab
    /// between table cells, a line break between rows and blocks. A regex that matches
    /// nothing fails the page.
    #[serde(default)]
    pub capture: Vec<Spanned<String>>,
    pub header_rows: Option<u32>,
    pub header_separator: Option<String>,
    pub skip_rows: Option<u32>,
    pub skip_until: Option<String>,
    pub stop_at: Option<String>,
    pub notes: Option<String>,
    pub hierarchy: Option<Hierarchy>,
    pub sections: Option<Sections>,
    /// Decimal mark, default `,` (French pages).
    pub decimal: Option<String>,
    /// Thousands separator, default ` ` (also NBSP and U+202F).
    pub thousands: Option<String>,
    pub null_values: Option<Vec<String>>,
}

impl HtmlOptions {
    /// The layout options, as a workbook sheet would carry them.
    pub fn layout(&self) -> XlsxOptions {
        XlsxOptions {
            sheet: None,
            range: None,
            header_rows: self.header_rows,
            header_separator: self.header_separator.clone(),
            skip_rows: self.skip_rows,
            skip_until: self.skip_until.clone(),
            stop_at: self.stop_at.clone(),
            notes: self.notes.clone(),
            hierarchy: self.hierarchy.clone(),
            sections: self.sections.clone(),
            decimal: Some(self.decimal.clone().unwrap_or_else(|| ",".into())),
            thousands: Some(self.thousands.clone().unwrap_or_else(|| " ".into())),
            null_values: self.null_values.clone(),
        }
    }

    /// Names of the vars the `capture` regexes define.
    pub fn capture_names(&self) -> Vec<String> {
        self.capture
            .iter()
            .filter_map(|c| {
                let re = crate::syntax::regex_of(&c.value).unwrap_or(&c.value);
                regex::Regex::new(re).ok()
            })
            .flat_map(|re| {
                re.capture_names()
                    .flatten()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

/// A cell range, 0-based and inclusive; `last_row` None = to the end of the sheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellRange {
    pub first_row: u32,
    pub first_col: u32,
    pub last_row: Option<u32>,
    pub last_col: u32,
}

/// `A5:K120` or `A5:K` → a [`CellRange`].
pub fn parse_range(s: &str) -> Option<CellRange> {
    fn cell(c: &str) -> Option<(u32, Option<u32>)> {
        let letters = c.bytes().take_while(u8::is_ascii_alphabetic).count();
        if letters == 0 || letters > 3 {
            return None;
        }
        let mut col = 0u32;
        for b in c[..letters].bytes() {
            col = col * 26 + u32::from(b.to_ascii_uppercase() - b'A' + 1);
        }
        let digits = &c[letters..];
        let row = if digits.is_empty() {
            None
        } else {
            Some(digits.parse::<u32>().ok().filter(|r| *r >= 1)? - 1)
        };
        Some((col - 1, row))
    }
    let (a, b) = s.trim().split_once(':')?;
    let (c0, r0) = cell(a)?;
    let (c1, r1) = cell(b)?;
    let r0 = r0?;
    if c1 < c0 || r1.is_some_and(|r| r < r0) {
        return None;
    }
    Some(CellRange {
        first_row: r0,
        first_col: c0,
        last_row: r1,
        last_col: c1,
    })
}

/// `sheet:` by name, regex or position.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum SheetRef {
    Index(u32),
    Name(String),
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Hierarchy {
    /// The header of the label column.
    pub label: String,
    /// `indent` (cell indentation or leading spaces) or `dont` (`dont …` rows are details of
    /// the row above that is not a `dont` row).
    pub by: HierarchyBy,
    /// Name of the added source column (default `parent`), to read with `from:`.
    #[serde(default = "parent")]
    pub column: String,
}

fn parent() -> String {
    "parent".to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HierarchyBy {
    Indent,
    Dont,
}

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
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
    /// Also output `<column>_status`: the placeholder found in place of a value (`s` for
    /// statistical secrecy, `n.d.` not available…), NULL when there is a value.
    #[serde(default)]
    pub status: bool,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnExtraColumns {
    #[default]
    Ignore,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnSchemaChange {
    #[default]
    Fail,
    Evolve,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TransformStep {
    /// A query over `input` (the previous step's output) and any lake table.
    Sql(Spanned<String>),
    /// Columns whose header matches `columns` become rows: the header goes to `name`, the
    /// cell to `value`. Runs on the source columns as they are read (first step only), so each
    /// file may carry its own years; `columns:` then reads `name`, `value` and `flag` by name.
    Unpivot(Unpivot),
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Unpivot {
    /// `/regex/` (or a bare regex) matched against the source headers.
    pub columns: Spanned<String>,
    /// Receives the header, footnote markers removed: `2023 (p)` → `2023`.
    pub name: String,
    /// Receives the cell.
    pub value: String,
    /// Receives the markers removed from the header (`p`, `1`), NULL when none.
    /// Default `<name>_flag`.
    pub flag: Option<String>,
}

impl Unpivot {
    pub fn flag_column(&self) -> String {
        self.flag
            .clone()
            .unwrap_or_else(|| format!("{}_flag", self.name))
    }
    pub fn regex(&self) -> &str {
        crate::syntax::regex_of(&self.columns.value).unwrap_or(&self.columns.value)
    }
}

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    #[serde(default)]
    pub partition_by: Vec<String>,
    /// Columns the rows of each row group are sorted by, so that readers skip the row
    /// groups and pages a filter on them excludes.
    #[serde(default)]
    pub cluster_by: Vec<String>,
    #[serde(default)]
    pub mode: WriteMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WriteMode {
    /// The run's output becomes the whole table.
    #[default]
    Replace,
    /// Only the partitions present in the run's output are replaced; others are kept.
    ReplacePartitions,
}

impl Pipeline {
    /// The vars whose values the pipeline lists (not those a query on the lake gives).
    pub fn vars(&self) -> IndexMap<String, Vec<String>> {
        self.source
            .vars
            .iter()
            .filter_map(|(k, v)| match v {
                VarSpec::Values(v) => {
                    Some((k.clone(), v.iter().map(VarValue::as_string).collect()))
                }
                VarSpec::Query(_) => None,
            })
            .collect()
    }

    /// The vars given by a query on the lake, with their SQL.
    pub fn var_queries(&self) -> impl Iterator<Item = (&str, &Spanned<String>)> {
        self.source.vars.iter().filter_map(|(k, v)| match v {
            VarSpec::Query(q) => Some((k.as_str(), &q.sql)),
            VarSpec::Values(_) => None,
        })
    }

    pub fn format(&self) -> Option<Format> {
        self.source
            .format
            .or_else(|| self.source.database.is_some().then_some(Format::Database))
            .or_else(|| Format::from_path(&self.source.path.value))
    }

    /// The source's format with its own options (defaults where the block is absent): the
    /// one place that picks the option block of the format. A block of another format is a
    /// validation error and is never read.
    pub fn source_format(&self) -> Option<SourceFormat> {
        let s = &self.source;
        Some(match self.format()? {
            Format::Csv => SourceFormat::Csv(s.csv.clone().unwrap_or_default()),
            Format::Json => SourceFormat::Json(s.json.clone().unwrap_or_default()),
            Format::Xlsx => SourceFormat::Xlsx(s.xlsx.clone().unwrap_or_default()),
            Format::Pdf => SourceFormat::Pdf(s.pdf.clone().unwrap_or_default()),
            Format::Html => SourceFormat::Html(s.html.clone().unwrap_or_default()),
            Format::Parquet => SourceFormat::Parquet,
            Format::Arrow => SourceFormat::Arrow,
            Format::Database => SourceFormat::Database(s.database.clone().unwrap_or_default()),
        })
    }

    /// The unpivot step, if any (validation checks it is the first step).
    pub fn unpivot(&self) -> Option<&Unpivot> {
        self.transform.iter().find_map(|s| match s {
            TransformStep::Unpivot(u) => Some(u),
            TransformStep::Sql(_) => None,
        })
    }

    /// The SQL transform steps, in order.
    pub fn sql_steps(&self) -> impl Iterator<Item = &Spanned<String>> {
        self.transform.iter().filter_map(|s| match s {
            TransformStep::Sql(q) => Some(q),
            TransformStep::Unpivot(_) => None,
        })
    }
}
