//! The CSV reader against a reference, on generated files (issue 20): the `csv` crate with the
//! same dialect says which records a file holds and on which line each starts; our reader
//! (16-byte chunks in tests, so records straddle chunks; the quote-free fast path and the
//! general path both taken) must give the same rows, in order, and reject exactly the records
//! whose field count is wrong, at the same lines. Generated: quoted fields holding the
//! delimiter, quotes and line breaks, LF / CRLF / CR line ends, blank lines, a BOM,
//! windows-1252 bytes, ragged rows, no final line break; a header after blank lines, with
//! quoted names, ending with delimiters.

use proptest::prelude::*;

use crate::testutil::{run, spec};

/// One field, as text, and whether it must be quoted.
#[derive(Debug, Clone)]
enum Field {
    Plain(String),
    /// Holds the delimiter, a quote or a line break.
    Quoted(String),
    Empty,
}

fn field() -> impl Strategy<Value = Field> {
    let word = "[a-z]{0,6}";
    prop_oneof![
        4 => (0u32..1000, word).prop_map(|(n, w)| Field::Plain(format!("v{n}{w}"))),
        1 => (0u32..1000, "[a-z;\"\n é]{0,8}", prop_oneof![Just("\n"), Just("\r\n"), Just(";"), Just("\"")])
            .prop_map(|(n, w, special)| Field::Quoted(format!("v{n}{w}{special}x"))),
        1 => "[a-zé]{1,5}".prop_map(|w| Field::Plain(format!("v{w}é"))),
        1 => Just(Field::Empty),
    ]
}

#[derive(Debug, Clone)]
struct File {
    rows: Vec<Vec<Field>>,
    /// Line end after each row (and blank lines after it).
    ends: Vec<(&'static str, usize)>,
    bom: bool,
    cp1252: bool,
    final_break: bool,
    /// The header's blank lines before it, whether its names are quoted, and the delimiters
    /// it ends with.
    header: (usize, bool, usize),
}

fn file() -> impl Strategy<Value = File> {
    // Three columns; rows of 1 to 5 fields make ragged rows.
    let row = prop_oneof![
        8 => prop::collection::vec(field(), 3),
        1 => prop::collection::vec(field(), 1..=5),
    ];
    (
        prop::collection::vec(row, 0..40),
        prop::collection::vec(
            (
                prop_oneof![Just("\n"), Just("\r\n"), Just("\r")],
                prop_oneof![6 => Just(0usize), 1 => 1usize..3],
            ),
            40,
        ),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        (
            prop_oneof![4 => Just(0usize), 1 => 1usize..3],
            any::<bool>(),
            prop_oneof![4 => Just(0usize), 1 => 1usize..3],
        ),
    )
        .prop_map(|(rows, ends, bom, cp1252, final_break, header)| File {
            rows,
            ends,
            bom,
            cp1252,
            final_break,
            header,
        })
}

impl File {
    fn text(&self) -> String {
        let (end0, _) = self.ends[0];
        let (blanks, quoted, trailing) = self.header;
        let mut s = end0.repeat(blanks);
        s.push_str(if quoted { "\"a\";b;\"c\"" } else { "a;b;c" });
        s.push_str(&";".repeat(trailing));
        s.push_str(end0);
        for (i, row) in self.rows.iter().enumerate() {
            let cells: Vec<String> = row
                .iter()
                .map(|f| match f {
                    Field::Plain(t) => t.clone(),
                    Field::Quoted(t) => format!("\"{}\"", t.replace('"', "\"\"")),
                    Field::Empty => String::new(),
                })
                .collect();
            s.push_str(&cells.join(";"));
            let (end, blanks) = self.ends[(i + 1) % self.ends.len()];
            if i + 1 < self.rows.len() || self.final_break {
                s.push_str(end);
                for _ in 0..blanks {
                    s.push_str(end);
                }
            }
        }
        s
    }

    fn bytes(&self) -> Vec<u8> {
        let text = self.text();
        let mut out = Vec::new();
        if self.cp1252 {
            let (b, _, unmappable) = encoding_rs::WINDOWS_1252.encode(&text);
            assert!(!unmappable);
            out.extend_from_slice(&b);
        } else {
            if self.bom {
                out.extend_from_slice(b"\xEF\xBB\xBF");
            }
            out.extend_from_slice(text.as_bytes());
        }
        out
    }
}

/// What the `csv` crate reads: the fields of each record after the header, with the line the
/// record starts on. The `csv` crate numbers lines by `\n` only; the line here is counted
/// independently, as an editor shows it (`\n`, `\r\n` or a lone `\r` each end a line),
/// by walking the text with the quoting rules.
fn reference(text: &str) -> Vec<(u64, Vec<String>)> {
    let mut r = csv::ReaderBuilder::new()
        .delimiter(b';')
        .flexible(true)
        .has_headers(true)
        .from_reader(text.as_bytes());
    let records: Vec<Vec<String>> = r
        .records()
        .map(|rec| rec.unwrap().iter().map(str::to_string).collect())
        .collect();
    records
        .into_iter()
        .zip(record_lines(text).into_iter().skip(1))
        .map(|(f, l)| (l, f))
        .collect()
}

/// The starting line of every non-blank record of `text` (the header included).
fn record_lines(text: &str) -> Vec<u64> {
    let b = text.as_bytes();
    let (mut line, mut i, mut quoted, mut at_start) = (1u64, 0usize, false, true);
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        let brk = c == b'\n' || c == b'\r';
        if !quoted && at_start && !brk {
            out.push(line);
            at_start = false;
        }
        if brk {
            if c == b'\r' && b.get(i + 1) == Some(&b'\n') {
                i += 1;
            }
            line += 1;
            if !quoted {
                at_start = true;
            }
        } else if c == b'"' {
            // Every quote generated opens or closes a quoted field, or is doubled inside one.
            quoted = !quoted;
        }
        i += 1;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn same_rows_rejects_and_lines_as_the_csv_crate(f in file()) {
        let encoding = if f.cp1252 { "windows-1252" } else { "utf-8" };
        let yaml = format!(
            "name: a.b\nsource: {{ path: x.csv, csv: {{ delimiter: \";\", encoding: {encoding} }} }}\ncolumns:\n  a: {{ from: a }}\n  b: {{ from: b }}\n  c: {{ from: c }}\n"
        );
        let text = f.text();
        let (sink, result) = run(&spec(&yaml), "x.csv", &f.bytes());
        let stats = result.map_err(|e| TestCaseError::fail(format!("{e}\n{text:?}")))?;

        let mut rows = Vec::new();
        let mut rejected_lines = Vec::new();
        for (line, fields) in reference(&text) {
            // Trailing delimiters (more fields, all empty) are read as the row they end.
            if fields.len() == 3 || (fields.len() > 3 && fields[3..].iter().all(String::is_empty)) {
                rows.push(fields[..3].to_vec());
            } else {
                rejected_lines.push(line);
            }
        }
        let got: Vec<Vec<String>> = sink
            .column("a")
            .into_iter()
            .zip(sink.column("b"))
            .zip(sink.column("c"))
            .map(|((a, b), c)| vec![a, b, c])
            .collect();
        prop_assert_eq!(&got, &rows, "rows of {:?}", text);
        let lines: Vec<u64> = sink.rejects.iter().map(|r| r.line).collect();
        prop_assert_eq!(&lines, &rejected_lines, "reject lines of {:?}", text);
        prop_assert_eq!(stats.rows_read as usize, rows.len() + rejected_lines.len());
    }
}
