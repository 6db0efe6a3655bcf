//! The fuzz targets' bodies, one function per target of `fuzz_targets/` (each target is
//! only `fuzz_target!` around its function), and what the reader targets share: a file read
//! through `oc_extract::read_file` with a pipeline's spec, and the invariant every reader
//! owes: no panic, no hang (libFuzzer's `-timeout`), and every row read either written or
//! rejected.
//!
//! The main workspace's `tests/fuzz_corpus.rs` includes this file as a module and replays
//! the committed corpus (`fuzz/corpus/TARGET/`) through the same functions in every
//! `cargo test`, without libFuzzer: this file depends on `oc_spec` and `oc_extract` only.

use std::path::PathBuf;
use std::sync::OnceLock;

use oc_extract::number::{NumberFormat, format_decimal, parse_decimal, parse_f64, parse_i64};
use oc_extract::{ExtractError, ReadSpec, RecordBatch, Reject, Sink, SourceFile};

/// A target's body: any bytes, and a panic when an invariant does not hold.
pub type Target = fn(&[u8]);

/// Every target, by the name `scripts/fuzz.sh` and `fuzz/corpus/` give it.
pub const TARGETS: [(&str, Target); 7] = [
    ("csv", csv),
    ("json", json),
    ("html", html),
    ("xlsx", xlsx),
    ("pdf", pdf),
    ("number", number),
    ("pipeline", pipeline),
];

/// The CSV reader on any bytes, under a dialect chosen by the input's first byte (delimiter,
/// decimal mark, encoding): both the quote-free fast path and the general path are reached.
pub fn csv(data: &[u8]) {
    static SPECS: OnceLock<Vec<ReadSpec>> = OnceLock::new();
    let specs = SPECS.get_or_init(|| {
        let mut v = Vec::new();
        for delimiter in [";", ",", "\\t", "|"] {
            for decimal in [",", "."] {
                for encoding in ["utf-8", "windows-1252"] {
                    v.push(spec(&format!(
                        "name: t.x\nsource: {{ path: x.csv, csv: {{ delimiter: \"{delimiter}\", decimal: \"{decimal}\", encoding: {encoding} }} }}\n{COLUMNS}"
                    )));
                }
            }
        }
        v
    });
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    read(&specs[pick as usize % specs.len()], "x.csv", bytes);
}

/// The JSON reader (an array of records, one record per line, or a document with its
/// records inside) on any bytes, and `infer`'s look at the same bytes.
pub fn json(data: &[u8]) {
    static SPEC: OnceLock<ReadSpec> = OnceLock::new();
    read_columns(&SPEC, "x.json", data);
    infer("y.json", data);
}

/// `opencoll infer` on `bytes` as the file `name`: an error naming the file, or a pipeline
/// that parses and whose read spec builds.
pub fn infer(name: &str, bytes: &[u8]) {
    let path = scratch(name);
    std::fs::write(&path, bytes).expect("scratch file");
    let req = oc_extract::infer::Request {
        path,
        shown: name.to_string(),
        ..Default::default()
    };
    let outcome = oc_extract::infer::infer(&req);
    let _ = std::fs::remove_file(&req.path);
    match outcome {
        Ok(yaml) => {
            let p = oc_spec::parse_pipeline(&yaml).unwrap_or_else(|e| {
                panic!("infer proposed a pipeline that does not parse: {e}\n{yaml}")
            });
            if let Err(e) = ReadSpec::from_pipeline(&p) {
                panic!("infer proposed a pipeline whose spec fails: {e}\n{yaml}");
            }
        }
        Err(e) => {
            let text = e.to_string();
            assert!(text.contains(name), "an error not naming the file: {text}");
        }
    }
}

/// The web page reader (tables with spans, encodings found in the page) on any bytes.
pub fn html(data: &[u8]) {
    static SPEC: OnceLock<ReadSpec> = OnceLock::new();
    read_columns(&SPEC, "x.html", data);
}

/// The workbook reader (zip + XML through calamine, then the report layout) on any bytes.
pub fn xlsx(data: &[u8]) {
    static SPEC: OnceLock<ReadSpec> = OnceLock::new();
    read_columns(&SPEC, "x.xlsx", data);
}

/// `data` read as the file `path`, whose format its extension gives, with [`COLUMNS`] (the
/// spec made once, in `cell`).
fn read_columns(cell: &OnceLock<ReadSpec>, path: &str, data: &[u8]) {
    let s = cell.get_or_init(|| spec(&format!("name: t.x\nsource: {{ path: {path} }}\n{COLUMNS}")));
    read(s, path, data);
}

/// The PDF table reader (oc-pdf over pdf_oxide: objects, streams, fonts, then the table
/// strategies) on any bytes.
pub fn pdf(data: &[u8]) {
    static SPEC: OnceLock<ReadSpec> = OnceLock::new();
    let s = SPEC.get_or_init(|| {
        spec("name: t.x\nsource: { path: x.pdf, pdf: { pages: \"1-3\", header_rows: 1 } }\ncolumns:\n  agregat: { from: Agrégat }\n  corse: { from: Corse, type: \"decimal(18,2)\" }\n")
    });
    read(s, "x.pdf", data);
}

/// French and English number text: never a panic, and an amount parsed is written back and
/// parsed again to the same value (the exact round trip the lake's money relies on).
pub fn number(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let fmt = match pick % 4 {
        0 => NumberFormat::french(),
        1 => NumberFormat::default(),
        2 => NumberFormat {
            decimal: ',',
            thousands: Some('.'),
        },
        _ => NumberFormat {
            decimal: '.',
            thousands: Some(','),
        },
    };
    // scale 0 to 6 and precision 18 to 25, from the first byte with the format
    let scale = (pick / 4 % 7) as i8;
    let precision = 18 + pick / 32;
    let _ = parse_i64(text, fmt);
    let _ = parse_f64(text, fmt);
    if let Ok(v) = parse_decimal(text, fmt, precision, scale) {
        let back = format_decimal(v, scale);
        assert_eq!(
            parse_decimal(&back, NumberFormat::default(), precision, scale),
            Ok(v),
            "{text:?} -> {v} (scale {scale}) -> {back:?}"
        );
    }
}

/// Pipeline YAML as users and attackers write it: parsed, its read spec built, never a panic.
pub fn pipeline(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = oc_spec::parse_pipeline(text) {
        let _ = ReadSpec::from_pipeline(&p);
    }
}

/// A pipeline's read spec from YAML; the targets' pipelines are valid.
pub fn spec(yaml: &str) -> ReadSpec {
    let p = oc_spec::parse_pipeline(yaml).expect("the target's pipeline is valid");
    ReadSpec::from_pipeline(&p).expect("the target's spec is valid")
}

#[derive(Default)]
struct Count {
    written: u64,
    rejected: u64,
}

impl Sink for Count {
    fn batch(&mut self, b: RecordBatch) -> Result<(), ExtractError> {
        self.written += b.num_rows() as u64;
        Ok(())
    }
    fn reject(&mut self, r: Reject) -> Result<(), ExtractError> {
        assert!(!r.reason.is_empty(), "a reject without a reason: {r:?}");
        self.rejected += 1;
        Ok(())
    }
}

/// The folder of this process's scratch files, in memory-backed storage when there is one.
fn scratch_dir() -> PathBuf {
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    base.join(format!("opencoll-fuzz-{}", std::process::id()))
}

/// A file of this process's scratch folder (one file per name: libFuzzer runs one input at
/// a time per process).
fn scratch(name: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let d = scratch_dir();
        std::fs::create_dir_all(&d).expect("scratch folder");
        d
    });
    dir.join(name)
}

/// Removes this process's scratch folder (a replay's last step; a fuzzing process is killed
/// and leaves it, empty, in /dev/shm).
pub fn remove_scratch() {
    let _ = std::fs::remove_dir_all(scratch_dir());
}

/// Reads `bytes` as the file `name` with `spec`. An error must name the file; rows read
/// must all be written or rejected.
pub fn read(spec: &ReadSpec, name: &str, bytes: &[u8]) {
    // libfuzzer-sys aborts at any panic, even one the reader contains: the readers answer a
    // third-party parser's panic as the file's error (the crate oc-contain), which is their
    // contract. With the default hook back, a panic that leaves `read_file` still aborts
    // (libfuzzer-sys catches it around the target), a contained one is only printed.
    static HOOK: OnceLock<()> = OnceLock::new();
    HOOK.get_or_init(|| drop(std::panic::take_hook()));
    let path = scratch(name);
    std::fs::write(&path, bytes).expect("scratch file");
    let file = SourceFile {
        path,
        display: name.to_string(),
        vars: [("exercice".to_string(), "2024".to_string())]
            .into_iter()
            .collect(),
        content_type: None,
        bytes_read: None,
    };
    let mut sink = Count::default();
    let outcome = oc_extract::read_file(spec, &file, &mut sink);
    let _ = std::fs::remove_file(&file.path);
    match outcome {
        Ok(stats) => {
            assert_eq!(
                stats.rows_rejected, sink.rejected,
                "rejects counted differently than sent"
            );
            assert_eq!(
                stats.rows_read,
                sink.written + sink.rejected,
                "rows read neither written nor rejected ({} written, {} rejected)",
                sink.written,
                sink.rejected
            );
        }
        Err(e) => {
            let text = e.to_string();
            assert!(text.contains(name), "an error not naming the file: {text}");
        }
    }
}

/// The columns the reader targets declare: a code, an amount, a count and free text.
pub const COLUMNS: &str = "columns:\n  code: { from: code, type: code, width: 5 }\n  montant: { from: montant, type: \"decimal(18,2)\" }\n  n: { from: n, type: int64 }\n  libelle: { from: libelle }\n";
