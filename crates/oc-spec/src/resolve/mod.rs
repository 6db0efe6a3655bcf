//! A pipeline's source resolved once into the values its reader uses: the columns' selectors
//! (`/regex/` compiled), the CSV dialect's bytes, the number marks, a workbook or page table's
//! cell range and regexes, a web page's table and captures, a PDF's typed strategy, pages and
//! area, the unpivot regex. Each fault is a located diagnostic.
//!
//! `validate` is this resolution with its diagnostics collected (plus what needs the whole
//! project: names, domains, files, SQL), and readers copy the resolved values
//! (`oc_extract::ReadSpec`): no option is parsed in two places, so what `validate` passes a
//! reader cannot refuse for a reason of the spec.
//!
//! The YAML keeps `format:` beside one option block per format (rather than a tagged enum)
//! so that a block of the wrong format is one located diagnostic among the others, not a
//! parse error that hides every other fault of the file; [`ResolvedSource::format`] and
//! [`Pipeline::source_format`] are the one place that picks the block.

mod layout;
mod pdf;
mod text;

use std::fmt;
use std::path::Path;

use regex::Regex;

use crate::diag::{Diagnostic, Diagnostics};
use crate::pipeline::{Format, Pipeline, TransformStep};
use crate::syntax::regex_of;

pub use layout::{PageTable, Stop, TableLayout, TableRef};
pub use pdf::{PageSpan, PdfPlan};
pub use text::{CsvDialect, NumberMarks};

/// How a declared column finds its value in a record.
#[derive(Debug, Clone)]
pub enum Selector {
    /// The header (CSV, workbooks, pages, PDF tables) or the field's path (JSON).
    Header(String),
    /// The first header that matches.
    Regex(Regex),
    /// The value of a pipeline var.
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

/// Year columns into rows, applied to source records before typing.
#[derive(Debug, Clone)]
pub struct UnpivotPlan {
    pub columns: Regex,
    pub name: String,
    pub value: String,
    pub flag: String,
}

/// Everything of a pipeline's source that needs parsing, parsed.
#[derive(Debug, Clone)]
pub struct ResolvedSource {
    pub format: Format,
    /// The `from`/`var` columns in declared order (`sql` columns are computed later, in SQL).
    pub selectors: Vec<(String, Selector)>,
    /// CSV only (defaults elsewhere).
    pub dialect: CsvDialect,
    pub number: NumberMarks,
    /// The `null_values` of the format's block.
    pub null_values: Option<Vec<String>>,
    /// Workbooks and web pages (empty elsewhere).
    pub layout: TableLayout,
    /// Web pages only.
    pub page: Option<PageTable>,
    /// PDF only (defaults elsewhere).
    pub pdf: PdfPlan,
    pub unpivot: Option<UnpivotPlan>,
}

impl Pipeline {
    /// The source resolved, for a reader given a pipeline that was not validated in its file
    /// (tests, tools): the first fault's message.
    pub fn resolve_source(&self) -> Result<ResolvedSource, String> {
        let mut diags = Diagnostics::default();
        match resolve(self, Path::new(""), "", &mut diags) {
            Some(r) if diags.is_empty() => Ok(r),
            _ => Err(diags
                .0
                .first()
                .map(|d| d.message.clone())
                .unwrap_or_else(|| "cannot tell the format from the file name".into())),
        }
    }
}

/// Resolves `p`'s source, pushing a located diagnostic for each fault (`file` and its `text`
/// locate them). None when there was one, or when the format is unknown (that fault is the
/// source check's to report).
pub fn resolve(
    p: &Pipeline,
    file: &Path,
    text: &str,
    diags: &mut Diagnostics,
) -> Option<ResolvedSource> {
    let before = diags.len();
    let s = &p.source;
    let format = p.format();
    // Every block given is resolved, so its faults are reported even when it is on a source
    // of another format (which the source check reports too).
    let dialect = text::dialect(
        file,
        text,
        &s.csv.clone().unwrap_or_default(),
        &s.path.value,
        diags,
    );
    let marks = |decimal: &Option<String>, thousands: &Option<String>, default, diags: &mut _| {
        text::number_marks(
            file,
            text,
            decimal.as_deref(),
            thousands.as_deref(),
            default,
            diags,
        )
    };
    let csv_marks = s
        .csv
        .as_ref()
        .map(|c| marks(&c.decimal, &c.thousands, NumberMarks::PLAIN, diags));
    let xlsx = s.xlsx.as_ref().map(|x| {
        let marks = marks(&x.decimal, &x.thousands, NumberMarks::PLAIN, diags);
        (layout::workbook(file, text, x, &p.vars(), diags), marks)
    });
    let html = s.html.as_ref().map(|h| {
        let marks = marks(&h.decimal, &h.thousands, NumberMarks::FRENCH, diags);
        let page = layout::page(file, text, h, diags);
        (layout::layout(file, text, &h.layout(), diags), page, marks)
    });
    let pdf = s.pdf.as_ref().map(|o| {
        let marks = marks(&o.decimal, &o.thousands, NumberMarks::FRENCH, diags);
        (pdf::plan(file, text, o, diags), marks)
    });
    let selectors = selectors(p, format, file, diags);
    let unpivot = unpivot(p, format, file, diags);

    let format = format?;
    let default_marks = match format {
        Format::Pdf | Format::Html => NumberMarks::FRENCH,
        _ => NumberMarks::PLAIN,
    };
    let (number, null_values) = match format {
        Format::Csv => (
            csv_marks,
            s.csv.as_ref().and_then(|c| c.null_values.clone()),
        ),
        Format::Xlsx => (
            xlsx.as_ref().map(|x| x.1),
            s.xlsx.as_ref().and_then(|x| x.null_values.clone()),
        ),
        Format::Html => (
            html.as_ref().map(|h| h.2),
            s.html.as_ref().and_then(|h| h.null_values.clone()),
        ),
        Format::Pdf => (pdf.as_ref().map(|p| p.1), None),
        Format::Json | Format::Parquet | Format::Arrow | Format::Database => (None, None),
    };
    let (layout, page) = match (format, xlsx, html) {
        (Format::Xlsx, Some((l, _)), _) => (l, None),
        (Format::Html, _, Some((l, page, _))) => (l, page),
        (Format::Html, _, None) => (
            TableLayout::default(),
            layout::page(file, text, &Default::default(), diags),
        ),
        _ => (TableLayout::default(), None),
    };
    if diags.len() > before {
        return None;
    }
    Some(ResolvedSource {
        format,
        selectors,
        // Read by the CSV reader only; any other format has no `csv:` block (a fault above).
        dialect,
        number: number.unwrap_or(default_marks),
        null_values,
        layout,
        page,
        pdf: match (format, pdf) {
            (Format::Pdf, Some((plan, _))) => plan,
            _ => PdfPlan::default(),
        },
        unpivot,
    })
}

/// Each `from`/`var` column's selector; a `/regex/` compiled (not for JSON, whose fields are
/// paths).
fn selectors(
    p: &Pipeline,
    format: Option<Format>,
    file: &Path,
    diags: &mut Diagnostics,
) -> Vec<(String, Selector)> {
    let mut out = Vec::new();
    for (name, spec) in &p.columns {
        let selector = if let Some(from) = &spec.from {
            let at = |msg: String| {
                Diagnostic::new(file, from.referenced.line(), from.referenced.column(), msg)
            };
            match regex_of(&from.value) {
                Some(_) if format == Some(Format::Json) => {
                    diags.push(
                        at(format!(
                            "column `{name}`: /regex/ is not supported for JSON"
                        ))
                        .with_hint("use the field's path, e.g. `from: membres.code`"),
                    );
                    continue;
                }
                Some(re) => match Regex::new(re) {
                    Ok(re) => Selector::Regex(re),
                    Err(e) => {
                        diags.push(at(format!("bad regex in `from`: {e}")));
                        continue;
                    }
                },
                None => Selector::Header(from.value.clone()),
            }
        } else if let Some(var) = &spec.var {
            Selector::Var(var.value.clone())
        } else {
            continue;
        };
        out.push((name.clone(), selector));
    }
    out
}

/// The unpivot step: first, on a format with a header row, its regex compiled.
fn unpivot(
    p: &Pipeline,
    format: Option<Format>,
    file: &Path,
    diags: &mut Diagnostics,
) -> Option<UnpivotPlan> {
    let mut plan = None;
    for (i, step) in p.transform.iter().enumerate() {
        let TransformStep::Unpivot(u) = step else {
            continue;
        };
        let at = |msg: &str| {
            Diagnostic::new(
                file,
                u.columns.referenced.line(),
                u.columns.referenced.column(),
                msg.to_string(),
            )
        };
        if i != 0 {
            diags.push(at("unpivot must be the first transform step").with_hint(
                "it runs on the source columns as they are read, before typing and SQL",
            ));
        }
        if matches!(format, Some(Format::Json | Format::Parquet | Format::Arrow)) {
            diags.push(
                at("unpivot applies to csv, workbook, pdf and html sources")
                    .with_hint("JSON records have no header row: select the fields with `from:`"),
            );
        }
        match Regex::new(u.regex()) {
            Ok(columns) => {
                plan = plan.or(Some(UnpivotPlan {
                    columns,
                    name: u.name.clone(),
                    value: u.value.clone(),
                    flag: u.flag_column(),
                }))
            }
            Err(e) => diags.push(at(&format!("bad regex in unpivot `columns`: {e}"))),
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdf_strategy::{Boundaries, Strategy};

    fn resolved(source: &str, columns: &str) -> ResolvedSource {
        let text = format!("name: a.b\nsource: {source}\ncolumns:\n{columns}");
        let p = crate::parse_pipeline(&text).unwrap();
        let mut diags = Diagnostics::default();
        let r = resolve(&p, Path::new("p.yaml"), &text, &mut diags);
        assert!(diags.is_empty(), "{text}\n{diags}");
        r.unwrap()
    }

    #[test]
    fn each_format_resolves_to_the_values_its_reader_uses() {
        let r = resolved(
            "{ path: x.csv, csv: { delimiter: \";\", quote: none, decimal: \",\", thousands: \"\u{a0}\", null_values: [\"-\"] } }",
            "  a: { from: \"/^Code (INSEE)?$/\" }\n  b: { var: y }\n  c: { sql: a }\n",
        );
        assert_eq!((r.dialect.delimiter, r.dialect.quote), (b';', None));
        // a no-break space stands for every space-like separator
        assert_eq!(r.number, NumberMarks::FRENCH);
        assert_eq!(r.null_values, Some(vec!["-".to_string()]));
        let names: Vec<String> = r
            .selectors
            .iter()
            .map(|(n, s)| format!("{n} {s}"))
            .collect();
        assert_eq!(names, ["a /^Code (INSEE)?$/", "b var `y`"]);

        let r = resolved("{ path: x.tsv }", "  a: { from: A }\n");
        assert_eq!((r.dialect.delimiter, r.dialect.quote), (b'\t', Some(b'"')));
        assert_eq!(r.number, NumberMarks::PLAIN);

        // pages and reports print French numbers unless told otherwise
        let r = resolved("{ path: x.html }", "  a: { from: A }\n");
        assert_eq!(r.number, NumberMarks::FRENCH);
        assert!(matches!(r.page.unwrap().table, TableRef::Position(1)));
        let r = resolved(
            "{ path: x.html, html: { table: \"/Équilibres/\", decimal: \".\", thousands: \",\", stop_at: blank } }",
            "  a: { from: A }\n",
        );
        assert_eq!(
            r.number,
            NumberMarks {
                decimal: '.',
                thousands: Some(',')
            }
        );
        assert!(
            matches!(r.page.unwrap().table, TableRef::Title(re) if re.is_match("Équilibres financiers"))
        );
        assert!(matches!(r.layout.stop, Some(Stop::Blank)));

        let r = resolved(
            "{ path: x.pdf, pdf: { pages: \"2,4-\", area: [500, 700, 20, 80], strategy: { columns: text, rows: lines } } }",
            "  a: { from: A }\n",
        );
        assert_eq!(r.number, NumberMarks::FRENCH);
        assert_eq!(
            r.pdf.pages.as_deref().unwrap(),
            [
                PageSpan {
                    first: 2,
                    last: Some(2)
                },
                PageSpan {
                    first: 4,
                    last: None
                }
            ]
        );
        assert_eq!(r.pdf.area, Some([20.0, 80.0, 500.0, 700.0]));
        let axes = Strategy::Axes {
            columns: Boundaries::Text,
            rows: Boundaries::Lines,
        };
        assert_eq!(r.pdf.strategy, axes);

        let r = resolved(
            "{ path: x.xlsx, xlsx: { sheet: \"/^Fiche (?<exercice>\\\\d{4})$/\", range: B5:K, stop_at: \"/^Source/\" } }",
            "  a: { from: A }\n  exercice: { var: exercice }\n",
        );
        let range = r.layout.range.unwrap();
        assert_eq!(
            (range.first_row, range.first_col, range.last_row),
            (4, 1, None)
        );
        assert!(r.layout.sheet.unwrap().is_match("Fiche 2024"));
        assert!(matches!(r.layout.stop, Some(Stop::At(re)) if re.is_match("Source : DGFiP")));
    }

    /// Each fault is located in the file, and a reader given the same pipeline refuses it
    /// with the same words (they come from the one resolution).
    #[test]
    fn each_fault_is_located_and_readers_refuse_it_with_the_same_words() {
        let cases = [
            (
                "{ path: x.csv, csv: { delimiter: \";;\" } }",
                "delimiter `;;` must be one ASCII character",
            ),
            (
                "{ path: x.csv, csv: { quote: \"\" } }",
                "quote `` must be one ASCII character or `none`",
            ),
            (
                "{ path: x.csv, csv: { decimal: \";\" } }",
                "decimal mark `;` must be `.` or `,`",
            ),
            (
                "{ path: x.csv, csv: { thousands: \".\" } }",
                "thousands separator and decimal mark are the same",
            ),
            (
                "{ path: x.pdf, pdf: { thousands: \",\" } }",
                "thousands separator and decimal mark are the same",
            ),
            (
                "{ path: x.pdf, pdf: { pages: \"0-2\" } }",
                "page list `0-2` is not valid",
            ),
            (
                "{ path: x.pdf, pdf: { area: [1, 2, 3] } }",
                "area must be four numbers",
            ),
            (
                "{ path: x.pdf, pdf: { strategy: grid } }",
                "unknown strategy `grid`",
            ),
            (
                "{ path: x.xlsx, xlsx: { range: \"K5:A1\" } }",
                "range `K5:A1` is not a cell range",
            ),
            (
                "{ path: x.xlsx, xlsx: { sheet: 0 } }",
                "sheet positions start at 1",
            ),
            (
                "{ path: x.xlsx, xlsx: { sheet: \"/(/\" } }",
                "bad regex in `sheet`",
            ),
            (
                "{ path: x.xlsx, xlsx: { notes: \"/(/\" } }",
                "bad regex in `notes`",
            ),
            (
                "{ path: x.html, html: { table: 0 } }",
                "table positions start at 1",
            ),
            (
                "{ path: x.html, html: { capture: [\"/([0-9]+)/\"] } }",
                "a `capture` regex needs a named group",
            ),
            (
                "{ path: x.json }\ntransform:\n  - unpivot: { columns: \"/20/\", name: y, value: v }",
                "unpivot applies to csv",
            ),
        ];
        for (source, message) in cases {
            for columns in ["  a: { from: A }\n", "  a: { from: \"/(/\" }\n"] {
                let text = format!("name: a.b\nsource: {source}\ncolumns:\n{columns}");
                let p = crate::parse_pipeline(&text).unwrap();
                let mut diags = Diagnostics::default();
                assert!(resolve(&p, Path::new("p.yaml"), &text, &mut diags).is_none());
                let d = diags.0.iter().find(|d| d.message.contains(message));
                let d = d.unwrap_or_else(|| panic!("{text}\nwants {message:?}, got:\n{diags}"));
                assert!(d.line > 1, "{text}\n{d}");
                // both faults of the second form are reported, each once (a JSON field is
                // a path: no regex there at all)
                let regex = diags.0.iter().filter(|d| {
                    d.message.contains("bad regex in `from`")
                        || d.message.contains("/regex/ is not supported for JSON")
                });
                assert_eq!(
                    regex.count(),
                    usize::from(columns.contains("/(/")),
                    "{diags}"
                );
                assert_eq!(p.resolve_source().err(), Some(diags.0[0].message.clone()));
            }
        }
    }
}
