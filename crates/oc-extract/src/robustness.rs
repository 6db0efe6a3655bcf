//! Damaged and hostile input for every reader: random bytes, and valid files of each format
//! with bytes flipped, cut short or repeated. A reader may refuse a file (an error naming it)
//! or reject rows, never panic: a panic in a reader would end the refresh without saying which
//! file broke it. Deterministic (a fixed xorshift seed), so a failure replays.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::testutil::{run, spec};

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A damaged copy of `valid`: flipped bytes, a cut, a repeated slice, or pure noise.
fn damage(valid: &[u8], rng: &mut XorShift) -> Vec<u8> {
    let mut b = valid.to_vec();
    match rng.below(4) {
        0 => {
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(b.len());
                b[i] = rng.next() as u8;
            }
        }
        1 => b.truncate(rng.below(b.len())),
        2 => {
            let i = rng.below(b.len());
            let j = (i + rng.below(64)).min(b.len());
            let slice = b[i..j].to_vec();
            for _ in 0..rng.below(50) {
                b.splice(i..i, slice.iter().copied());
            }
        }
        _ => b = (0..rng.below(4096)).map(|_| rng.next() as u8).collect(),
    }
    b
}

/// Each damaged file must be answered (rows, rejects or an error naming it) within this time: a
/// reader that loops on a broken cross-reference table or a zip bomb would hang a refresh.
const TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

fn survives(format: &str, name: &str, pipeline: &str, valid: &[u8], cases: usize) {
    let s = spec(pipeline);
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    // the valid file itself is read
    let (_, r) = run(&s, name, valid);
    assert!(r.is_ok(), "{format}: the valid sample fails: {r:?}");
    for case in 0..cases {
        let bytes = damage(valid, &mut rng);
        let (tx, rx) = std::sync::mpsc::channel();
        let (s, file, len) = (s.clone(), name.to_string(), bytes.len());
        std::thread::spawn(move || {
            let outcome = catch_unwind(AssertUnwindSafe(|| run(&s, &file, &bytes)));
            let _ = tx.send(outcome.map(|(_, r)| r.err().map(|e| e.to_string())));
        });
        match rx.recv_timeout(TIME_LIMIT) {
            Ok(Ok(Some(error))) => assert!(
                error.contains(name),
                "{format}: case {case}: the error does not name the file: {error}"
            ),
            Ok(Ok(None)) => {}
            Ok(Err(_)) => panic!("{format}: case {case} panicked ({len} bytes)"),
            Err(_) => panic!("{format}: case {case} took more than {TIME_LIMIT:?} ({len} bytes)"),
        }
    }
}

const COLUMNS: &str = "columns:\n  code: { from: code, type: code, width: 5 }\n  montant: { from: montant, type: \"decimal(18,2)\" }\n";

#[test]
fn csv_and_json_readers_never_panic() {
    let csv = "code;montant\n01001;1,5\n2A004;-3\n97101;n.c\n".repeat(20);
    survives(
        "csv",
        "x.csv",
        &format!(
            "name: t.x\nsource: {{ path: x.csv, csv: {{ delimiter: \";\", decimal: \",\" }} }}\n{COLUMNS}"
        ),
        csv.as_bytes(),
        400,
    );
    let json = r#"[{"code": "01001", "montant": 1.5}, {"code": "2A004", "montant": "3"}]"#;
    survives(
        "json",
        "x.json",
        &format!("name: t.x\nsource: {{ path: x.json }}\n{COLUMNS}"),
        json.as_bytes(),
        400,
    );
}

#[test]
fn the_html_reader_never_panics() {
    let page = "<html><body><h2>Comptes</h2><table><tr><th>code<th colspan=2>montant</tr>\
        <tr><td rowspan=2>01001<td>1,5<td>x</tr><tr><td>2<td>y</tr></table>"
        .repeat(5);
    survives(
        "html",
        "x.html",
        &format!(
            "name: t.x\nsource: {{ path: x.html, html: {{ encoding: windows-1252 }} }}\n{COLUMNS}"
        ),
        page.as_bytes(),
        400,
    );
}

#[test]
fn parquet_arrow_and_workbook_readers_never_panic() {
    use arrow::array::{Float64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;
    let schema = Arc::new(Schema::new(vec![
        Field::new("code", DataType::Utf8, true),
        Field::new("montant", DataType::Float64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec!["01001", "2A004", "97101"])),
            Arc::new(Float64Array::from(vec![1.5, -3.0, 0.25])),
        ],
    )
    .unwrap();
    let mut parquet = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut parquet, schema.clone(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    survives(
        "parquet",
        "x.parquet",
        &format!("name: t.x\nsource: {{ path: x.parquet }}\n{COLUMNS}"),
        &parquet,
        300,
    );
    let mut ipc = Vec::new();
    let mut w = arrow::ipc::writer::FileWriter::try_new(&mut ipc, &schema).unwrap();
    w.write(&batch).unwrap();
    w.finish().unwrap();
    drop(w);
    survives(
        "arrow",
        "x.arrow",
        &format!("name: t.x\nsource: {{ path: x.arrow }}\n{COLUMNS}"),
        &ipc,
        300,
    );
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.write(0, 0, "code").unwrap();
    ws.write(0, 1, "montant").unwrap();
    for (i, (c, m)) in [("01001", 1.5), ("2A004", -3.0)].iter().enumerate() {
        ws.write(i as u32 + 1, 0, *c).unwrap();
        ws.write(i as u32 + 1, 1, *m).unwrap();
    }
    let xlsx = wb.save_to_buffer().unwrap();
    survives(
        "xlsx",
        "x.xlsx",
        &format!("name: t.x\nsource: {{ path: x.xlsx }}\n{COLUMNS}"),
        &xlsx,
        200,
    );
}

/// The committed sample report and workbook (real layouts: a ruled table, an unruled one over
/// two pages, a report workbook), damaged: broken cross-reference tables and streams, cut
/// zips, corrupted XML.
#[test]
fn the_pdf_reader_and_the_sample_workbook_never_panic_nor_hang() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let pdf =
        std::fs::read(repo.join("data/samples/publications/rapport_finances_2024.pdf")).unwrap();
    survives(
        "pdf",
        "x.pdf",
        "name: t.x\nsource: { path: x.pdf, pdf: { pages: \"1\", strategy: lattice, header_rows: 1 } }\ncolumns:\n  agregat: { from: Agrégat }\n  corse: { from: Corse, type: \"decimal(18,2)\" }\n",
        &pdf,
        150,
    );
    let pipeline =
        std::fs::read_to_string(repo.join("pipelines/publications/comptes_regions.yaml"))
            .unwrap()
            .replace("data/samples/publications/comptes_regions.xlsx", "x.xlsx");
    let xlsx = std::fs::read(repo.join("data/samples/publications/comptes_regions.xlsx")).unwrap();
    survives("xlsx", "x.xlsx", &pipeline, &xlsx, 150);
}
