//! Delimited text: `;` `,` TAB, quoted fields with separators and line breaks, CRLF, BOM,
//! title lines before the header, windows-1252 / ISO-8859-1 / UTF-8.
//!
//! Records are split on bytes, then each needed field is decoded and typed.
//!
//! `read` (here) handles the BOM, title lines, the header and the layout; `chunker` cuts the
//! rest into chunks at record boundaries, `parse` types a chunk's records (through `split`
//! for quote-free chunks, `records`, on the `csv` crate's parser `csv_core`, otherwise), and
//! `workers` parses chunks on several threads and hands their rows on in file order.

mod chunker;
mod parse;
mod records;
mod split;
mod workers;

use std::io::BufRead;

use oc_spec::Encoding;

use crate::encoding::{UTF8_BOM, decode};
use crate::rows::{Layout, Slot};
use crate::sink::{ExtractError, Sink};
use crate::spec::{ReadSpec, SourceFile};

use chunker::{Chunker, count_lines};
use parse::ChunkContext;
use records::{Record, RecordLines, Records};

/// The most fields a header (or, without one, the first record) may have. Their names are
/// held, tens of bytes each, and a 64 MiB line of delimiters is 64 million fields (3.2 GB
/// held before this bound). A million columns is far past any real export, and past what
/// `infer` proposes (a workbook's 16,384), so a pipeline written by hand still reads a file
/// wider than a workbook.
#[cfg(not(test))]
const MAX_COLUMNS: usize = 1 << 20;
/// Small enough in tests for a header past it to fit the record bound of tests.
#[cfg(test)]
const MAX_COLUMNS: usize = 512;

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

    // The rest of the input is cut into chunks at record boundaries; chunk 0 starts with the
    // header. Chunks are parsed and typed on worker threads and their rows handed to the sink
    // in file order, so the output does not depend on thread timing.
    let mut chunks = Chunker::new(input, d.quote, d.delimiter);
    // Chunks of blank lines only (a chunk may end before the header) are counted as skipped.
    let first = loop {
        let chunk = chunks
            .next_chunk()
            .map_err(|e| err(Some(skipped + 1), format!("cannot read: {e}")))?
            .unwrap_or_default();
        if chunk.is_empty() || chunk.iter().any(|b| !matches!(b, b'\r' | b'\n')) {
            break chunk;
        }
        skipped += count_lines(&chunk);
    };
    // The header (or, without one, the first record) is read as the workers read records:
    // fields past `MAX_COLUMNS` are counted, not stored, so a huge line cannot take gigabytes.
    let mut reader = Records::new(d.delimiter, d.quote, &first, MAX_COLUMNS);
    let mut record = Record::default();
    let mut lines = RecordLines::default();
    let too_wide = |line: u64, what: &str, n: usize| {
        err(
            Some(line),
            format!("{what} has {n} fields, more than the {MAX_COLUMNS} columns a refresh reads"),
        )
        .with_hint("check csv.delimiter and csv.quote: the file may not be delimited text")
    };

    // Header.
    let (headers, header_line) = if d.header {
        if !reader.next(&mut record) {
            return Err(err(None, "the file is empty: no header line".into())
                .with_hint("check the download, or set `header: false`"));
        }
        let line = lines.line(&first, record.start) + skipped;
        // Empty names past the limit are the delimiters a header may end with.
        if record.more_not_empty {
            return Err(too_wide(line, "the header", record.fields));
        }
        let mut hs = Vec::with_capacity(record.kept());
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
    // Where the data records of chunk 0 start, and how many lines precede them.
    let (data_start, lines_before) = if d.header {
        // `csv_core` stops a CRLF header before its `\n`: the data start after it.
        let mut start = reader.pos();
        if start > 0 && first.get(start - 1) == Some(&b'\r') && first.get(start) == Some(&b'\n') {
            start += 1;
        }
        (start, count_lines(first.get(..start).unwrap_or_default()))
    } else {
        (0, 0)
    };

    if d.header {
        sink.header(&headers)?;
    }
    let layout = Layout::resolve(
        spec,
        file,
        d.header.then_some(headers.as_slice()),
        header_line,
    )?;
    // The expected field count: the header's, or without a header the first record's.
    let expected = if d.header {
        headers.len()
    } else if reader.next(&mut record) {
        let n = record.fields;
        let line = lines.line(&first, record.start) + skipped;
        if n > MAX_COLUMNS {
            return Err(too_wide(line, "the first record", n));
        }
        if let Some(missing) = layout.slots.iter().find_map(|s| match s {
            Slot::Field(i) if *i >= n => Some(*i),
            _ => None,
        }) {
            return Err(err(
                Some(line),
                format!(
                    "column_{} is declared but the records have {n} fields",
                    missing + 1
                ),
            ));
        }
        n
    } else {
        0
    };

    // Workers count their own rejects without limit; the limit is applied in file order.
    let mut worker_spec = spec.clone();
    worker_spec.reject_limit = u64::MAX;
    let ctx = ChunkContext {
        spec: &worker_spec,
        file,
        layout: &layout,
        expected,
        skipped,
    };
    workers::run(&ctx, spec, chunks, first, data_start, lines_before, sink)
}

#[cfg(test)]
mod differential;
#[cfg(test)]
mod tests {
    use super::parse::{ChunkContext, ChunkOut};
    use super::split::{quote_free, split_mask};
    use crate::rows::{Layout, RowWriter};
    use crate::spec::SourceFile;
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
    fn a_pipeline_of_sql_columns_only_counts_its_rows() {
        // no column read from the file: batches without columns still carry their rows (the
        // reader thread panicked on them)
        let s = spec("name: raw.t\nsource: { path: t.csv }\ncolumns:\n  x: { sql: \"42\" }\n");
        let (sink, r) = run(&s, "t.csv", b"a,b\n1,2\n3,4\n");
        assert_eq!(r.unwrap().rows_read, 2);
        let rows: usize = sink.batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!((rows, sink.batches[0].num_columns()), (2, 0));
    }

    /// One chunk parsed by the quote-free splitter (`fast`) or by `records`.
    fn parse_chunk(ctx: &ChunkContext<'_>, bytes: &[u8], fast: bool) -> ChunkOut {
        let mut out = ChunkOut::default();
        let mut rows = RowWriter::new(ctx.spec, ctx.file, ctx.layout.labels.clone());
        if fast {
            ctx.parse_lines(bytes, 10, &mut rows, &mut out).unwrap();
        } else {
            ctx.parse_records(bytes, 10, &mut rows, &mut out).unwrap();
        }
        (out.rows_read, out.rows_rejected) = rows.finish(&mut out).unwrap();
        out
    }

    #[test]
    fn quote_free_chunks_split_as_the_csv_reader_does() {
        let s = spec(DGFIP);
        let file = SourceFile {
            bytes_read: None,
            path: "b.csv".into(),
            display: "b.csv".into(),
            vars: Default::default(),
            content_type: None,
        };
        let headers = ["EXER", "NDEPT", "LBUDG", "COMPTE", "SD"].map(String::from);
        let layout = Layout::resolve(&s, &file, Some(&headers), 1).unwrap();
        let ctx = ChunkContext {
            spec: &s,
            file: &file,
            layout: &layout,
            expected: 5,
            skipped: 2,
        };
        // CRLF and LF, blank lines, windows-1252 bytes, too few fields, a bad amount, a
        // trailing delimiter, too many fields, an empty record, no final line break.
        let chunk = b"2024;038;A;1;1,00\r\n\r\n\n2024;38;\x8CUILLY;60611;2,5\n2024;038;C;3\n\
            2024;038;D;4;x\n2024;038;E;5;2,00;\n2024;038;F;6;1,00;;7\n;;;;\n2024;38;G;7;3";
        assert!(quote_free(&s.csv, chunk));
        let (fast, csv) = (
            parse_chunk(&ctx, chunk, true),
            parse_chunk(&ctx, chunk, false),
        );
        assert_eq!(fast.batches, csv.batches);
        assert_eq!(fast.rejects, csv.rejects);
        assert_eq!((fast.rows_read, fast.rows_rejected), (8, 3));
        assert_eq!((csv.rows_read, csv.rows_rejected), (8, 3));
        // Lines counted after the 2 skipped title lines and the 10 lines before the chunk.
        let lines: Vec<u64> = fast.rejects.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![17, 18, 20]);
        assert_eq!(fast.rejects[1].column.as_deref(), Some("SD"));
        assert_eq!(
            fast.rejects[2].value.as_deref(),
            Some("2024;038;F;6;1,00;;7")
        );
        let rows: usize = fast.batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows, 5);

        // Many lines of all lengths, so that fields and line breaks fall everywhere in and
        // across the 64-byte blocks.
        let mut long = Vec::new();
        for i in 0..700usize {
            let label = "SAINT-GERMAIN-AU-MONT-D'OR ".repeat(i % 5);
            let amount = if i % 97 == 0 {
                "n,a".to_string()
            } else {
                format!("{i},{}", i % 100)
            };
            let end = if i % 3 == 0 { "\r\n" } else { "\n" };
            long.extend_from_slice(
                format!("2024;{};{label};6{i};{amount}{end}", i % 120).as_bytes(),
            );
            if i % 50 == 0 {
                long.extend_from_slice(b"\n2024;038;short\n");
            }
        }
        let (fast, csv) = (
            parse_chunk(&ctx, &long, true),
            parse_chunk(&ctx, &long, false),
        );
        assert_eq!(fast.batches, csv.batches);
        assert_eq!(fast.rejects, csv.rejects);
        assert_eq!((fast.rows_read, fast.rows_rejected), (714, 8 + 14));
        // After a CRLF record and a blank line: the line the record is on (`csv` alone says 13).
        assert_eq!((fast.rejects[1].line, csv.rejects[1].line), (15, 15));

        // What the splitter leaves to the `csv` reader.
        assert!(!quote_free(&s.csv, b"2024;\"038\";A\n"));
        assert!(!quote_free(&s.csv, b"2024;038\rA;1\n"));
        assert!(!quote_free(&s.csv, b"2024;038;A\r"));
        let mut unquoted = s.csv.clone();
        unquoted.quote = None;
        assert!(quote_free(&unquoted, b"2024;\"038\";A\r\n"));
    }

    #[test]
    fn split_masks_mark_every_delimiter_and_line_feed() {
        let block: Vec<u8> = (0..64u8)
            .map(|i| [b';', b'\n', b'a', 0x80 | b';', 0, b'\r'][i as usize % 6])
            .collect();
        for len in [0, 1, 7, 8, 9, 63, 64] {
            let want = (0..len).fold(0u64, |m, j| m | ((j % 6 < 2) as u64) << j);
            assert_eq!(split_mask(&block[..len], b';'), want, "{len} bytes");
        }
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
        assert_eq!(sink.rejects[0].line, 2);
        assert_eq!(sink.rejects[0].column.as_deref(), Some("LBUDG"));
        // Valid UTF-8 beyond ASCII is read as it is.
        let (sink, r) = run(
            &utf8,
            "u.csv",
            "EXER;NDEPT;LBUDG;COMPTE;SD\n2024;038;ŒUILLY;1;1\n".as_bytes(),
        );
        assert_eq!(r.unwrap().rows_rejected, 0);
        assert_eq!(sink.column("lbudg"), vec!["ŒUILLY"]);
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
    fn chunked_parallel_reading_keeps_order_lines_and_quotes() {
        let yaml = "name: a.b\nsource: { path: x.csv, csv: { delimiter: \";\" } }\ncolumns:\n  n: { from: N, type: int32 }\n  t: { from: T }\n";
        let mut data = String::from("N;T\n");
        let mut want = Vec::new();
        let mut line = 2;
        let mut bad_lines = Vec::new();
        for i in 0..3000 {
            match i % 7 {
                // A quoted field with the delimiter, a line break and an escaped quote.
                0 => {
                    data.push_str(&format!("{i};\"a;\nb\"\"{i}\"\n"));
                    want.push(format!("a;\nb\"{i}"));
                    line += 2;
                }
                // A quote inside an unquoted field is a plain byte, not an opening quote.
                1 => {
                    data.push_str(&format!("{i};12\" pouces\n"));
                    want.push("12\" pouces".to_string());
                    line += 1;
                }
                2 => {
                    data.push_str(&format!("x{i};bad\n"));
                    bad_lines.push(line);
                    line += 1;
                }
                _ => {
                    data.push_str(&format!("{i};v{i}\r\n"));
                    want.push(format!("v{i}"));
                    line += 1;
                }
            }
        }
        let (sink, r) = run(&spec(yaml), "c.csv", data.as_bytes());
        let stats = r.unwrap();
        assert_eq!(stats.rows_read, 3000);
        assert_eq!(sink.column("t"), want);
        let got: Vec<u64> = sink.rejects.iter().map(|r| r.line).collect();
        assert_eq!(got, bad_lines);
        let n = sink.column("n");
        assert!(
            n.windows(2)
                .all(|w| w[0].parse::<u32>().unwrap() < w[1].parse::<u32>().unwrap())
        );
    }

    /// A stray quote in a bulk export made the chunk that holds it grow to the end of the file
    /// (gigabytes); past MAX_RECORD_BYTES (4 KiB in tests, 64 MiB else) it is the file's error,
    /// at the line its chunk starts, with what to check. Records up to the bound are read,
    /// with every line ending (LF, CRLF, a lone CR) over many chunks.
    #[test]
    fn a_record_past_the_bound_is_the_files_error_not_the_rest_of_the_file_in_memory() {
        use super::chunker::MAX_RECORD_BYTES;
        let yaml = "name: a.b\nsource: { path: x.csv, csv: { delimiter: \";\" } }\ncolumns:\n  n: { from: N, type: int32 }\n  t: { from: T }\n";
        let long = "x".repeat(MAX_RECORD_BYTES - 100);
        let mut data = String::from("N;T\n");
        for (i, end) in ["\n", "\r\n", "\r"].iter().cycle().take(300).enumerate() {
            data.push_str(&format!(
                "{i};\"{}\"{end}",
                if i == 150 { &long } else { "v" }
            ));
        }
        let (sink, r) = run(&spec(yaml), "x.csv", data.as_bytes());
        assert_eq!(r.unwrap().rows_read, 300);
        assert_eq!(sink.column("n").len(), 300);
        assert_eq!(sink.column("t")[150].len(), long.len());
        assert!(sink.rejects.is_empty());

        let mut data = String::from("N;T\n1;a\n2;\"never closed\n");
        data.push_str(&"3;b\n".repeat(MAX_RECORD_BYTES / 4));
        let (_, r) = run(&spec(yaml), "x.csv", data.as_bytes());
        let e = r.unwrap_err().to_string();
        assert!(
            e.starts_with("x.csv:")
                && e.contains("no record ends within")
                && e.contains("check csv.quote"),
            "{e}"
        );
    }

    #[test]
    fn record_ends_follow_the_csv_quoting_rules() {
        use super::chunker::last_record_end;
        assert_eq!(last_record_end(b"a;b\nc;d\ne", Some(b'"'), b';'), Some(8));
        assert_eq!(
            last_record_end(b"a;\"b\nc\";d\ne", Some(b'"'), b';'),
            Some(10)
        );
        assert_eq!(last_record_end(b"a;\"b\nc", Some(b'"'), b';'), None);
        assert_eq!(last_record_end(b"a;b\"\nc", Some(b'"'), b';'), Some(5));
        assert_eq!(last_record_end(b"\"a\"\"\n\"\n", Some(b'"'), b';'), Some(7));
        assert_eq!(last_record_end(b"a;\"b\nc", None, b';'), Some(5));
        // Classic Mac line ends: a lone CR ends a record, once the next byte shows it is not
        // the first half of a CRLF.
        assert_eq!(last_record_end(b"a;b\rc;d\re", Some(b'"'), b';'), Some(8));
        assert_eq!(last_record_end(b"a;b\rc;d\re", None, b';'), Some(8));
        assert_eq!(last_record_end(b"a;b\rc;d\r", None, b';'), Some(4));
        assert_eq!(last_record_end(b"a;b\r\nc", None, b';'), Some(5));
        assert_eq!(
            last_record_end(b"a;\"b\rc\";d\re", Some(b'"'), b';'),
            Some(10)
        );
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

    #[test]
    fn a_header_past_the_column_limit_is_refused_trailing_delimiters_are_not() {
        use super::MAX_COLUMNS;
        let yaml = "name: a.b\nsource: { path: x.csv, csv: { delimiter: \";\" } }\ncolumns:\n  a: { from: A }\n";
        // Blank lines before the header: its line is the third.
        let names: String = (0..MAX_COLUMNS + 88).map(|i| format!(";c{i}")).collect();
        let data = format!("\n\r\nA{names}\nx\n");
        let e = run(&spec(yaml), "w.csv", data.as_bytes()).1.unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!(
                "w.csv:3: the header has {} fields, more than the {MAX_COLUMNS} columns",
                MAX_COLUMNS + 89
            )),
            "{msg}"
        );
        // Delimiters past the limit at the end of a header are empty names, not columns.
        let data = format!("A;N{}\r\nx;1\ny\n", ";".repeat(MAX_COLUMNS * 3));
        let (sink, r) = run(&spec(yaml), "t.csv", data.as_bytes());
        let stats = r.unwrap();
        assert_eq!((stats.rows_read, stats.rows_rejected), (2, 1));
        assert_eq!(sink.column("a"), vec!["x"]);
        assert_eq!(sink.rejects[0].line, 3);
        // Without a header, the first record's width is the limit's.
        let yaml = "name: a.b\nsource: { path: x.csv, csv: { header: false } }\ncolumns:\n  a: { from: column_2 }\n";
        let data = format!("\n{}\n", "1,".repeat(MAX_COLUMNS));
        let msg = run(&spec(yaml), "h.csv", data.as_bytes())
            .1
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with(&format!(
                "h.csv:2: the first record has {} fields",
                MAX_COLUMNS + 1
            )),
            "{msg}"
        );
    }
}
