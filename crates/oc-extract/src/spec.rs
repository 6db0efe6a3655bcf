//! What a reader needs, resolved from a pipeline: the declared columns with how each finds
//! its value, the format's options, and the source files its path template expands to.

use std::fmt;
use std::path::PathBuf;

use arrow::datatypes::SchemaRef;
use indexmap::IndexMap;
use oc_spec::syntax::{delimiter_byte, quote_byte, regex_of};
use oc_spec::{
    ColumnType, CsvOptions, Encoding, Format, JsonOptions, OnExtraColumns, PdfOptions, Pipeline,
    SourceFormat, XlsxOptions,
};

use crate::html::PageSpec;

use crate::conform::{self, ColumnPlan};
use crate::number::NumberFormat;
use crate::pdf;

/// Rows per record batch.
pub const BATCH_ROWS: usize = 32 * 1024;

/// One file to read and the values of the pipeline variables that produced its path.
#[derive(Debug, Clone, Default)]
pub struct SourceFile {
    pub path: PathBuf,
    /// As shown to the user (relative to the project).
    pub display: String,
    pub vars: IndexMap<String, String>,
    /// The `Content-Type` a server sent with a fetched file (its charset decides how a web
    /// page is decoded).
    pub content_type: Option<String>,
    /// Counts the file's bytes as they are read from disk (compressed bytes for `.gz`), for
    /// progress bars; set by the run.
    pub bytes_read: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
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

/// Where a workbook table ends.
#[derive(Debug, Clone)]
pub enum Stop {
    /// At the first empty row.
    Blank,
    /// Before the first row whose first non-empty cell matches.
    At(regex::Regex),
}

/// Workbook options compiled once per pipeline (regexes, range), not once per sheet.
#[derive(Debug, Clone, Default)]
pub struct XlsxTable {
    pub range: Option<oc_spec::CellRange>,
    /// `sheet: /regex/`.
    pub sheet: Option<regex::Regex>,
    pub skip_until: Option<regex::Regex>,
    pub notes: Option<regex::Regex>,
    pub stop: Option<Stop>,
    /// `sections.match`.
    pub section: Option<regex::Regex>,
}

impl XlsxTable {
    fn resolve(x: &XlsxOptions) -> Result<XlsxTable, String> {
        let re = |v: &Option<String>| {
            v.as_deref()
                .map(|s| {
                    regex::Regex::new(regex_of(s).unwrap_or(s)).map_err(|e| format!("{s}: {e}"))
                })
                .transpose()
        };
        Ok(XlsxTable {
            range: match &x.range {
                Some(r) => Some(oc_spec::parse_range(r).ok_or(format!("bad range `{r}`"))?),
                None => None,
            },
            sheet: match &x.sheet {
                Some(oc_spec::SheetRef::Name(n)) => match regex_of(n) {
                    Some(r) => Some(regex::Regex::new(r).map_err(|e| format!("sheet regex: {e}"))?),
                    None => None,
                },
                _ => None,
            },
            skip_until: re(&x.skip_until)?,
            notes: re(&x.notes)?,
            stop: match x.stop_at.as_deref() {
                None => None,
                Some("blank") => Some(Stop::Blank),
                Some(_) => re(&x.stop_at)?.map(Stop::At),
            },
            section: re(&x.sections.as_ref().and_then(|s| s.matches.clone()))?,
        })
    }
}

/// Everything a reader needs, resolved from a pipeline.
#[derive(Debug, Clone)]
pub struct ReadSpec {
    pub format: Format,
    pub columns: Vec<SourceColumn>,
    pub csv: CsvDialect,
    pub json: JsonOptions,
    pub pdf: PdfOptions,
    /// `pdf.strategy`, resolved (validation reported a bad one).
    pub pdf_strategy: oc_spec::pdf_strategy::Strategy,
    pub member: Option<String>,
    pub xlsx: XlsxOptions,
    /// The workbook options that need parsing, resolved once.
    pub xlsx_table: XlsxTable,
    /// Which table of a web page, how it is decoded, what is captured from its text.
    pub html: Option<PageSpec>,
    /// The database, the query and the incremental cursor (`since` is set by the engine).
    pub database: Option<crate::database::DbSpec>,
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
        let source = p.source_format().ok_or("unknown source format")?;
        let format = source.format();
        let (mut csv, mut json, mut xlsx, mut pdf_options): (
            CsvOptions,
            JsonOptions,
            XlsxOptions,
            PdfOptions,
        ) = Default::default();
        let mut html = None;
        let mut database = None;
        match source {
            SourceFormat::Csv(o) => csv = o,
            SourceFormat::Json(o) => json = o,
            SourceFormat::Pdf(o) => pdf_options = o,
            SourceFormat::Xlsx(o) => {
                // Numbers stored as text in a workbook follow the same rules as in a CSV.
                csv = CsvOptions {
                    decimal: o.decimal.clone(),
                    thousands: o.thousands.clone(),
                    null_values: o.null_values.clone(),
                    ..Default::default()
                };
                xlsx = o;
            }
            SourceFormat::Html(o) => {
                // A page table is laid out like a report sheet: the same layout options.
                xlsx = o.layout();
                csv = CsvOptions {
                    decimal: xlsx.decimal.clone(),
                    thousands: xlsx.thousands.clone(),
                    null_values: xlsx.null_values.clone(),
                    ..Default::default()
                };
                html = Some(PageSpec::resolve(&o)?);
            }
            SourceFormat::Parquet | SourceFormat::Arrow => {}
            SourceFormat::Database(o) => {
                database = Some(crate::database::DbSpec {
                    options: o,
                    cursor: p.source.incremental.as_ref().map(|i| i.cursor.clone()),
                    since: None,
                });
            }
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
            pdf::number_format(&pdf_options)
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
            Some(q) => quote_byte(q)?,
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
            json,
            pdf_strategy: match &pdf_options.strategy {
                Some(s) => {
                    let mut diags = oc_spec::Diagnostics::default();
                    oc_spec::pdf_strategy::resolve(
                        std::path::Path::new(""),
                        "",
                        s,
                        pdf_options.columns.is_some(),
                        &mut diags,
                    )
                    .ok_or_else(|| format!("pdf.strategy: {diags}"))?
                }
                None => oc_spec::pdf_strategy::Strategy::Auto,
            },
            pdf: pdf_options,
            member: p.source.member.clone(),
            html,
            database,
            xlsx_table: if matches!(format, Format::Xlsx | Format::Html) {
                XlsxTable::resolve(&xlsx)?
            } else {
                XlsxTable::default()
            },
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

/// The source files a pipeline's path expands to, one per combination of its vars' values.
/// `queried` holds the values of the vars given by a query on the lake (resolved by the
/// engine); the listed ones come from the pipeline.
pub fn expand_sources(
    p: &Pipeline,
    root: &std::path::Path,
    queried: &IndexMap<String, Vec<String>>,
) -> Vec<SourceFile> {
    if let Some(db) = &p.source.database {
        // One "file": the database. Its path is the project (where a password_file and a
        // relative SQLite path are found), or the SQLite file itself, so that a changed file
        // makes the pipeline stale.
        let url = db.url.as_ref().map(|u| u.value.clone());
        let (path, display) = match url.as_deref().and_then(crate::database::kind_of) {
            Some(crate::database::Kind::Sqlite(f)) => (root.join(&f), format!("sqlite:{f}")),
            _ => (
                root.to_path_buf(),
                url.map(|u| crate::database::display_url(&u))
                    .or_else(|| db.url_env.as_ref().map(|v| format!("${v}")))
                    .unwrap_or_default(),
            ),
        };
        return vec![SourceFile {
            bytes_read: None,
            path,
            display,
            vars: IndexMap::new(),
            content_type: None,
        }];
    }
    let listed = p.vars();
    let vars: IndexMap<String, Vec<String>> = p
        .source
        .vars
        .keys()
        .filter_map(|k| {
            let values = listed.get(k).or_else(|| queried.get(k))?;
            Some((k.clone(), values.clone()))
        })
        .collect();
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
                bytes_read: None,
                path,
                display: rel,
                vars: b,
                content_type: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::ReadSpec;

    fn spec_with_quote(q: &str) -> Result<ReadSpec, String> {
        let p = oc_spec::parse_pipeline(&format!(
            "name: t.x\nsource: {{ path: x.csv, csv: {{ quote: {q} }} }}\ncolumns:\n  a: {{ from: a }}\n"
        ))
        .unwrap();
        ReadSpec::from_pipeline(&p)
    }

    /// A quote `validate` refuses is refused here too (an empty one used to be indexed: a
    /// panic, seen while writing the pipeline fuzz target).
    #[test]
    fn a_bad_quote_is_an_error_not_a_panic() {
        for q in ["\"\"", "\"ab\"", "\"é\""] {
            let e = spec_with_quote(q)
                .err()
                .unwrap_or_else(|| panic!("{q} taken"));
            assert!(e.contains("quote"), "{e}");
        }
        assert_eq!(spec_with_quote("\"'\"").unwrap().csv.quote, Some(b'\''));
        assert_eq!(spec_with_quote("none").unwrap().csv.quote, None);
    }
}
