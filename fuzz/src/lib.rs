//! What every reader target shares: a file read through `oc_extract::read_file` with a
//! pipeline's spec, and the invariant every reader owes: no panic, no hang (libFuzzer's
//! `-timeout`), and every row read either written or rejected.

use std::path::PathBuf;
use std::sync::OnceLock;

use oc_extract::{ExtractError, ReadSpec, Reject, Sink, SourceFile};

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
    fn batch(&mut self, b: arrow_array::RecordBatch) -> Result<(), ExtractError> {
        self.written += b.num_rows() as u64;
        Ok(())
    }
    fn reject(&mut self, r: Reject) -> Result<(), ExtractError> {
        assert!(!r.reason.is_empty(), "a reject without a reason: {r:?}");
        self.rejected += 1;
        Ok(())
    }
}

/// A file of this process in memory-backed storage (one per process: libFuzzer runs one
/// input at a time per process).
fn scratch(name: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let d = base.join(format!("opencoll-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("scratch folder");
        d
    });
    dir.join(name)
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
