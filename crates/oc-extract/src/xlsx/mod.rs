//! Workbooks (`.xlsx`, `.xlsm`, `.xlsb`, `.xls`, `.ods`) through calamine, including the
//! report layouts of statistical publications: title rows above the header, multi-row headers
//! with merged cells, footnotes, notes below the table, several tables per sheet.
//!
//! `.xlsx` sheets are streamed cell by cell (one row in memory, plus the header rows); the
//! legacy formats are small and are read as a whole range by calamine. A reader process opens
//! each workbook first, and loads it whole when this process will, under a memory limit
//! (`probe.rs`: a forged file can claim billions of cells or strings).
//!
//! `cells.rs` converts calamine's cells into values; `rows.rs` streams a sheet's rows (cell by
//! cell for `.xlsx`, from a loaded range otherwise); `table.rs` is the state machine that finds
//! the header and the data of a report table (title rows, multi-row headers, footnotes, notes).

pub(crate) mod cells;
pub(crate) mod probe;
pub(crate) mod rows;
pub(crate) mod table;

use calamine::{Reader, Sheets, open_workbook_auto};
use oc_spec::{SheetRef, XlsxOptions};
use regex::Regex;

use crate::sink::{ExtractError, FileStats, Sink};
use crate::spec::{ReadSpec, SourceFile};

pub use cells::Value;
pub use probe::{WORKBOOK_JOB, answer_workbook};
use rows::{RangeRows, XlsxRows, produce_cells};
use table::read_table;

/// Reads every selected sheet of a workbook.
pub fn read_workbook(
    spec: &ReadSpec,
    file: &SourceFile,
    sink: &mut dyn Sink,
) -> Result<FileStats, ExtractError> {
    crate::contain::contained(&file.display, || read_sheets(spec, file, sink))
}

fn read_sheets(
    spec: &ReadSpec,
    file: &SourceFile,
    sink: &mut dyn Sink,
) -> Result<FileStats, ExtractError> {
    let name = file.display.as_str();
    let err = |msg: String| ExtractError::new(name, None, msg);
    if spec.member.is_some() {
        return Err(err("`member` applies to zip archives, not workbooks".into()));
    }
    let (sha256, bytes) =
        crate::input::hash_file(&file.path).map_err(|e| err(format!("cannot read: {e}")))?;
    probe::probe(&file.path, name, !probe::streamed(&file.path))?;
    let mut wb = open_book(&file.path, name)?;
    let sheet_regex = spec.layout.sheet.as_ref();
    let sheets = select_sheets(&wb.sheet_names(), &spec.xlsx, sheet_regex, file).map_err(err)?;
    let mut stats = FileStats {
        rows_read: 0,
        rows_rejected: 0,
        sha256,
        bytes,
        mtime: None,
        notes: Vec::new(),
        cursor: None,
    };
    for (sheet, vars) in sheets {
        let mut file = file.clone();
        file.display = format!("{}[{}]", file.display, sheet);
        file.vars.extend(vars);
        let (read, rejected, notes) = match &mut wb {
            Sheets::Xlsx(x) => {
                // Merged cells only matter for the header, and calamine finds them in an
                // .xlsx by parsing the whole sheet (they come after the cells): read them,
                // from a second handle, only when the header has gaps a merge could fill.
                let mut merged = || {
                    open_workbook_auto(&file.path)
                        .map(|mut again| merged_cells(&mut again, &sheet))
                        .map_err(|e| format!("cannot read the merged cells: {e}"))
                };
                let cells = x
                    .worksheet_cells_reader(&sheet)
                    .map_err(|e| err(format!("sheet `{sheet}`: {e}")))?;
                // Unzipping and parsing the XML (calamine) takes about as long as typing the
                // cells: on their own thread, the two overlap.
                std::thread::scope(|scope| {
                    let (tx, rx) = std::sync::mpsc::sync_channel(4);
                    let mut rows = XlsxRows::new(rx, cells.styles());
                    // A panic in calamine is this sheet's error (with its message and
                    // place), not the end of the process; it must not look like the end of
                    // the sheet either, hence the producer's outcome before the table's.
                    let display = file.display.clone();
                    let producer = scope.spawn(move || {
                        crate::contain::contained(&display, || {
                            produce_cells(cells, tx);
                            Ok(())
                        })
                    });
                    let result = read_table(spec, &file, &mut merged, &mut rows, sink);
                    // Stopping early (`stop_at`, an error) hangs up: the producer then ends.
                    drop(rows);
                    match producer.join() {
                        Ok(Ok(())) => result,
                        Ok(Err(panicked)) => Err(panicked),
                        Err(_) => Err(err(format!(
                            "sheet `{sheet}`: the XML parser stopped on an internal error; the workbook may be damaged: open and save it again with Excel or LibreOffice"
                        ))),
                    }
                })?
            }
            other => {
                // the other formats are already in memory: their merges cost nothing
                let known = merged_cells(other, &sheet);
                let mut merged = || Ok(known.clone());
                let range = other
                    .worksheet_range(&sheet)
                    .map_err(|e| err(format!("sheet `{sheet}`: {e}")))?;
                let mut rows = RangeRows { range, next: 0 };
                read_table(spec, &file, &mut merged, &mut rows, sink)?
            }
        };
        stats.rows_read += read;
        stats.rows_rejected += rejected;
        stats
            .notes
            .extend(notes.into_iter().map(|n| format!("[{sheet}] {n}")));
    }
    Ok(stats)
}

/// A workbook's sheets and the number of filled cells of each, for `opencoll infer` to choose
/// one (each sheet is loaded in turn, one at a time).
pub fn sheet_sizes(
    path: &std::path::Path,
    display: &str,
) -> Result<Vec<(String, usize)>, ExtractError> {
    probe::probe(path, display, true)?;
    crate::contain::contained(display, || {
        let mut wb = open_book(path, display)?;
        let mut out = Vec::new();
        for sheet in wb.sheet_names() {
            let range = wb
                .worksheet_range(&sheet)
                .map_err(|e| ExtractError::new(display, None, format!("sheet `{sheet}`: {e}")))?;
            let filled = range
                .used_cells()
                .filter(|(_, _, d)| !cells::from_data(d).is_blank())
                .count();
            out.push((sheet, filled));
        }
        Ok(out)
    })
}

/// One sheet's cells as text (blank rows kept, from its first used row), for `opencoll infer`
/// to find the table's header.
pub fn sheet_grid(
    path: &std::path::Path,
    display: &str,
    sheet: &str,
) -> Result<Vec<Vec<String>>, ExtractError> {
    probe::probe(path, display, true)?;
    crate::contain::contained(display, || {
        let range = open_book(path, display)?
            .worksheet_range(sheet)
            .map_err(|e| ExtractError::new(display, None, format!("sheet `{sheet}`: {e}")))?;
        Ok(range
            .rows()
            .map(|r| r.iter().map(|d| cells::from_data(d).label()).collect())
            .collect())
    })
}

/// By extension, or by trying each format when the name has none (a cached download).
fn open_book(
    path: &std::path::Path,
    display: &str,
) -> Result<Sheets<std::io::BufReader<std::fs::File>>, ExtractError> {
    open_workbook_auto(path).map_err(|e| {
        ExtractError::new(display, None, format!("not a readable workbook: {e}"))
            .with_hint("formats read: .xlsx, .xlsm, .xlsb, .xls (Excel 97–2003) and .ods")
    })
}

fn merged_cells<RS: std::io::Read + std::io::Seek>(
    wb: &mut Sheets<RS>,
    sheet: &str,
) -> Vec<calamine::Dimensions> {
    match wb {
        Sheets::Xlsx(x) => x.merge_cells_by_sheet_name(sheet).unwrap_or_default(),
        Sheets::Xls(x) => x.merge_cells_by_sheet_name(sheet).unwrap_or_default(),
        // calamine does not report merged cells for .ods/.xlsb: upper header rows are
        // filled across from the left instead (see `header_names`).
        _ => Vec::new(),
    }
}

/// A sheet to read and the vars it adds (named groups of a `/regex/`).
type SheetVars = (String, Vec<(String, String)>);

/// The sheets to read.
fn select_sheets(
    names: &[String],
    x: &XlsxOptions,
    sheet_regex: Option<&Regex>,
    file: &SourceFile,
) -> Result<Vec<SheetVars>, String> {
    let list = || names.join(", ");
    match &x.sheet {
        None => names
            .first()
            .map(|n| vec![(n.clone(), Vec::new())])
            .ok_or_else(|| "the workbook has no sheet".to_string()),
        Some(SheetRef::Index(i)) => names
            .get((*i as usize).wrapping_sub(1))
            .map(|n| vec![(n.clone(), Vec::new())])
            .ok_or_else(|| format!("no sheet at position {i}: the sheets are {}", list())),
        Some(SheetRef::Name(n)) => {
            if let Some(re) = sheet_regex {
                let hits: Vec<_> = names
                    .iter()
                    .filter_map(|s| {
                        let caps = re.captures(s)?;
                        let vars = re
                            .capture_names()
                            .flatten()
                            .filter_map(|g| {
                                Some((g.to_string(), caps.name(g)?.as_str().to_string()))
                            })
                            .collect();
                        Some((s.clone(), vars))
                    })
                    .collect();
                if hits.is_empty() {
                    return Err(format!("no sheet matches {n}: the sheets are {}", list()));
                }
                Ok(hits)
            } else {
                let wanted = oc_spec::template::render(n, &file.vars);
                if let Some(s) = names.iter().find(|s| **s == wanted) {
                    return Ok(vec![(s.clone(), Vec::new())]);
                }
                // Excel compares sheet names without case.
                if let Some(s) = names
                    .iter()
                    .find(|s| s.to_lowercase() == wanted.to_lowercase())
                {
                    return Ok(vec![(s.clone(), Vec::new())]);
                }
                let close = oc_spec::diag::did_you_mean(&wanted, names.iter().map(String::as_str));
                Err(match close {
                    Some(c) => format!("no sheet `{wanted}` (did you mean `{c}`?)"),
                    None => format!("no sheet `{wanted}`: the sheets are {}", list()),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn scaled_text_is_the_shortest_decimal_when_it_exists() {
        use crate::number::{NumberFormat, parse_decimal};
        let fmt = NumberFormat {
            decimal: '.',
            thousands: None,
        };
        assert_eq!(
            super::cells::scaled_text(1234.56, 2, '.').as_deref(),
            Some("1234.56")
        );
        assert_eq!(
            super::cells::scaled_text(-0.05, 2, ',').as_deref(),
            Some("-0,05")
        );
        assert_eq!(super::cells::scaled_text(7.0, 0, '.').as_deref(), Some("7"));
        // more decimals than the column has: left to the general path (which rejects it)
        assert_eq!(super::cells::scaled_text(0.1 + 0.2, 2, '.'), None);
        assert_eq!(super::cells::scaled_text(0.001, 2, '.'), None);
        assert_eq!(super::cells::scaled_text(1e17, 2, '.'), None);
        // same value as the shortest text on a spread of amounts
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let cents = (x % 2_000_000_000_000_000) as i64 - 1_000_000_000_000_000;
            let n = cents as f64 / 100.0;
            let fast = super::cells::scaled_text(n, 2, '.');
            let slow = parse_decimal(&super::cells::number_text(n, '.'), fmt, 18, 2);
            let t = fast.unwrap_or_else(|| panic!("{n}: an exact amount has no fast text"));
            assert_eq!(parse_decimal(&t, fmt, 18, 2), slow, "{n}: {t}");
        }
    }

    use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Workbook};

    use crate::testutil::{run, spec};

    fn book(build: impl FnOnce(&mut Workbook)) -> Vec<u8> {
        let mut wb = Workbook::new();
        build(&mut wb);
        wb.save_to_buffer().unwrap()
    }

    #[test]
    fn title_rows_merged_two_row_header_notes_and_stop() {
        let bytes = book(|wb| {
            let ws = wb.add_worksheet();
            let f = Format::new();
            ws.write(0, 0, "Tableau 1 : dépenses").unwrap();
            ws.write(1, 0, "en euros").unwrap();
            ws.merge_range(3, 0, 4, 0, "Code", &f).unwrap();
            ws.merge_range(3, 1, 3, 2, "Montant", &f).unwrap();
            ws.write(4, 1, 2022).unwrap();
            ws.write(4, 2, "2023 (p)").unwrap();
            ws.write(5, 0, 1001).unwrap();
            ws.write(5, 1, 10.5).unwrap();
            ws.write(5, 2, "1 234,5").unwrap();
            ws.write(6, 0, "(1) note dans le tableau").unwrap();
            ws.write(7, 0, "2A004").unwrap();
            ws.write(7, 1, "s").unwrap();
            ws.write(7, 2, 0.1).unwrap();
            ws.write(9, 0, "Source : test").unwrap();
            ws.write(10, 0, "99999").unwrap();
        });
        let s = spec(
            r#"
name: a.b
source:
  path: x.xlsx
  xlsx: { header_rows: 2, stop_at: blank, notes: "^\\(\\d\\)", decimal: ",", thousands: " " }
columns:
  code: { from: Code, type: code, width: 5 }
  m22:  { from: Montant 2022, type: "decimal(18,2)", status: true }
  m23:  { from: "/^Montant 2023/", type: "decimal(18,2)" }
"#,
        );
        let (sink, r) = run(&s, "t.xlsx", &bytes);
        let stats = r.unwrap();
        assert_eq!((stats.rows_read, stats.rows_rejected), (2, 0));
        assert_eq!(sink.column("code"), vec!["01001", "2A004"]);
        assert_eq!(sink.column("m22"), vec!["10.50", ""]);
        assert_eq!(sink.column("m22_status"), vec!["", "s"]);
        assert_eq!(sink.column("m23"), vec!["1234.50", "0.10"]);
        assert_eq!(
            stats.notes,
            vec![
                "[Sheet1] (1) note dans le tableau",
                "[Sheet1] Source : test",
                "[Sheet1] 99999"
            ]
        );
    }

    #[test]
    fn codes_from_floats_dates_and_errors() {
        let bytes = book(|wb| {
            let ws = wb.add_worksheet();
            ws.set_name("Données 2024").unwrap();
            let date = Format::new().set_num_format("dd/mm/yyyy");
            for (c, h) in ["siren", "date", "n"].iter().enumerate() {
                ws.write(0, c as u16, *h).unwrap();
            }
            ws.write(1, 0, 200068807.0).unwrap();
            ws.write_datetime_with_format(
                1,
                1,
                ExcelDateTime::from_ymd(2024, 2, 29).unwrap(),
                &date,
            )
            .unwrap();
            ws.write(1, 2, 3).unwrap();
            ws.write(2, 0, 21010001.5).unwrap();
            ws.write(2, 2, 4).unwrap();
            ws.write(3, 0, 210100012).unwrap();
            ws.write_formula(3, 2, Formula::new("=1/0").set_result("#DIV/0!"))
                .unwrap();
        });
        let s = spec(
            r#"
name: a.b
source: { path: "x_{exercice}.xlsx", vars: { exercice: [2024] }, xlsx: { sheet: "Données {exercice}" } }
columns:
  siren: { from: siren, type: code, width: 9 }
  date:  { from: date, type: date }
  n:     { from: n, type: int32 }
"#,
        );
        let (sink, r) = run(&s, "c.xlsx", &bytes);
        let stats = r.unwrap();
        assert_eq!((stats.rows_read, stats.rows_rejected), (3, 2));
        assert_eq!(sink.column("siren"), vec!["200068807"]);
        assert_eq!(sink.column("date"), vec!["2024-02-29"]);
        let rj = &sink.rejects;
        assert_eq!((rj[0].line, rj[0].column.as_deref()), (3, Some("siren")));
        assert!(rj[0].reason.contains("not a code"), "{}", rj[0].reason);
        assert_eq!((rj[1].line, rj[1].column.as_deref()), (4, Some("n")));
        assert!(rj[1].reason.contains("#DIV/0!"), "{}", rj[1].reason);
    }

    #[test]
    fn sheets_by_regex_with_groups_and_clear_errors() {
        let bytes = book(|wb| {
            for y in [2011, 2012] {
                let ws = wb.add_worksheet();
                ws.set_name(format!("définitions_{y}")).unwrap();
                ws.write(0, 0, "agrégat").unwrap();
                ws.write(0, 1, "formule").unwrap();
                ws.write(1, 0, format!("A{y}")).unwrap();
                ws.write(1, 1, "classe 7").unwrap();
            }
        });
        let s = spec(
            r#"
name: a.b
source: { path: x.xlsx, xlsx: { sheet: "/^définitions_(?<exercice>\\d{4})$/" } }
columns:
  exercice: { var: exercice, type: int16 }
  agregat:  { from: agrégat }
"#,
        );
        let (sink, r) = run(&s, "d.xlsx", &bytes);
        r.unwrap();
        assert_eq!(sink.column("exercice"), vec!["2011", "2012"]);
        assert_eq!(sink.column("agregat"), vec!["A2011", "A2012"]);

        let s = spec(
            "name: a.b\nsource: { path: x.xlsx, xlsx: { sheet: définitions_2013 } }\ncolumns:\n  a: { from: agrégat }\n",
        );
        let e = run(&s, "d.xlsx", &bytes).1.unwrap_err().to_string();
        assert!(
            e.contains("no sheet `définitions_2013` (did you mean"),
            "{e}"
        );
        let s = spec(
            "name: a.b\nsource: { path: x.xlsx, xlsx: { sheet: 3 } }\ncolumns:\n  a: { from: agrégat }\n",
        );
        let e = run(&s, "d.xlsx", &bytes).1.unwrap_err().to_string();
        assert!(e.contains("no sheet at position 3"), "{e}");
        let e = run(&s, "d.xlsx", b"not a workbook")
            .1
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a readable workbook"), "{e}");
    }

    #[test]
    fn dont_rows_get_their_parent() {
        let bytes = book(|wb| {
            let ws = wb.add_worksheet();
            let rows = [
                ("Libellé", "Montant"),
                ("Dépenses", "10"),
                ("dont personnel", "4"),
                ("- dont achats", "3"),
                ("Recettes", "12"),
            ];
            for (r, (a, b)) in rows.iter().enumerate() {
                ws.write(r as u32, 0, *a).unwrap();
                ws.write(r as u32, 1, *b).unwrap();
            }
        });
        let s = spec(
            r#"
name: a.b
source: { path: x.xlsx, xlsx: { hierarchy: { label: Libellé, by: dont } } }
columns:
  libelle: { from: Libellé }
  parent:  { from: parent }
"#,
        );
        let (sink, r) = run(&s, "h.xlsx", &bytes);
        r.unwrap();
        assert_eq!(sink.column("parent"), vec!["", "Dépenses", "Dépenses", ""]);
    }

    /// A minimal OpenDocument spreadsheet (what LibreOffice saves, without styles).
    fn ods(rows: &[&[(&str, &str)]]) -> Vec<u8> {
        use std::io::Write;
        let mut body = String::new();
        for r in rows {
            body.push_str("<table:table-row>");
            for (ty, v) in *r {
                match *ty {
                    "f" => body.push_str(&format!(
                        "<table:table-cell office:value-type=\"float\" office:value=\"{v}\"><text:p>{v}</text:p></table:table-cell>"
                    )),
                    "s" => body.push_str(&format!(
                        "<table:table-cell office:value-type=\"string\"><text:p>{v}</text:p></table:table-cell>"
                    )),
                    _ => body.push_str("<table:table-cell/>"),
                }
            }
            body.push_str("</table:table-row>");
        }
        let content = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet><table:table table:name="Feuille1">{body}</table:table></office:spreadsheet></office:body></office:document-content>"#
        );
        let mut buf = std::io::Cursor::new(Vec::new());
        let mut z = zip::ZipWriter::new(&mut buf);
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        z.start_file("mimetype", stored).unwrap();
        z.write_all(b"application/vnd.oasis.opendocument.spreadsheet")
            .unwrap();
        z.start_file("content.xml", stored).unwrap();
        z.write_all(content.as_bytes()).unwrap();
        z.start_file("META-INF/manifest.xml", stored).unwrap();
        z.write_all(br#"<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"#).unwrap();
        z.finish().unwrap();
        buf.into_inner()
    }

    #[test]
    fn ods_two_row_header_without_merge_information() {
        let bytes = ods(&[
            &[("s", "Titre")],
            &[("s", "Code"), ("s", "Dotation"), ("", "")],
            &[("", ""), ("f", "2022"), ("s", "2023 (p)")],
            &[("f", "1001"), ("f", "12.5"), ("s", "n.d.")],
        ]);
        let s = spec(
            r#"
name: a.b
source: { path: x.ods, xlsx: { header_rows: 2 } }
transform:
  - unpivot: { columns: "/\\d{4}/", name: annee, value: montant }
columns:
  code:    { from: Code, type: code, width: 5 }
  annee:   { from: annee, type: int16 }
  flag:    { from: annee_flag }
  montant: { from: montant, type: "decimal(18,2)", status: true }
"#,
        );
        let (sink, r) = run(&s, "t.ods", &bytes);
        let stats = r.unwrap();
        assert_eq!((stats.rows_read, stats.rows_rejected), (2, 0));
        assert_eq!(sink.column("code"), vec!["01001", "01001"]);
        assert_eq!(sink.column("annee"), vec!["2022", "2023"]);
        assert_eq!(sink.column("flag"), vec!["", "p"]);
        assert_eq!(sink.column("montant"), vec!["12.50", ""]);
        assert_eq!(sink.column("montant_status"), vec!["", "n.d."]);
    }

    /// A minimal .xlsx (one sheet, inline strings) whose second row is at `row_ref`.
    fn xlsx_with_row(row_ref: &str) -> Vec<u8> {
        use std::io::Write;
        let parts = [
            (
                "[Content_Types].xml",
                r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#.to_string(),
            ),
            (
                "_rels/.rels",
                r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#.to_string(),
            ),
            (
                "xl/workbook.xml",
                r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Feuil1" sheetId="1" r:id="rId1"/></sheets></workbook>"#.to_string(),
            ),
            (
                "xl/_rels/workbook.xml.rels",
                r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#.to_string(),
            ),
            (
                "xl/worksheets/sheet1.xml",
                format!(
                    r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>code</t></is></c><c r="B1" t="inlineStr"><is><t>nom</t></is></c></row><row r="{row_ref}"><c r="A{row_ref}" t="inlineStr"><is><t>01001</t></is></c><c r="B{row_ref}" t="inlineStr"><is><t>Ambérieu</t></is></c></row></sheetData></worksheet>"#
                ),
            ),
        ];
        let mut buf = std::io::Cursor::new(Vec::new());
        let mut z = zip::ZipWriter::new(&mut buf);
        for (name, text) in parts {
            z.start_file(name, zip::write::SimpleFileOptions::default())
                .unwrap();
            z.write_all(text.as_bytes()).unwrap();
        }
        z.finish().unwrap();
        buf.into_inner()
    }

    /// A row number past u32 made calamine panic (an overflowing multiplication, with overflow
    /// checks on as in debug builds; found by `scripts/fuzz.sh xlsx` within a second): the
    /// file's error now, on every path that opens workbooks (refresh and infer).
    #[test]
    fn a_row_number_past_u32_is_the_files_error_not_a_panic() {
        let s = spec(
            "name: a.b\nsource: { path: x.xlsx }\ncolumns:\n  code: { from: code, type: code, width: 5 }\n",
        );
        let (sink, r) = run(&s, "ok.xlsx", &xlsx_with_row("2"));
        r.unwrap();
        assert_eq!(sink.column("code"), vec!["01001"]);
        // an error in every build: calamine's arithmetic is checked in release builds too
        // (the workspace's Cargo.toml), where the row number used to wrap and move the cell
        // to another row
        let bad = xlsx_with_row("99999999999");
        let (_, r) = run(&s, "bad.xlsx", &bad);
        let e = r.unwrap_err();
        assert!(e.to_string().contains("bad.xlsx"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.xlsx");
        std::fs::write(&path, &bad).unwrap();
        for r in [
            super::sheet_sizes(&path, "bad.xlsx").map(|_| ()),
            super::sheet_grid(&path, "bad.xlsx", "Feuil1").map(|_| ()),
        ] {
            let e = r.unwrap_err();
            assert!(e.to_string().contains("bad.xlsx"), "{e}");
        }
    }
}
