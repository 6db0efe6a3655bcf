//! `opencoll infer FILE`: a first pipeline for a file, written so that it loads that file
//! without a reject. Each format finds its table and samples every value of every column
//! (`csv.rs`, `json.rs`, `workbook.rs`, `page.rs`, `pdf.rs`, the last three through the
//! readers themselves, `sample.rs`); `types.rs` proposes a type per column from what was
//! seen; the pipeline is then read back through the real readers, and a column that still
//! rejects a value is kept as text, said so in its comment.
//!
//! The model (`dialect.rs`, `types.rs`, `layout.rs`, `render.rs`) does no IO.

mod csv;
pub mod dialect;
mod json;
pub mod layout;
mod page;
mod pdf;
pub mod render;
mod sample;
pub mod types;
mod workbook;

use std::path::PathBuf;

use oc_spec::{Encoding, Format};

pub use dialect::{Dialect, sniff};
pub use render::{Draft, Entry, Opt};
pub use types::{ColumnStats, Proposal, propose, snake_case};

use crate::sink::{ExtractError, Reject, Sink};
use crate::spec::{ReadSpec, SourceFile};

/// What the user asked for.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub path: PathBuf,
    /// The path as typed: written into the pipeline and shown in messages.
    pub shown: String,
    /// The command line as typed, for the pipeline's first comment.
    pub command: String,
    /// `<domain>.<table>` (default `raw.<file name>`).
    pub name: Option<String>,
    /// CSV and web pages: the encoding, instead of the sniffed one.
    pub encoding: Option<Encoding>,
    /// CSV: the delimiter, instead of the sniffed one.
    pub delimiter: Option<u8>,
    /// Workbooks: a sheet name or 1-based position (default: the sheet with the most cells).
    pub sheet: Option<String>,
    /// Web pages and PDFs: a 1-based table position (default: the table with the most cells).
    pub table: Option<usize>,
    /// PDFs: the pages to look at, e.g. `2-3`.
    pub pages: Option<String>,
}

/// Every value of every source column, as a format's reader sees them.
pub(crate) struct Sample {
    pub rows: u64,
    /// Source column (`from:`) and what its values look like.
    pub columns: Vec<(String, ColumnStats)>,
    /// The format reads `,` as the decimal mark and ` ` as thousands separator by default
    /// (web pages and PDFs, French publications).
    pub default_comma: bool,
}

/// The proposed pipeline, as YAML.
pub fn infer(req: &Request) -> Result<String, ExtractError> {
    let shown = req.shown.as_str();
    let err = |m: String| ExtractError::new(shown, None, m);
    let lower = shown.to_ascii_lowercase();
    let format = if lower.ends_with(".zip") {
        // a one-member archive of an export
        Some(Format::Csv)
    } else {
        Format::from_path(shown)
    };
    let Some(format) = format else {
        return Err(err("the file's format is not known from its name".into()).with_hint(
            "infer reads .csv .tsv .txt .json .ndjson .xlsx .xls .ods .html .pdf files (also .gz)",
        ));
    };
    let kind = match format {
        Format::Csv => "CSV or text export",
        Format::Json => "JSON file",
        Format::Xlsx => "workbook",
        Format::Html => "web page",
        Format::Pdf => "PDF",
        Format::Parquet | Format::Arrow | Format::Database => "typed file",
    };
    let misplaced = |opt: &str, fits: bool| -> Result<(), ExtractError> {
        if fits {
            Ok(())
        } else {
            Err(err(format!("{opt} does not apply to a {kind}")))
        }
    };
    misplaced("--sheet", req.sheet.is_none() || format == Format::Xlsx)?;
    misplaced(
        "--table",
        req.table.is_none() || matches!(format, Format::Html | Format::Pdf),
    )?;
    misplaced("--pages", req.pages.is_none() || format == Format::Pdf)?;
    misplaced(
        "--delimiter",
        req.delimiter.is_none() || format == Format::Csv,
    )?;
    misplaced(
        "--encoding",
        req.encoding.is_none() || matches!(format, Format::Csv | Format::Html),
    )?;
    let stem = req
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = stem.split('.').next().unwrap_or("table");
    let name = req
        .name
        .clone()
        .unwrap_or_else(|| format!("raw.{}", snake_case(stem)));
    if oc_spec::split_name(&name).is_none() {
        return Err(err(format!("--name `{name}` must be `<domain>.<table>`")).with_hint(
            "lowercase letters, digits and `_`, starting with a letter, e.g. finances.ofgl_essai",
        ));
    }
    let mut draft = Draft {
        command: req.command.clone(),
        rows: 0,
        name,
        path: req.shown.clone(),
        format: match format {
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Xlsx => "xlsx",
            Format::Html => "html",
            Format::Pdf => "pdf",
            Format::Parquet | Format::Arrow | Format::Database => {
                return Err(err(
                    "Parquet and Arrow files carry their column types: there is nothing to infer"
                        .into(),
                )
                .with_hint(
                    "write the pipeline with `parquet: {}` (or `arrow: {}`) and one `from:` per column to keep",
                ));
            }
        },
        options: Vec::new(),
        notes: Vec::new(),
        columns: Vec::new(),
    };
    let sample = match format {
        Format::Csv => csv::sample(req, &mut draft)?,
        Format::Json => json::sample(req, &mut draft)?,
        Format::Xlsx => workbook::sample(req, &mut draft)?,
        Format::Html => page::sample(req, &mut draft)?,
        _ => pdf::sample(req, &mut draft)?,
    };
    if sample.rows == 0 {
        let hint = match format {
            Format::Xlsx => "choose another sheet (--sheet NAME), or check the file",
            Format::Html => "choose another table (--table N), or check the page",
            Format::Pdf => "choose another table or pages (--table N, --pages P)",
            _ => "check the file",
        };
        return Err(err("no row of values found under the header".into()).with_hint(hint));
    }
    draft.rows = sample.rows;
    propose_columns(&mut draft, &sample);
    check(req, &mut draft)?;
    Ok(draft.to_yaml())
}

/// The file's number marks, then one column per source column with its proposed type.
fn propose_columns(draft: &mut Draft, sample: &Sample) {
    let stats = || sample.columns.iter().map(|(_, s)| s);
    let comma = stats().any(ColumnStats::decimal_comma) && !stats().any(ColumnStats::decimal_dot);
    let spaced = if sample.default_comma {
        true
    } else {
        comma && stats().any(ColumnStats::spaced)
    };
    if comma && !sample.default_comma {
        draft.option("decimal", Opt::Text(",".into()), None);
    }
    if spaced && !sample.default_comma {
        draft.option("thousands", Opt::Text(" ".into()), None);
    }
    if !comma && sample.default_comma && stats().any(ColumnStats::decimal_dot) {
        draft.option(
            "decimal",
            Opt::Text(".".into()),
            Some("numbers are written with a decimal point".into()),
        );
    }
    let headers: Vec<&str> = sample.columns.iter().map(|(h, _)| h.as_str()).collect();
    let counts = sample::repeats(&headers);
    let kept: Vec<&(String, ColumnStats)> = sample
        .columns
        .iter()
        .filter(|(h, _)| {
            let why = if h.trim().is_empty() {
                "a column without a header is left out (`from:` needs a name)".to_string()
            } else if counts[h.as_str()] > 1 {
                format!("`{h}` is repeated in the header: left out (a pipeline cannot tell the copies apart; rename one in the file to read it)")
            } else {
                return true;
            };
            draft.columns.push(Entry::Skipped(why));
            false
        })
        .collect();
    let headers: Vec<&str> = kept.iter().map(|(h, _)| h.as_str()).collect();
    if layout::year_columns(&headers) >= 2 {
        draft.notes.push(
            r#"several columns are years: `transform: [ { unpivot: { columns: "/(19|20)\d\d/", name: exercice, value: montant, flag: marque } } ]` makes one row per year (see docs/workbooks.md)"#
                .into(),
        );
    }
    let names = render::column_names(headers.into_iter());
    for ((h, s), name) in kept.into_iter().zip(names) {
        draft.columns.push(Entry::Column {
            name,
            from: h.clone(),
            proposal: propose(h, s, comma, spaced),
            markers: s.markers.clone(),
        });
    }
}

/// Rejects of a reading, by source column.
#[derive(Default)]
struct Rejects {
    by_column: Vec<(String, u64, Reject)>,
    other: Option<(u64, Reject)>,
}

impl Sink for Rejects {
    fn batch(&mut self, _: arrow::record_batch::RecordBatch) -> Result<(), ExtractError> {
        Ok(())
    }
    fn reject(&mut self, r: Reject) -> Result<(), ExtractError> {
        match &r.column {
            Some(c) => match self.by_column.iter_mut().find(|(x, _, _)| x == c) {
                Some((_, n, _)) => *n += 1,
                None => self.by_column.push((c.clone(), 1, r)),
            },
            None => match &mut self.other {
                Some((n, _)) => *n += 1,
                None => self.other = Some((1, r)),
            },
        }
        Ok(())
    }
}

/// The draft as the readers take it (an error here is a bug of infer: what it writes must
/// parse).
pub(crate) fn spec_of(req: &Request, draft: &Draft) -> Result<ReadSpec, ExtractError> {
    let bug = |m: String| {
        ExtractError::new(&req.shown, None, format!("the pipeline infer wrote {m}"))
            .with_hint("this is a bug of opencoll infer: please report it with the file")
    };
    let p = oc_spec::parse_pipeline(&draft.to_yaml())
        .map_err(|d| bug(format!("does not parse: {d}")))?;
    let mut spec = ReadSpec::from_pipeline(&p).map_err(|m| bug(format!("is refused: {m}")))?;
    spec.reject_limit = u64::MAX;
    Ok(spec)
}

/// The file, as the readers take it.
pub(crate) fn source_file(req: &Request) -> SourceFile {
    SourceFile {
        path: req.path.clone(),
        display: req.shown.clone(),
        vars: Default::default(),
        content_type: None,
        bytes_read: None,
    }
}

/// Reads `draft` back as a pipeline, through the same readers as `refresh`.
pub(crate) fn read_with(
    req: &Request,
    draft: &Draft,
    sink: &mut dyn Sink,
) -> Result<(), ExtractError> {
    crate::read_file(&spec_of(req, draft)?, &source_file(req), sink).map(|_| ())
}

/// Reads the file with the proposed pipeline; a column that rejects values becomes text (its
/// comment says which value and why), until nothing is rejected. (A row is rejected for its
/// first bad cell, so a column can show its rejects only once the one before it is text: at
/// most one reading per column.)
fn check(req: &Request, draft: &mut Draft) -> Result<(), ExtractError> {
    let mut encoding_changed = false;
    for _ in 0..=draft.columns.len() + 1 {
        let mut rejects = Rejects::default();
        read_with(req, draft, &mut rejects)?;
        let mut changed = false;
        for (column, n, first) in &rejects.by_column {
            for e in &mut draft.columns {
                if let Entry::Column { from, proposal, .. } = e
                    && from == column
                    && proposal.ty != "string"
                {
                    let values = if *n == 1 {
                        "1 value is".to_string()
                    } else {
                        format!("{n} values are")
                    };
                    proposal.comment = format!(
                        "{values} not {} (e.g. {:?}: {}): kept as text",
                        proposal.ty,
                        first.value.clone().unwrap_or_default(),
                        first.reason
                    );
                    proposal.ty = "string".into();
                    proposal.width = None;
                    proposal.format = None;
                    changed = true;
                }
            }
        }
        if !changed {
            if let Some((n, r)) = rejects
                .other
                .or_else(|| rejects.by_column.first().map(|(_, n, r)| (*n, r.clone())))
            {
                // The dialect was sniffed from the first 64 KiB: a byte past them that is
                // not UTF-8 is windows-1252's (every byte is one of its characters).
                let utf8 = draft.options.iter().any(|(k, v, _)| {
                    *k == "encoding" && matches!(v, Opt::Word(w) if *w == Encoding::Utf8.name())
                });
                if utf8
                    && req.encoding.is_none()
                    && !encoding_changed
                    && r.reason.contains("invalid UTF-8")
                {
                    draft.option(
                        "encoding",
                        Opt::Word(Encoding::Windows1252.name()),
                        Some(format!(
                            "line {} is not UTF-8 ({}), the lines before it are",
                            r.line, r.reason
                        )),
                    );
                    encoding_changed = true;
                    continue;
                }
                draft.notes.push(format!(
                    "WARNING: {n} rows are rejected even with text columns (line {}: {})",
                    r.line, r.reason
                ));
            }
            return Ok(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(dir: &std::path::Path, name: &str, bytes: &[u8]) -> Request {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        Request {
            shown: path.to_string_lossy().into_owned(),
            command: format!("opencoll infer {name}"),
            path,
            ..Default::default()
        }
    }

    #[test]
    fn a_type_the_reader_refuses_becomes_text_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let req = request(dir.path(), "t.csv", b"code;n\n01001;12\n2A004;x\n");
        let mut draft = Draft {
            command: req.command.clone(),
            rows: 2,
            name: "raw.t".into(),
            path: req.shown.clone(),
            format: "csv",
            options: vec![("delimiter", Opt::Text(";".into()), None)],
            notes: Vec::new(),
            columns: Vec::new(),
        };
        for (from, ty) in [("code", "code"), ("n", "int64")] {
            draft.columns.push(Entry::Column {
                name: from.into(),
                from: from.into(),
                proposal: Proposal {
                    ty: ty.into(),
                    width: None,
                    format: None,
                    comment: "guessed".into(),
                },
                markers: Vec::new(),
            });
        }
        check(&req, &mut draft).unwrap();
        let yaml = draft.to_yaml();
        assert!(
            yaml.contains(
                r#""n": { from: "n", type: "string" }   # 1 value is not int64 (e.g. "x": "#
            ),
            "{yaml}"
        );
        assert!(yaml.contains(r#"code: { from: "code", type: "code" }   # guessed"#));
    }

    #[test]
    fn an_export_with_title_lines() {
        let dir = tempfile::tempdir().unwrap();
        let req = request(
            dir.path(),
            "pop.csv",
            "Populations légales 2013\n\nDEPCOM;PMUN13\n97101;57960\n97102;5114\n".as_bytes(),
        );
        let yaml = infer(&req).unwrap();
        assert!(yaml.contains("    skip_rows: 2\n"), "{yaml}");
        assert!(
            yaml.contains(r#"depcom: { from: "DEPCOM", type: "code", width: 5 }"#),
            "{yaml}"
        );
        assert!(yaml.contains("from 2 rows"), "{yaml}");
    }

    /// The dialect is sniffed from the first 64 KiB; a windows-1252 accent past them made the
    /// inferred pipeline reject its own file. The check reading the whole file now switches.
    #[test]
    fn an_accent_past_the_sniffed_bytes_chooses_windows_1252() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = b"code;nom;montant\n".to_vec();
        for i in 0..6000 {
            bytes.extend_from_slice(format!("{i:05};Commune {i};1,00\n").as_bytes());
        }
        bytes.extend_from_slice(b"99999;Saint-\xC9tienne;1,00\n");
        assert!(bytes.len() > 128 * 1024);
        let req = request(dir.path(), "late.csv", &bytes);
        let yaml = infer(&req).unwrap();
        assert!(yaml.contains("encoding: windows-1252"), "{yaml}");
        assert!(yaml.contains("line 6002 is not UTF-8"), "{yaml}");
        assert!(!yaml.contains("WARNING"), "{yaml}");
        // and the pipeline reads every row of its file
        let spec = ReadSpec::from_pipeline(&oc_spec::parse_pipeline(&yaml).unwrap()).unwrap();
        let mut rejects = Rejects::default();
        crate::read_file(&spec, &source_file(&req), &mut rejects).unwrap();
        assert!(rejects.other.is_none() && rejects.by_column.is_empty());
    }

    #[test]
    fn a_workbook_title_block_and_a_report_table() {
        let dir = tempfile::tempdir().unwrap();
        let book = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../data/samples/publications/comptes_regions.xlsx"),
        )
        .unwrap();
        let req = request(dir.path(), "comptes.xlsx", &book);
        let yaml = infer(&req).unwrap();
        // the publication's layout, found from its cells: two header rows, notes after a
        // blank row; `s` (secret) seen as a NULL marker of the amounts
        assert!(yaml.contains("    header_rows: 2\n"), "{yaml}");
        assert!(yaml.contains("    stop_at: blank\n"), "{yaml}");
        assert!(
            yaml.contains(r#"code: { from: "Code", type: "code""#),
            "{yaml}"
        );
        assert!(yaml.contains("NULL markers seen: s"), "{yaml}");
        let p = oc_spec::parse_pipeline(&yaml).unwrap();
        assert!(ReadSpec::from_pipeline(&p).is_ok());
    }
}
