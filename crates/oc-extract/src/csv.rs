//! Delimited text: `;` `,` TAB, quoted fields with separators and line breaks, CRLF, BOM,
//! title lines before the header, windows-1252 / ISO-8859-1 / UTF-8.
//!
//! Records are split on bytes by the `csv` crate, then each needed field is decoded and typed.

use std::borrow::Cow;
use std::io::BufRead;

use oc_spec::Encoding;

use crate::encoding::{UTF8_BOM, decode};
use crate::rows::{Layout, RowWriter, Slot};
use crate::{ExtractError, ReadSpec, Sink, SourceFile};

pub fn read(
    spec: &ReadSpec,
    file: &SourceFile,
    input: &mut dyn BufRead,
    sink: &mut dyn Sink,
) -> Result<(u64, u64), ExtractError> {
    let d = &spec.csv;
    let name = file.display.as_str();
    let err = |line: Option<u64>, msg: String| ExtractError::new(name, line, msg);

    // A BOM says UTF-8 whatever the pipeline claims.
    let head = input
        .fill_buf()
        .map_err(|e| err(None, format!("cannot read: {e}")))?;
    if head.starts_with(UTF8_BOM) {
        if d.encoding != Encoding::Utf8 {
            return Err(err(Some(1), "the file starts with a UTF-8 byte order mark but the pipeline says another encoding".into())
                .with_hint("set `encoding: utf-8`"));
        }
        input.consume(UTF8_BOM.len());
    }
    let mut skipped = 0u64;
    let mut line_buf = Vec::new();
    while skipped < d.skip_rows {
        line_buf.clear();
        let n = input
            .read_until(b'\n', &mut line_buf)
            .map_err(|e| err(Some(skipped + 1), format!("cannot read: {e}")))?;
        if n == 0 {
            return Err(err(
                None,
                format!("the file has fewer than skip_rows = {} lines", d.skip_rows),
            ));
        }
        skipped += 1;
    }

    let mut reader = csv::ReaderBuilder::new()
        .delimiter(d.delimiter)
        .quote(d.quote.unwrap_or(b'"'))
        .quoting(d.quote.is_some())
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(1 << 16)
        .from_reader(input);
    let mut record = csv::ByteRecord::new();
    let io = |e: csv::Error, last: u64| {
        let line = e.position().map(|p| p.line() + skipped).unwrap_or(last + 1);
        err(Some(line), format!("cannot read: {e}"))
            .with_hint("the file may be truncated or not delimited text")
    };

    // Header.
    let (headers, header_line) = if d.header {
        if !reader
            .read_byte_record(&mut record)
            .map_err(|e| io(e, skipped))?
        {
            return Err(err(None, "the file is empty: no header line".into())
                .with_hint("check the download, or set `header: false`"));
        }
        let line = record.position().map(|p| p.line()).unwrap_or(1) + skipped;
        let mut hs = Vec::with_capacity(record.len());
        for f in record.iter() {
            let h = decode(d.encoding, f).map_err(|e| err(Some(line), format!("header: {e}")))?;
            hs.push(h.trim().to_string());
        }
        // A header ending with the delimiter has empty trailing names: not columns.
        while hs.last().is_some_and(|h| h.is_empty()) {
            hs.pop();
        }
        (hs, line)
    } else {
        (Vec::new(), skipped)
    };

    let layout = Layout::resolve(
        spec,
        file,
        d.header.then_some(headers.as_slice()),
        header_line,
    )?;
    let slots = &layout.slots;
    let mut rows = RowWriter::new(spec, file, layout.labels.clone());
    // Without a header, the first record sets the expected field count.
    let mut expected = if d.header { headers.len() } else { 0 };
    let mut last_line = header_line;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(io(e, last_line)),
        }
        let line = record.position().map(|p| p.line()).unwrap_or(last_line + 1) + skipped;
        last_line = line;
        if expected == 0 {
            expected = record.len();
            if let Some(missing) = slots.iter().find_map(|s| match s {
                Slot::Field(i) if *i >= expected => Some(*i),
                _ => None,
            }) {
                return Err(err(
                    Some(line),
                    format!(
                        "column_{} is declared but the records have {expected} fields",
                        missing + 1
                    ),
                ));
            }
        }
        if expected > 0 && record.len() != expected {
            // A trailing separator (empty extra fields) is tolerated; anything else is not.
            let extra_is_empty =
                record.len() > expected && record.iter().skip(expected).all(|f| f.is_empty());
            if !extra_is_empty {
                rows.count_read();
                let reason = format!(
                    "the record has {} fields, the header has {expected}",
                    record.len()
                );
                let sep = (d.delimiter as char).to_string();
                let raw = record
                    .iter()
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect::<Vec<_>>()
                    .join(&sep);
                rows.reject(sink, line, None, Some(&raw), reason)?;
                continue;
            }
        }
        if !layout.pivots.is_empty() {
            // Unpivot: every field decoded once, then one row per year column.
            let mut fields = Vec::with_capacity(record.len());
            for f in record.iter() {
                match decode(d.encoding, f) {
                    Ok(t) => fields.push(t),
                    Err(e) => {
                        rows.count_read();
                        let raw = String::from_utf8_lossy(f).into_owned();
                        rows.reject(sink, line, None, Some(&raw), e)?;
                        break;
                    }
                }
            }
            if fields.len() == record.len() {
                layout.emit(&mut rows, sink, line, |i| fields.get(i).cloned())?;
            }
            continue;
        }
        let mut raws: Vec<Option<Cow<'_, str>>> = Vec::with_capacity(slots.len());
        let mut bad = None;
        for (i, s) in slots.iter().enumerate() {
            match s {
                Slot::Const(v) => raws.push(Some(Cow::Borrowed(v.as_str()))),
                Slot::UnpivotName | Slot::UnpivotValue | Slot::UnpivotFlag => raws.push(None),
                Slot::Field(idx) => match record.get(*idx) {
                    None => raws.push(None),
                    Some(bytes) => match decode(d.encoding, bytes) {
                        Ok(t) => raws.push(Some(t)),
                        Err(e) => {
                            bad = Some((i, String::from_utf8_lossy(bytes).into_owned(), e));
                            break;
                        }
                    },
                },
            }
        }
        match bad {
            Some((i, raw, e)) => {
                rows.count_read();
                rows.reject(sink, line, Some(i), Some(&raw), e)?;
            }
            None => rows.push(sink, line, raws)?,
        }
    }
    rows.finish(sink)
}

#[cfg(test)]
mod tests {
    use crate::testutil::{run, spec};

    const DGFIP: &str = r#"
name: finances.b
source:
  path: x.csv
  csv: { delimiter: ";", decimal: ",", thousands: " ", encoding: windows-1252 }
columns:
  exercice: { from: EXER, type: int16 }
  ndept: { from: NDEPT, type: code, width: 3 }
  lbudg: { from: LBUDG }
  compte: { from: COMPTE, type: code }
  sd: { from: SD, type: "decimal(18,2)" }
"#;

    #[test]
    fn windows_1252_semicolons_decimal_comma_nbsp_thousands() {
        let s = spec(DGFIP);
        let data = b"EXER;NDEPT;LBUDG;COMPTE;SD\r\n2024;038;GRENOBLE;1641;96971,23\r\n2024;38;\x8CUILLY;60611;1\xA0234\xA0567,8\r\n";
        let (sink, r) = run(&s, "b.csv", data);
        let stats = r.unwrap();
        assert_eq!(stats.rows_read, 2);
        assert!(sink.rejects.is_empty(), "{:?}", sink.rejects);
        assert_eq!(sink.column("ndept"), vec!["038", "038"]);
        assert_eq!(sink.column("lbudg"), vec!["GRENOBLE", "ŒUILLY"]);
        assert_eq!(sink.column("sd"), vec!["96971.23", "1234567.80"]);
        assert_eq!(sink.column("exercice"), vec!["2024", "2024"]);
    }

    #[test]
    fn quoted_fields_keep_separators_and_line_breaks() {
        let s = spec(
            "name: a.b\nsource: { path: x.csv, csv: { delimiter: \",\", decimal: \",\" } }\ncolumns:\n  nom: { from: nom }\n  taux: { from: taux, type: float64 }\n  code: { from: code, type: code }\n",
        );
        let data = "code,nom,taux\n01001,\"L'Abergement, \"\"village\"\"\nsur deux lignes\",\"0,5\"\n2A004,Ajaccio,\"1,25\"\n";
        let (sink, r) = run(&s, "q.csv", data.as_bytes());
        r.unwrap();
        assert_eq!(
            sink.column("nom"),
            vec!["L'Abergement, \"village\"\nsur deux lignes", "Ajaccio"]
        );
        assert_eq!(sink.column("code"), vec!["01001", "2A004"]);
        assert_eq!(sink.column("taux"), vec!["0.5", "1.25"]);
    }

    #[test]
    fn bom_regex_headers_and_tabs() {
        let s = spec(
            "name: a.b\nsource: { path: x.csv, csv: { delimiter: tab } }\ncolumns:\n  code: { from: \"/^Code Insee \\\\d{4} Commune$/\", type: code }\n",
        );
        let (sink, r) = run(
            &s,
            "o.csv",
            "\u{feff}Exercice\tCode Insee 2024 Commune\n2024\t97101\n".as_bytes(),
        );
        r.unwrap();
        assert_eq!(sink.column("code"), vec!["97101"]);
    }

    #[test]
    fn bad_rows_are_rejected_with_line_column_and_value() {
        let s = spec(DGFIP);
        let data = b"EXER;NDEPT;LBUDG;COMPTE;SD\n2024;038;A;1;1,00\n2024;038;B;2;12.5\n2024;038;C;3\n\"2024\";038;\"multi\nline\";4;x\n2024;038;E;5;2,00;\n";
        let (sink, r) = run(&s, "r.csv", data);
        let stats = r.unwrap();
        assert_eq!(stats.rows_read, 5);
        assert_eq!(stats.rows_rejected, 3);
        let rj = &sink.rejects;
        assert_eq!(
            (rj[0].line, rj[0].column.as_deref(), rj[0].value.as_deref()),
            (3, Some("SD"), Some("12.5"))
        );
        assert!(rj[0].reason.contains("decimal mark"), "{}", rj[0].reason);
        assert_eq!(rj[1].line, 4);
        assert!(
            rj[1].reason.contains("4 fields, the header has 5"),
            "{}",
            rj[1].reason
        );
        // A record spanning two lines is reported at the line where it starts.
        assert_eq!((rj[2].line, rj[2].column.as_deref()), (5, Some("SD")));
        // A trailing separator is tolerated.
        assert_eq!(sink.column("lbudg"), vec!["A", "E"]);
    }

    #[test]
    fn missing_column_suggests_the_header() {
        let s = spec(DGFIP);
        let (_, r) = run(&s, "m.csv", b"EXER;NDEP;LBUDG;COMPTE;SD\n");
        let e = r.unwrap_err().to_string();
        assert!(e.starts_with("m.csv:1: no column `NDEPT`"), "{e}");
        assert!(e.contains("did you mean `NDEP`?"), "{e}");
    }

    #[test]
    fn empty_file_and_wrong_encoding_are_clear() {
        let s = spec(DGFIP);
        let e = run(&s, "e.csv", b"").1.unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
        let utf8 = spec(&DGFIP.replace("windows-1252", "utf-8"));
        let (sink, r) = run(
            &utf8,
            "w.csv",
            b"EXER;NDEPT;LBUDG;COMPTE;SD\n2024;038;\x8CUILLY;1;1\n",
        );
        assert_eq!(r.unwrap().rows_rejected, 1);
        assert!(sink.rejects[0].reason.contains("windows-1252"));
    }

    #[test]
    fn extra_columns_can_be_refused_and_title_lines_skipped() {
        let yaml = "name: a.b\non_extra_columns: error\nsource: { path: x.csv, csv: { skip_rows: 2 } }\ncolumns:\n  a: { from: a }\n";
        let (_, r) = run(&spec(yaml), "x.csv", b"Titre\nUnite: euros\na,b\n1,2\n");
        let e = r.unwrap_err().to_string();
        assert!(
            e.starts_with("x.csv:3: columns not declared in the pipeline: b"),
            "{e}"
        );
        let ok = yaml.replace("on_extra_columns: error", "on_extra_columns: ignore");
        let (sink, r) = run(&spec(&ok), "x.csv", b"Titre\nUnite: euros\na,b\n1,2\n");
        r.unwrap();
        assert_eq!(sink.column("a"), vec!["1"]);
    }

    #[test]
    fn vars_become_columns() {
        let yaml = "name: a.b\nsource: { path: x.csv, vars: { exercice: [2024] } }\ncolumns:\n  exercice: { var: exercice, type: int16 }\n  a: { from: a }\n";
        let (sink, r) = run(&spec(yaml), "x.csv", b"a\nz\n");
        r.unwrap();
        assert_eq!(sink.column("exercice"), vec!["2024"]);
    }

    #[test]
    fn trailing_delimiters_headerless_files_and_custom_nulls() {
        // A header ending with `;` does not make every row one field short.
        let yaml = "name: a.b\nsource: { path: x.csv, csv: { delimiter: \";\", null_values: [\"///\"] } }\ncolumns:\n  a: { from: A }\n  n: { from: N, type: int32 }\n";
        let (sink, r) = run(&spec(yaml), "t.csv", b"A;N;\nx;///\ny;\nz;1;2\n");
        let stats = r.unwrap();
        assert_eq!((stats.rows_read, stats.rows_rejected), (3, 1));
        assert_eq!(sink.column("n"), vec!["", ""]);
        // The raw record keeps its delimiters in the reject.
        assert_eq!(sink.rejects[0].value.as_deref(), Some("z;1;2"));

        let yaml = "name: a.b\nsource: { path: x.csv, csv: { header: false } }\ncolumns:\n  a: { from: column_2 }\n";
        let (sink, r) = run(&spec(yaml), "h.csv", b"1,2\n3\n");
        assert_eq!(r.unwrap().rows_rejected, 1);
        assert_eq!(sink.column("a"), vec!["2"]);
        let yaml = "name: a.b\nsource: { path: x.csv, csv: { header: false } }\ncolumns:\n  a: { from: column_5 }\n";
        let e = run(&spec(yaml), "h.csv", b"1,2\n")
            .1
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("column_5 is declared but the records have 2 fields"),
            "{e}"
        );
    }
}
