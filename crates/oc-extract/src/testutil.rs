//! Test helpers: a sink that keeps everything, and a spec built from YAML.

use arrow::record_batch::RecordBatch;

use crate::sink::{ExtractError, Reject, Sink};
use crate::spec::{ReadSpec, SourceFile};

#[derive(Default)]
pub struct VecSink {
    pub batches: Vec<RecordBatch>,
    pub rejects: Vec<Reject>,
}

impl Sink for VecSink {
    fn batch(&mut self, b: RecordBatch) -> Result<(), ExtractError> {
        self.batches.push(b);
        Ok(())
    }
    fn reject(&mut self, r: Reject) -> Result<(), ExtractError> {
        self.rejects.push(r);
        Ok(())
    }
}

impl VecSink {
    /// Column `name` of all batches as display strings ("" for NULL).
    pub fn column(&self, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        for b in &self.batches {
            let col = b.column_by_name(name).expect("column");
            let fmt =
                arrow::util::display::ArrayFormatter::try_new(col.as_ref(), &Default::default())
                    .unwrap();
            for i in 0..b.num_rows() {
                out.push(fmt.value(i).to_string());
            }
        }
        out
    }

    /// Columns `a`, `b` and `c` of all batches, row by row.
    pub fn triples(&self, a: &str, b: &str, c: &str) -> Vec<(String, String, String)> {
        self.column(a)
            .into_iter()
            .zip(self.column(b))
            .zip(self.column(c))
            .map(|((a, b), c)| (a, b, c))
            .collect()
    }
}

/// A pipeline's read spec from YAML (`source.path` is irrelevant here).
pub fn spec(yaml: &str) -> ReadSpec {
    let p: oc_spec::Pipeline = oc_spec::parse_pipeline(yaml).expect("pipeline yaml");
    ReadSpec::from_pipeline(&p).expect("spec")
}

pub fn run(
    spec: &ReadSpec,
    name: &str,
    bytes: &[u8],
) -> (VecSink, Result<crate::sink::FileStats, ExtractError>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    let file = SourceFile {
        bytes_read: None,
        path,
        display: name.to_string(),
        vars: [("exercice".to_string(), "2024".to_string())]
            .into_iter()
            .collect(),
        content_type: None,
    };
    let mut sink = VecSink::default();
    let r = crate::read_file(spec, &file, &mut sink);
    (sink, r)
}
