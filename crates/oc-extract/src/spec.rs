//! What a reader needs, resolved from a pipeline: the declared columns with how each finds
//! its value, the format's options, and the source files its path template expands to.

use std::path::PathBuf;

use arrow::datatypes::SchemaRef;
use indexmap::IndexMap;
use oc_spec::resolve::PdfPlan;
use oc_spec::{
    ColumnType, Format, JsonOptions, OnExtraColumns, PdfOptions, Pipeline, SourceFormat,
    XlsxOptions,
};

pub use oc_spec::resolve::{
    CsvDialect, PageTable, Selector, Stop, TableLayout, UnpivotPlan as UnpivotSpec,
};

use crate::conform::{self, ColumnPlan};
use crate::number::NumberFormat;

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

#[derive(Debug, Clone)]
pub struct SourceColumn {
    pub plan: ColumnPlan,
    pub selector: Selector,
}

/// Everything a reader needs: the pipeline's source as `oc_spec::resolve` resolved it, and
/// the plain values of its option blocks.
#[derive(Debug, Clone)]
pub struct ReadSpec {
    pub format: Format,
    pub columns: Vec<SourceColumn>,
    pub csv: CsvDialect,
    pub json: JsonOptions,
    pub pdf: PdfOptions,
    /// `pdf:`'s strategy, pages and area, resolved.
    pub pdf_plan: PdfPlan,
    pub member: Option<String>,
    pub xlsx: XlsxOptions,
    /// The workbook or page table's range and regexes, resolved once (not per sheet).
    pub layout: TableLayout,
    /// Which table of a web page, how it is decoded, what is captured from its text.
    pub html: Option<PageTable>,
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
    /// The header names the columns select (`from: name`), in order.
    pub fn header_names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().filter_map(|c| match &c.selector {
            Selector::Header(h) => Some(h.as_str()),
            _ => None,
        })
    }

    /// The `from`/`var` columns of a pipeline (`sql` columns are computed later, in SQL),
    /// with its source resolved by `oc_spec` (the first fault's message if it has one:
    /// `validate` reports them all, located).
    pub fn from_pipeline(p: &Pipeline) -> Result<ReadSpec, String> {
        let r = p.resolve_source()?;
        let (mut json, mut pdf, mut xlsx, mut database) = Default::default();
        match p
            .source_format()
            .ok_or("cannot tell the format from the file name")?
        {
            SourceFormat::Json(o) => json = o,
            SourceFormat::Pdf(o) => pdf = o,
            SourceFormat::Xlsx(o) => xlsx = o,
            // A page table is laid out like a report sheet: the same layout options.
            SourceFormat::Html(o) => xlsx = o.layout(),
            SourceFormat::Database(options) => {
                database = Some(crate::database::DbSpec {
                    options,
                    cursor: p.source.incremental.as_ref().map(|i| i.cursor.clone()),
                    since: None,
                })
            }
            SourceFormat::Csv(_) | SourceFormat::Parquet | SourceFormat::Arrow => {}
        }
        let number = NumberFormat::from(r.number);
        let mut columns = Vec::new();
        for (name, selector) in r.selectors {
            let spec = &p.columns[&name];
            let ty: ColumnType = spec.column_type();
            let mut plan = ColumnPlan::new(&name, ty, number);
            plan.width = spec.width;
            if let Some(f) = &spec.format {
                plan.date_format = f.clone();
            }
            if let Some(nulls) = spec.null_values.as_ref().or(if ty.is_text() {
                None
            } else {
                r.null_values.as_ref()
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
        Ok(ReadSpec {
            format: r.format,
            columns,
            csv: r.dialect,
            json,
            pdf,
            pdf_plan: r.pdf,
            member: p.source.member.clone(),
            xlsx,
            layout: r.layout,
            html: r.page,
            database,
            unpivot: r.unpivot,
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
