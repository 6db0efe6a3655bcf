//! Tables printed in PDF reports: `oc-pdf` finds them, then each table goes through the CSV
//! reader (same header matching, French number typing, rejects) as in-memory CSV.

use std::io::{BufRead, Cursor, Read};

use oc_pdf::{ColumnKind, Strategy};
use oc_spec::{ColumnType, Encoding, PdfOptions};

use crate::number::NumberFormat;
use crate::{CsvDialect, ExtractError, FileStats, ReadSpec, Selector, Sink, SourceFile};

/// Reads a PDF source file (plain or gzip-compressed; not from a zip) and hashes it.
pub fn read_file(
    spec: &ReadSpec,
    file: &SourceFile,
    sink: &mut dyn Sink,
) -> Result<FileStats, ExtractError> {
    let name = file.display.as_str();
    let io = |e: std::io::Error| {
        ExtractError::new(name, None, format!("cannot read: {e}"))
            .with_hint("check source.path (relative to the project folder)")
    };
    let raw = std::fs::read(&file.path).map_err(io)?;
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
    let (rows_read, rows_rejected) = read(spec, file, &mut Cursor::new(bytes), sink)?;
    let (sha256, size) = crate::input::hash_file(&file.path).map_err(io)?;
    Ok(FileStats {
        rows_read,
        rows_rejected,
        sha256,
        bytes: size,
        notes: Vec::new(),
    })
}

/// French number marks unless the pipeline says otherwise.
pub fn number_format(o: &PdfOptions) -> NumberFormat {
    NumberFormat {
        decimal: o
            .decimal
            .as_deref()
            .and_then(|d| d.chars().next())
            .unwrap_or(','),
        thousands: match o.thousands.as_deref() {
            Some(t) => t.chars().next().map(|c| {
                if c == '\u{a0}' || c == '\u{202f}' {
                    ' '
                } else {
                    c
                }
            }),
            None => Some(' '),
        },
    }
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

fn matches(sel: &Selector, h: &str) -> bool {
    match sel {
        Selector::Header(name) => h == name || h.eq_ignore_ascii_case(name.trim()),
        Selector::Regex(re) => re.is_match(h),
        Selector::Var(_) => true,
    }
}

fn csv_line(cells: &[String]) -> String {
    let mut s = cells
        .iter()
        .map(|c| {
            if c.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", c.replace('"', "\"\""))
            } else {
                c.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(",");
    s.push('\n');
    s
}

pub fn read(
    spec: &ReadSpec,
    file: &SourceFile,
    input: &mut dyn BufRead,
    sink: &mut dyn Sink,
) -> Result<(u64, u64), ExtractError> {
    let name = file.display.as_str();
    let o = &spec.pdf;
    let mut bytes = Vec::new();
    input
        .read_to_end(&mut bytes)
        .map_err(|e| ExtractError::new(name, None, format!("cannot read: {e}")))?;
    let pdf = oc_pdf::OxideBackend::from_bytes(bytes).map_err(|e| {
        ExtractError::new(name, None, e.to_string())
            .with_hint("check that the source is a PDF file")
    })?;
    let n = oc_pdf::Backend::page_count(&pdf);
    let mut opts = oc_pdf::Options {
        // `{ columns: lines, rows: text }` maps to the CLI form `columns=lines,rows=text`
        strategy: match o.strategy.as_ref().map(|s| s.value.to_cli()) {
            Some(s) => s
                .parse::<Strategy>()
                .map_err(|e| ExtractError::new(name, None, e))?,
            None => Strategy::Auto,
        },
        columns: o.columns.clone(),
        copy_spans: o.repeat_spans,
        ..Default::default()
    };
    if let Some(p) = &o.pages {
        opts.pages = Some(
            oc_pdf::parse_pages(&p.value, n)
                .map_err(|e| ExtractError::new(name, None, e.to_string()))?,
        );
    }
    if let Some(a) = &o.area
        && a.len() == 4
    {
        opts.area = Some(oc_pdf::BBox {
            x0: a[0].min(a[2]),
            top: a[1].min(a[3]),
            x1: a[0].max(a[2]),
            bottom: a[1].max(a[3]),
        });
    }
    let found = oc_pdf::extract(&pdf, &opts).map_err(|e| match e {
        oc_pdf::Error::Unmapped { page, .. } => ExtractError::new(name, None, e.to_string())
            .with_hint(format!(
                "page {page} has no usable text layer; OCR the file or get the data another way"
            )),
        e => ExtractError::new(name, None, e.to_string()),
    })?;
    let tables = if o.stitch_pages {
        oc_pdf::stitch(&found, o.header_rows)
    } else {
        found
    };

    // the tables whose header has every declared source column
    let hr = o.header_rows;
    let selectors: Vec<&Selector> = spec.columns.iter().map(|c| &c.selector).collect();
    let wanted: Vec<&oc_pdf::Table> = tables
        .iter()
        .filter(|t| {
            if hr == 0 {
                return true;
            }
            let h = header_of(t, hr);
            // columns made by unpivot are not in the header; its year columns must be
            let made_by_unpivot = |s: &Selector| match (s, &spec.unpivot) {
                (Selector::Header(n), Some(u)) => [&u.name, &u.value, &u.flag].contains(&n),
                _ => false,
            };
            selectors
                .iter()
                .filter(|s| !made_by_unpivot(s))
                .all(|s| h.iter().any(|x| matches(s, x)))
                && spec
                    .unpivot
                    .as_ref()
                    .is_none_or(|u| h.iter().any(|x| u.columns.is_match(x)))
        })
        .collect();
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

    let mut dialect_spec = spec.clone();
    dialect_spec.csv = CsvDialect {
        delimiter: b',',
        quote: Some(b'"'),
        header: hr > 0,
        skip_rows: 0,
        encoding: Encoding::Utf8,
    };
    let (mut read, mut rejected) = (0, 0);
    for t in wanted {
        let where_ = if t.last_page > t.page {
            format!("pages {}-{} table {}", t.page, t.last_page, t.index)
        } else {
            format!("page {} table {}", t.page, t.index)
        };
        let header = if hr > 0 { header_of(t, hr) } else { Vec::new() };
        if let Some(min) = o.min_quality {
            let kinds: Vec<ColumnKind> = (0..t.n_cols())
                .map(|c| {
                    let declared = spec.columns.iter().find(|col| {
                        header.get(c).is_some_and(|h| matches(&col.selector, h))
                            && !matches!(col.selector, Selector::Var(_))
                    });
                    match declared.map(|d| d.plan.ty) {
                        Some(ty) if is_numeric(ty) => ColumnKind::Number,
                        Some(_) => ColumnKind::Text,
                        None => ColumnKind::Any,
                    }
                })
                .collect();
            let names: Vec<String> = spec
                .columns
                .iter()
                .filter_map(|c| match &c.selector {
                    Selector::Header(h) => Some(h.clone()),
                    _ => None,
                })
                .collect();
            let q = oc_pdf::score(t, hr, &names, &kinds);
            if q.score < min {
                return Err(ExtractError::new(
                    name,
                    None,
                    format!(
                        "{where_}: quality {:.2} is below min_quality {min} (cells of the declared type {:.0}%, rows with the usual cell count {:.0}%, declared columns found in the header {:.0}%)",
                        q.score,
                        q.parse_rate * 100.0,
                        q.consistency * 100.0,
                        q.header_match * 100.0
                    ),
                )
                .with_hint(format!("run `opencoll pdf tables {name} --pages {} --out DIR` and compare with the PDF; adjust area, strategy or columns", t.page)));
            }
        }
        let mut text = String::new();
        if hr > 0 {
            text.push_str(&csv_line(&header));
        }
        for r in t.rows.iter().skip(hr) {
            let cells: Vec<String> = r.iter().map(|c| strip_marker(c).to_string()).collect();
            if cells.iter().all(|c| c.is_empty()) {
                continue;
            }
            text.push_str(&csv_line(&cells));
        }
        let part = SourceFile {
            path: file.path.clone(),
            display: format!("{name} ({where_})"),
            vars: file.vars.clone(),
        };
        let (r, j) = crate::csv::read(
            &dialect_spec,
            &part,
            &mut Cursor::new(text.into_bytes()),
            sink,
        )?;
        read += r;
        rejected += j;
    }
    Ok((read, rejected))
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

    fn repo() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    fn read_sample(pipeline: &str) -> VecSink {
        let yaml = std::fs::read_to_string(repo().join(pipeline)).unwrap();
        let spec = spec(&yaml);
        let file = SourceFile {
            path: repo().join("data/samples/publications/rapport_finances_2024.pdf"),
            display: "rapport_finances_2024.pdf".into(),
            vars: Default::default(),
        };
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
        let got: Vec<(String, String, String)> = sink
            .column("code")
            .into_iter()
            .zip(sink.column("agregat"))
            .zip(sink.column("montant"))
            .map(|((c, a), m)| (c, a, m))
            .collect();
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
        let file = SourceFile {
            path: repo().join("data/samples/publications/rapport_finances_2024.pdf"),
            display: "rapport.pdf".into(),
            vars: Default::default(),
        };
        let mut sink = VecSink::default();
        read_file(&spec(yaml), &file, &mut sink).unwrap();
        assert!(sink.rejects.is_empty(), "{:?}", sink.rejects);
        let rows: Vec<(String, String, String)> = sink
            .column("agregat")
            .into_iter()
            .zip(sink.column("region"))
            .zip(sink.column("montant"))
            .map(|((a, r), m)| (a, r, m))
            .collect();
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
        let file = SourceFile {
            path: repo().join("data/samples/publications/rapport_finances_2024.pdf"),
            display: "rapport.pdf".into(),
            vars: Default::default(),
        };
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
}
