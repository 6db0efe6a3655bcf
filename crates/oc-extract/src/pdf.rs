//! Tables printed in PDF reports: `oc-pdf` finds them, then each table's cells go through
//! the readers' shared header matching and typing (`rows.rs`): French numbers, rejects.

use std::borrow::Cow;
use std::io::Read;
use std::time::Duration;

use oc_pdf::{ColumnKind, Strategy};
use oc_spec::ColumnType;

use crate::input::HashingReader;
use crate::rows::{Layout, RowWriter, Slot};
use crate::sink::{ExtractError, FileStats, Sink};
use crate::spec::{ReadSpec, SourceFile};

/// Reads a PDF source file (plain or gzip-compressed; not from a zip) and hashes it.
pub fn read_file(
    spec: &ReadSpec,
    file: &SourceFile,
    sink: &mut dyn Sink,
) -> Result<FileStats, ExtractError> {
    let (bytes, sha256, size) = load(file)?;
    let (rows_read, rows_rejected) = read_tables(spec, file, bytes, sink)?;
    Ok(FileStats {
        rows_read,
        rows_rejected,
        sha256,
        bytes: size,
        mtime: None,
        notes: Vec::new(),
        cursor: None,
    })
}

/// A table found in a PDF, as `opencoll infer` chooses among them.
#[derive(Debug, Clone)]
pub struct TableHead {
    pub page: usize,
    /// The last page of a table stitched across pages (`page` otherwise).
    pub last_page: usize,
    /// 1-based on its page.
    pub index: usize,
    /// Column names from the pipeline's `header_rows` (empty text where the header is blank).
    pub header: Vec<String>,
    /// Rows below the header.
    pub rows: usize,
}

/// The tables the pipeline's pages, area and strategy find (stitched when it stitches),
/// in document order, without reading any row.
pub fn list_tables(spec: &ReadSpec, file: &SourceFile) -> Result<Vec<TableHead>, ExtractError> {
    let (bytes, _, _) = load(file)?;
    let hr = spec.pdf.header_rows;
    Ok(find_tables(spec, file, bytes)?
        .iter()
        .map(|t| TableHead {
            page: t.page,
            last_page: t.last_page.max(t.page),
            index: t.index,
            header: header_of(t, hr),
            rows: t.rows.len().saturating_sub(hr),
        })
        .collect())
}

/// The file's bytes (gunzipped), its hash and size; refuses what is not a PDF.
fn load(file: &SourceFile) -> Result<(Vec<u8>, String, u64), ExtractError> {
    let name = file.display.as_str();
    let io = |e: std::io::Error| {
        ExtractError::new(name, None, format!("cannot read: {e}"))
            .with_hint("check source.path (relative to the project folder)")
    };
    // hashed as it is read: the file is read once
    let mut hashing = HashingReader::new(std::fs::File::open(&file.path).map_err(io)?);
    let mut raw = Vec::new();
    hashing.read_to_end(&mut raw).map_err(io)?;
    let (sha256, size) = hashing.finish().map_err(io)?;
    let bytes = if raw.starts_with(b"\x1F\x8B") {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| ExtractError::new(name, None, format!("corrupt gzip data: {e}")))?;
        out
    } else {
        raw
    };
    if !bytes.starts_with(b"%PDF") && !bytes.windows(5).take(1024).any(|w| w == b"%PDF-") {
        return Err(ExtractError::new(
            name,
            None,
            "this file is not a PDF document (no %PDF header)",
        )
        .with_hint("set source.format to the real format, or fix the download"));
    }
    Ok((bytes, sha256, size))
}

/// `12 345,6 (e)` → `12 345,6`: estimate/provisional/revised markers after a number are
/// notes for the reader, not part of the value.
fn strip_marker(cell: &str) -> &str {
    let t = cell.trim();
    for m in ["(e)", "(p)", "(r)", "(sd)", "(*)", "*"] {
        if let Some(v) = t.strip_suffix(m) {
            let v = v.trim_end();
            if oc_pdf::quality::looks_numeric(v) {
                return v;
            }
        }
    }
    t
}

fn header_of(t: &oc_pdf::Table, rows: usize) -> Vec<String> {
    (0..t.n_cols())
        .map(|c| {
            let parts: Vec<&str> = t
                .rows
                .iter()
                .take(rows)
                .filter_map(|r| r.get(c).map(|s| s.trim()))
                .filter(|s| !s.is_empty())
                .collect();
            parts
                .join(" ")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// The pipeline's resolved strategy as the PDF crate names it.
fn pdf_strategy(s: oc_spec::pdf_strategy::Strategy) -> Strategy {
    use oc_spec::pdf_strategy::{Boundaries as B, Strategy as S};
    let axis = |b: B| match b {
        B::Lines => oc_pdf::Boundaries::Lines,
        B::Text => oc_pdf::Boundaries::Text,
    };
    match s {
        S::Lattice => Strategy::Lattice,
        S::Stream => Strategy::Stream,
        S::Auto => Strategy::Auto,
        S::Axes { columns, rows } => Strategy::axes(axis(columns), axis(rows)),
    }
}

/// How long finding the tables of one PDF may take, in seconds (default 300). A damaged
/// content stream can make pdf_oxide's parser quadratic (found by `scripts/fuzz.sh`: a
/// mutated 120 KB report took 2.5 s, the same fault in a file ten times larger about a
/// hundred times longer), which must not hold a refresh for hours.
pub const PDF_TIMEOUT_VAR: &str = "OPENCOLL_PDF_TIMEOUT";
const PDF_TIMEOUT_DEFAULT: Duration = Duration::from_secs(300);

/// The limit `value` (the variable's text, if set) gives.
fn time_limit(name: &str, value: Option<String>) -> Result<Duration, ExtractError> {
    crate::contain::time_limit(name, PDF_TIMEOUT_VAR, PDF_TIMEOUT_DEFAULT, value)
}

/// The tables of a PDF document on the pipeline's pages, stitched when it stitches, found
/// within the time and memory limits.
fn find_tables(
    spec: &ReadSpec,
    file: &SourceFile,
    bytes: Vec<u8>,
) -> Result<Vec<oc_pdf::Table>, ExtractError> {
    let limit = time_limit(&file.display, std::env::var(PDF_TIMEOUT_VAR).ok())?;
    let memory = crate::contain::reader_memory(&file.display)?;
    find_tables_within(spec, file, bytes, limit, Some(memory))
}

fn find_tables_within(
    spec: &ReadSpec,
    file: &SourceFile,
    bytes: Vec<u8>,
    limit: Duration,
    memory_mib: Option<u64>,
) -> Result<Vec<oc_pdf::Table>, ExtractError> {
    let (name, options, plan) = (
        file.display.clone(),
        spec.pdf.clone(),
        spec.pdf_plan.clone(),
    );
    // In a reader process (oc_contain::process) the limits bound the read; here, the time
    // limit bounds the wait for it (memory is the process's own).
    if oc_contain::process::reader_process() {
        let limits = oc_contain::process::Limits {
            time: Some(limit),
            memory_mib,
        };
        return crate::contain::contained(&file.display, || {
            tables_of(&name, &options, &plan, bytes, limits)
        });
    }
    let hint = timeout_hint(limit.as_secs_f64());
    crate::contain::within(&file.display, limit, &hint, move || {
        tables_of(&name, &options, &plan, bytes, Default::default())
    })
}

fn timeout_hint(secs: f64) -> String {
    crate::contain::time_limit_hint("download or export it again", PDF_TIMEOUT_VAR, secs)
}

fn tables_of(
    name: &str,
    o: &oc_spec::PdfOptions,
    plan: &oc_spec::resolve::PdfPlan,
    bytes: Vec<u8>,
    limits: oc_contain::process::Limits,
) -> Result<Vec<oc_pdf::Table>, ExtractError> {
    let mut opts = oc_pdf::Options {
        strategy: pdf_strategy(plan.strategy),
        columns: o.columns.clone(),
        copy_spans: o.repeat_spans,
        ..Default::default()
    };
    opts.pages = plan.pages.as_ref().map(|spans| {
        spans
            .iter()
            .map(|s| oc_pdf::PageRange {
                first: s.first,
                last: s.last,
            })
            .collect()
    });
    if let Some([x0, top, x1, bottom]) = plan.area {
        opts.area = Some(oc_pdf::BBox {
            x0,
            top,
            x1,
            bottom,
        });
    }
    let found =
        oc_pdf::child::extract_bytes(bytes, &opts, limits).map_err(|e| reading_failed(name, e))?;
    Ok(if o.stitch_pages {
        oc_pdf::stitch(&found, o.header_rows)
    } else {
        found
    })
}

/// The error of reading the PDF `name`, with what to do about it.
pub fn reading_failed(name: &str, e: oc_pdf::Error) -> ExtractError {
    match e {
        oc_pdf::Error::Open(_) => ExtractError::new(name, None, e.to_string())
            .with_hint("check that the source is a PDF file"),
        oc_pdf::Error::Unmapped { page, .. } => ExtractError::new(name, None, e.to_string())
            .with_hint(format!(
                "page {page} has no usable text layer; OCR the file or get the data another way"
            )),
        oc_pdf::Error::Crashed(_) => {
            ExtractError::new(name, None, e.to_string()).with_hint("download or export it again")
        }
        oc_pdf::Error::Reader(_) => ExtractError::new(name, None, e.to_string())
            .with_hint(crate::contain::READER_START_HINT),
        oc_pdf::Error::TimedOut(secs) => crate::contain::timed_out(name, secs, &timeout_hint(secs)),
        oc_pdf::Error::OutOfMemory(mib) => ExtractError::new(name, None, e.to_string()).with_hint(
            crate::contain::out_of_memory_hint("download or export it again", mib),
        ),
        e => ExtractError::new(name, None, e.to_string()),
    }
}

/// Finds the tables of a PDF document and reads those the pipeline's columns match.
fn read_tables(
    spec: &ReadSpec,
    file: &SourceFile,
    bytes: Vec<u8>,
    sink: &mut dyn Sink,
) -> Result<(u64, u64), ExtractError> {
    let name = file.display.as_str();
    let o = &spec.pdf;
    let tables = find_tables(spec, file, bytes)?;

    // A table is read when the declared columns resolve against its header as they would
    // against a CSV header (same matching; unpivot's year columns included).
    let hr = o.header_rows;
    let mut wanted = Vec::new();
    for t in &tables {
        let part = SourceFile {
            bytes_read: None,
            path: file.path.clone(),
            display: format!("{name} ({})", where_of(t)),
            vars: file.vars.clone(),
            content_type: None,
        };
        let header = header_of(t, hr);
        let headers = (hr > 0).then_some(header.as_slice());
        if let Ok(layout) = Layout::resolve(spec, &part, headers, hr as u64) {
            wanted.push((t, part, layout));
        }
    }
    if wanted.is_empty() {
        let seen: Vec<String> = tables
            .iter()
            .map(|t| {
                format!(
                    "page {} table {}: {}",
                    t.page,
                    t.index,
                    header_of(t, hr.max(1)).join(" | ")
                )
            })
            .collect();
        return Err(ExtractError::new(
            name,
            None,
            format!(
                "no table has all the declared columns ({} table(s) found{})",
                tables.len(),
                if seen.is_empty() { String::new() } else { format!(": {}", seen.join("; ")) }
            ),
        )
        .with_hint("check `from:` names against the table headers, pdf.header_rows, pages, area and strategy"));
    }

    let (mut read, mut rejected) = (0, 0);
    for (t, part, layout) in wanted {
        if let Some(min) = o.min_quality {
            // each column's kind is the declared type of the column read from it
            let mut kinds = vec![ColumnKind::Any; t.n_cols()];
            for (slot, col) in layout.slots.iter().zip(&spec.columns) {
                if let Slot::Field(f) = slot
                    && let Some(k) = kinds.get_mut(*f)
                {
                    *k = if is_numeric(col.plan.ty) {
                        ColumnKind::Number
                    } else {
                        ColumnKind::Text
                    };
                }
            }
            let names: Vec<String> = spec.header_names().map(str::to_string).collect();
            let q = oc_pdf::score(t, hr, &names, &kinds);
            if q.score < min {
                return Err(ExtractError::new(
                    name,
                    None,
                    format!(
                        "{}: quality {:.2} is below min_quality {min} (cells of the declared type {:.0}%, rows with the usual cell count {:.0}%, declared columns found in the header {:.0}%)",
                        where_of(t),
                        q.score,
                        q.parse_rate * 100.0,
                        q.consistency * 100.0,
                        q.header_match * 100.0
                    ),
                )
                .with_hint(format!("run `opencoll pdf tables {name} --pages {} --out DIR` and compare with the PDF; adjust area, strategy or columns", t.page)));
            }
        }
        // Rejects give the row of the table (header rows counted from 1).
        let mut rows = RowWriter::new(spec, &part, layout.labels.clone());
        for (i, r) in t.rows.iter().enumerate().skip(hr) {
            if r.iter().all(|c| strip_marker(c).is_empty()) {
                continue;
            }
            layout.emit(&mut rows, sink, i as u64 + 1, |c| {
                r.get(c).map(|s| Cow::Borrowed(strip_marker(s)))
            })?;
        }
        let (r, j) = rows.finish(sink)?;
        read += r;
        rejected += j;
    }
    Ok((read, rejected))
}

/// `page 3 table 1`, or `pages 3-4 table 1` for a stitched table.
fn where_of(t: &oc_pdf::Table) -> String {
    if t.last_page > t.page {
        format!("pages {}-{} table {}", t.page, t.last_page, t.index)
    } else {
        format!("page {} table {}", t.page, t.index)
    }
}

fn is_numeric(ty: ColumnType) -> bool {
    !ty.is_text() && !matches!(ty, ColumnType::Date | ColumnType::Bool)
}

#[cfg(test)]
mod tests {
    use super::strip_marker;
    use crate::testutil::{VecSink, spec};
    use crate::{SourceFile, read_file};
    use std::path::PathBuf;
    use std::time::Duration;

    fn repo() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    fn read_sample(pipeline: &str) -> VecSink {
        let yaml = std::fs::read_to_string(repo().join(pipeline)).unwrap();
        let spec = spec(&yaml);
        let file = source_file(
            repo().join("data/samples/publications/rapport_finances_2024.pdf"),
            "rapport_finances_2024.pdf",
        );
        let mut sink = VecSink::default();
        read_file(&spec, &file, &mut sink).unwrap();
        assert!(sink.rejects.is_empty(), "{:?}", sink.rejects);
        sink
    }

    /// (code, agrégat, montant) of an OFGL-format sample, amounts as written there.
    fn figures(file: &str, code_col: &str) -> Vec<(String, String, String)> {
        let mut r = csv::ReaderBuilder::new()
            .delimiter(b';')
            .from_path(repo().join("data/samples/ofgl").join(file))
            .unwrap();
        let h: Vec<String> = r
            .headers()
            .unwrap()
            .iter()
            .map(|h| h.trim_start_matches('\u{feff}').to_string())
            .collect();
        let col = |n: &str| h.iter().position(|x| x == n).unwrap();
        let (c, a, m) = (col(code_col), col("Agrégat"), col("Montant"));
        r.records()
            .map(|x| x.unwrap())
            .map(|x| (x[c].to_string(), x[a].to_string(), x[m].to_string()))
            .collect()
    }

    #[test]
    fn stitched_unruled_table_equals_the_figures_it_was_printed_from() {
        let sink = read_sample("pipelines/publications/rapport_departements.yaml");
        let got = sink.triples("code", "agregat", "montant");
        let want = figures(
            "ofgl-base-departements-consolidee_2024.csv",
            "Code Insee 2024 Département",
        );
        assert_eq!(want.len(), 42);
        assert_eq!(got, want);
    }

    #[test]
    fn ruled_table_equals_the_figures_it_was_printed_from() {
        let sink = read_sample("pipelines/publications/rapport_regions.yaml");
        let agregats = sink.column("agregat");
        assert_eq!(agregats.len(), 21);
        let want = figures(
            "ofgl-base-regions-consolidee_2024.csv",
            "Code Insee 2024 Région",
        );
        for (code, col) in [
            ("01", "guadeloupe"),
            ("27", "bourgogne_franche_comte"),
            ("94", "corse"),
        ] {
            let got = sink.column(col);
            for (i, a) in agregats.iter().enumerate() {
                let w = want
                    .iter()
                    .find(|(c, ag, _)| c == code && ag == a)
                    .expect("agrégat in the CSV");
                assert_eq!(got[i], w.2, "{col} / {a}");
            }
        }
    }

    #[test]
    fn unpivot_turns_the_region_columns_into_rows() {
        // Tableau 1 has one column per région: unpivot gives (agrégat, région, montant) rows.
        let yaml = r#"
name: a.b
source:
  path: x.pdf
  pdf: { pages: "1", strategy: lattice }
transform:
  - unpivot: { columns: "/^(Guadeloupe|Bourgogne-Franche-Comté|Corse)$/", name: region, value: montant }
columns:
  agregat: { from: Agrégat }
  region:  { from: region }
  montant: { from: montant, type: "decimal(18,2)" }
"#;
        let file = source_file(
            repo().join("data/samples/publications/rapport_finances_2024.pdf"),
            "rapport.pdf",
        );
        let mut sink = VecSink::default();
        read_file(&spec(yaml), &file, &mut sink).unwrap();
        assert!(sink.rejects.is_empty(), "{:?}", sink.rejects);
        let rows = sink.triples("agregat", "region", "montant");
        assert_eq!(rows.len(), 21 * 3);
        let want = figures(
            "ofgl-base-regions-consolidee_2024.csv",
            "Code Insee 2024 Région",
        );
        for (a, region, m) in &rows {
            let code = match region.as_str() {
                "Guadeloupe" => "01",
                "Bourgogne-Franche-Comté" => "27",
                "Corse" => "94",
                other => panic!("unexpected région {other}"),
            };
            let w = want
                .iter()
                .find(|(c, ag, _)| c == code && ag == a)
                .expect("agrégat in the CSV");
            assert_eq!(m, &w.2, "{region} / {a}");
        }
    }

    #[test]
    fn low_quality_fails_naming_page_and_table() {
        // the label column declared as an amount: no body cell parses, quality falls
        let yaml = "name: a.b\nsource:\n  path: x.pdf\n  pdf: { pages: \"1\", strategy: lattice, min_quality: 0.9 }\ncolumns:\n  agregat: { from: Agrégat, type: \"decimal(18,2)\" }\n  corse: { from: Corse, type: \"decimal(18,2)\" }\n";
        let file = source_file(
            repo().join("data/samples/publications/rapport_finances_2024.pdf"),
            "rapport.pdf",
        );
        let err = read_file(&spec(yaml), &file, &mut VecSink::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("page 1 table 1: quality 0.83 is below min_quality 0.9"),
            "{err}"
        );
        // a header that is not in the PDF: every table found is listed
        let yaml = "name: a.b\nsource:\n  path: x.pdf\n  pdf: { pages: \"1\" }\ncolumns:\n  p: { from: Population }\n";
        let err = read_file(&spec(yaml), &file, &mut VecSink::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no table has all the declared columns")
                && err.contains("page 1 table 2: Code | Département"),
            "{err}"
        );
    }

    #[test]
    fn markers_after_numbers_are_dropped() {
        assert_eq!(strip_marker("12 345,6 (e)"), "12 345,6");
        assert_eq!(strip_marker("7,5(p)"), "7,5");
        assert_eq!(strip_marker("Paris (p)"), "Paris (p)");
    }

    #[test]
    fn the_time_limit_is_a_positive_number_of_seconds_and_never_a_panic() {
        let limit = |v: Option<&str>| super::time_limit("r.pdf", v.map(String::from));
        assert_eq!(limit(None).unwrap(), Duration::from_secs(300));
        assert_eq!(limit(Some(" 1.5 ")).unwrap(), Duration::from_millis(1500));
        for bad in ["0", "-3", "abc", "", "NaN", "inf", "1e30"] {
            let err = limit(Some(bad)).unwrap_err().to_string();
            assert!(err.contains("is not a number of seconds"), "{bad}: {err}");
        }
    }

    /// The source file `path`, named `display` in messages.
    fn source_file(path: std::path::PathBuf, display: &str) -> SourceFile {
        SourceFile {
            bytes_read: None,
            path,
            display: display.into(),
            vars: Default::default(),
            content_type: None,
        }
    }

    /// A one-page PDF whose page draws `content`.
    fn pdf_with_content(content: &[u8]) -> Vec<u8> {
        pdf_with_form(content, None)
    }

    /// A stream object holding `data`.
    fn stream(dict: &str, data: &[u8]) -> Vec<u8> {
        [
            format!("<< {dict} /Length {} >>\nstream\n", data.len()).as_bytes(),
            data,
            b"\nendstream",
        ]
        .concat()
    }

    /// A one-page PDF whose page draws `content`, with `form` as the Form XObject `/Fm1`.
    fn pdf_with_form(content: &[u8], form: Option<&[u8]>) -> Vec<u8> {
        let xobject = if form.is_some() {
            "/XObject << /Fm1 6 0 R >>"
        } else {
            ""
        };
        let mut objects: Vec<Vec<u8>> = vec![
            b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R \
                 /Resources << /Font << /F1 5 0 R >> {xobject} >> >>"
            )
            .into_bytes(),
            stream("", content),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
        ];
        if let Some(form) = form {
            objects.push(stream(
                "/Type /XObject /Subtype /Form /BBox [0 0 595 842] \
                 /Resources << /Font << /F1 5 0 R >> >>",
                form,
            ));
        }
        let mut pdf = b"%PDF-1.4\n".to_vec();
        let mut offsets = Vec::new();
        for (i, o) in objects.iter().enumerate() {
            offsets.push(pdf.len());
            pdf.extend(format!("{} 0 obj\n", i + 1).as_bytes());
            pdf.extend(o);
            pdf.extend(b"\nendobj\n");
        }
        let xref = pdf.len();
        pdf.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
        for o in offsets {
            pdf.extend(format!("{o:010} 00000 n \n").as_bytes());
        }
        pdf.extend(
            format!(
                "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
                objects.len() + 1
            )
            .as_bytes(),
        );
        pdf
    }

    /// The error of finding the tables of `pdf`, a file named `name`, within `limit`, and
    /// the time that took.
    fn error_within(name: &str, pdf: &[u8], limit: Duration) -> (String, Duration) {
        let spec =
            spec("name: t.t\nsource: { path: x.pdf, format: pdf }\ncolumns: { a: { from: A } }\n");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, pdf).unwrap();
        let file = source_file(path, name);
        let (bytes, _, _) = super::load(&file).unwrap();
        let t = std::time::Instant::now();
        let err = super::find_tables_within(&spec, &file, bytes, limit, None)
            .unwrap_err()
            .to_string();
        (err, t.elapsed())
    }

    /// Found by scripts/fuzz.sh (a mutated report): a string that never closes, followed by
    /// more `(`, makes pdf_oxide 0.3's content parser scan to the end of the stream from each
    /// of them. Such a file is an error within the time limit, not a refresh that never ends.
    #[test]
    fn a_pdf_that_would_take_hours_is_an_error_within_the_time_limit() {
        let mut content = b"BT /F1 10 Tf 50 800 Td (A) Tj ET BT 50 780 Td ".to_vec();
        // 200 KB of it: about 20 s in an optimised build (the time grows with the square).
        content.extend(b"(a".repeat(100_000));
        content.extend(b" ET");
        let (err, took) = error_within(
            "unclosed.pdf",
            &pdf_with_content(&content),
            Duration::from_millis(500),
        );
        assert!(took < Duration::from_secs(5), "{took:?}");
        assert!(err.starts_with("unclosed.pdf: "), "{err}");
        assert!(err.contains("longer than the time limit (0.5 s)"), "{err}");
        assert!(err.contains("OPENCOLL_PDF_TIMEOUT"), "{err}");
    }

    #[test]
    fn a_page_nesting_arrays_past_the_parsers_stack_is_an_error_not_an_abort() {
        // 100,000 `[` overflow pdf_oxide's recursive parser even on the reader thread's 64
        // MiB stack, and a stack overflow aborts the process (this test binary with it).
        let mut nested = b"BT ".to_vec();
        nested.extend(b"[".repeat(100_000));
        nested.extend(b" ET");
        let page = b"BT /F1 10 Tf 50 800 Td (A) Tj ET ";
        // In the page's own content, then in a form the page draws.
        let pdfs = [
            pdf_with_content(&[page.as_slice(), &nested].concat()),
            pdf_with_form(&[page.as_slice(), b"/Fm1 Do"].concat(), Some(&nested)),
        ];
        for pdf in pdfs {
            let (err, _) = error_within("nested.pdf", &pdf, Duration::from_secs(60));
            assert!(err.starts_with("nested.pdf: "), "{err}");
            assert!(err.contains("more than 1000 levels deep"), "{err}");
        }
    }
}
