//! Typed columnar files: Apache Parquet (`format: parquet`) and Arrow IPC, file or stream
//! (`format: arrow`), as the open-data portals export them.
//!
//! Only the fields the pipeline declares are read (projection). Each value then goes through
//! the same typing as a CSV cell — written as text by Arrow's formatter (a float as its
//! shortest exact representation) — so that the rules are the same whatever the format: a
//! code keeps its zeros (`width:`), an amount becomes an exact decimal (a float's extra
//! binary digits rounded half away from zero to the column's scale, as for a CSV cell), and
//! a value that does not fit the declared type is a rejected row naming the file, row and
//! column, never a silent cast.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::SchemaRef;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use oc_spec::Format;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::rows::{Layout, RowWriter, Slot};
use crate::sink::{ExtractError, FileStats, Sink};
use crate::spec::{ReadSpec, SourceFile};

/// The magic bytes of an Arrow IPC file (the stream format has none).
const ARROW_FILE_MAGIC: &[u8] = b"ARROW1";

pub fn read_file(
    spec: &ReadSpec,
    file: &SourceFile,
    sink: &mut dyn Sink,
) -> Result<FileStats, ExtractError> {
    crate::contain::contained(&file.display, || read(spec, file, sink))
}

fn read(
    spec: &ReadSpec,
    file: &SourceFile,
    sink: &mut dyn Sink,
) -> Result<FileStats, ExtractError> {
    let name = file.display.as_str();
    let err = |msg: String| ExtractError::new(name, None, msg);
    if spec.member.is_some() {
        return Err(err(
            "`member` applies to zip archives, not columnar files".into()
        ));
    }
    let (sha256, bytes) =
        crate::input::hash_file(&file.path).map_err(|e| err(format!("cannot read: {e}")))?;
    let mut f = File::open(&file.path).map_err(|e| err(format!("cannot read: {e}")))?;
    let mut head = [0u8; 6];
    let n = read_head(&mut f, &mut head).map_err(|e| err(format!("cannot read: {e}")))?;
    let head = &head[..n];
    let (rows_read, rows_rejected) = match spec.format {
        Format::Parquet => {
            if head.get(..4) != Some(b"PAR1") {
                return Err(not_this(name, "Parquet", head));
            }
            check_schema_depth(name, &mut f)?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(f)
                .map_err(|e| err(format!("not a readable Parquet file: {e}")))?;
            let schema = builder.schema().clone();
            let (layout, fields) = resolve(spec, file, &schema)?;
            let mask = ProjectionMask::roots(builder.parquet_schema(), fields.iter().copied());
            let reader = builder
                .with_projection(mask)
                .with_batch_size(spec.batch_rows)
                .build()
                .map_err(|e| err(format!("cannot read the Parquet file: {e}")))?;
            read_batches(spec, file, &layout, &fields, reader, sink)?
        }
        _ => {
            if head == ARROW_FILE_MAGIC {
                let reader = arrow::ipc::reader::FileReader::try_new(BufReader::new(f), None)
                    .map_err(|e| err(format!("not a readable Arrow IPC file: {e}")))?;
                let (layout, fields) = resolve(spec, file, &reader.schema())?;
                let reader = arrow::ipc::reader::FileReader::try_new(
                    BufReader::new(
                        File::open(&file.path).map_err(|e| err(format!("cannot read: {e}")))?,
                    ),
                    Some(fields.clone()),
                )
                .map_err(|e| err(format!("not a readable Arrow IPC file: {e}")))?;
                // the projected batches hold the chosen fields in order
                let at: Vec<usize> = (0..fields.len()).collect();
                read_batches(spec, file, &layout, &at, reader, sink)?
            } else {
                if head.starts_with(b"PAR1") {
                    return Err(not_this(name, "Arrow IPC", head));
                }
                let reader = arrow::ipc::reader::StreamReader::try_new(BufReader::new(f), None)
                    .map_err(|e| {
                        err(format!("not a readable Arrow IPC file or stream: {e}")).with_hint(
                            "an Arrow IPC file starts with ARROW1; other bytes are read as the stream format",
                        )
                    })?;
                let (layout, fields) = resolve(spec, file, &reader.schema())?;
                read_batches(spec, file, &layout, &fields, reader, sink)?
            }
        }
    };
    Ok(FileStats {
        rows_read,
        rows_rejected,
        sha256,
        bytes,
        mtime: None,
        notes: Vec::new(),
        cursor: None,
    })
}

fn read_head(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let k = f.read(&mut buf[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    f.seek(SeekFrom::Start(0))?;
    Ok(n)
}

/// Refuses a Parquet file whose schema nests deeper than the parquet crate can build without
/// overflowing the stack (parquet_depth.rs). A footer that cannot be skimmed is left to the
/// parquet crate, which names what is wrong with it.
fn check_schema_depth(name: &str, f: &mut File) -> Result<(), ExtractError> {
    let err = |e: std::io::Error| ExtractError::new(name, None, format!("cannot read: {e}"));
    let len = f.seek(SeekFrom::End(0)).map_err(err)?;
    let mut tail = [0u8; 8];
    let footer_len = if len >= 12 {
        f.seek(SeekFrom::End(-8)).map_err(err)?;
        f.read_exact(&mut tail).map_err(err)?;
        u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]))
    } else {
        0
    };
    // an encrypted footer ends with PARE: the parquet crate refuses it
    if &tail[4..] == b"PAR1" && footer_len > 0 && footer_len <= len - 12 {
        let mut footer = vec![0u8; footer_len as usize];
        f.seek(SeekFrom::Start(len - 8 - footer_len)).map_err(err)?;
        f.read_exact(&mut footer).map_err(err)?;
        if let Ok(depth) = crate::parquet_depth::schema_depth(&footer)
            && depth > crate::parquet_depth::MAX_DEPTH
        {
            return Err(ExtractError::new(
                name,
                None,
                format!(
                    "its schema nests {depth} levels deep (more than {}): no real file does, \
                     and reading it would crash the Parquet reader; the file is damaged or forged",
                    crate::parquet_depth::MAX_DEPTH
                ),
            )
            .with_hint("ask its publisher for a sound copy"));
        }
    }
    f.seek(SeekFrom::Start(0)).map_err(err)?;
    Ok(())
}

fn not_this(name: &str, what: &str, head: &[u8]) -> ExtractError {
    let is = crate::input::sniff_binary(head)
        .map(|k| format!("this file is {k}"))
        .unwrap_or_else(|| format!("this file does not start like {what} data"));
    ExtractError::new(name, None, format!("{is}, not {what}"))
        .with_hint("set source.format to the file's real format")
}

/// The declared columns against the file's fields. Returns the layout (over the fields that
/// are read, in file order) and those fields' indices in the file schema.
fn resolve(
    spec: &ReadSpec,
    file: &SourceFile,
    schema: &SchemaRef,
) -> Result<(Layout, Vec<usize>), ExtractError> {
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    // Resolved on all fields first (the errors then list every name), then narrowed to those
    // a slot reads, so that only they are decoded.
    let mut layout = Layout::resolve(spec, file, Some(&names), 1)?;
    let mut fields: Vec<usize> = layout
        .slots
        .iter()
        .filter_map(|s| match s {
            Slot::Field(i) => Some(*i),
            _ => None,
        })
        .collect();
    fields.sort_unstable();
    fields.dedup();
    for s in layout.slots.iter_mut() {
        if let Slot::Field(i) = s {
            *i = fields.binary_search(i).expect("listed above");
        }
    }
    Ok((layout, fields))
}

/// Types every row of every batch through the declared columns.
fn read_batches<E: std::fmt::Display>(
    spec: &ReadSpec,
    file: &SourceFile,
    layout: &Layout,
    fields: &[usize],
    batches: impl Iterator<Item = Result<RecordBatch, E>>,
    sink: &mut dyn Sink,
) -> Result<(u64, u64), ExtractError> {
    let name = file.display.as_str();
    let mut writer = RowWriter::new(spec, file, layout.labels.clone());
    let options = FormatOptions::default().with_display_error(true);
    let mut row = 0u64;
    for batch in batches {
        let batch = batch.map_err(|e| {
            ExtractError::new(name, Some(row + 1), format!("cannot read the data: {e}"))
                .with_hint("the file is damaged or truncated; download it again")
        })?;
        let columns: Vec<&dyn Array> = if batch.num_columns() == fields.len() {
            batch.columns().iter().map(|c| c.as_ref()).collect()
        } else {
            fields.iter().map(|i| batch.column(*i).as_ref()).collect()
        };
        let formatters: Vec<ArrayFormatter> = columns
            .iter()
            .map(|c| ArrayFormatter::try_new(*c, &options))
            .collect::<Result<_, _>>()
            .map_err(|e| {
                ExtractError::new(name, None, format!("a column cannot be read as text: {e}"))
            })?;
        for r in 0..batch.num_rows() {
            row += 1;
            let cell = |i: usize| -> Option<Cow<'_, str>> {
                let c = columns.get(i)?;
                if c.is_null(r) {
                    None
                } else {
                    Some(Cow::Owned(formatters[i].value(r).to_string()))
                }
            };
            layout.emit(&mut writer, sink, row, cell)?;
        }
    }
    writer.finish(sink)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Decimal128Array, Float64Array, Int32Array, StringArray};
    use arrow::datatypes::{Field, Schema};

    use crate::testutil::{run, spec};

    const PIPELINE: &str = r#"
name: t.ofgl
source: { path: x.parquet }
columns:
  code: { from: Code Insee, type: code, width: 5 }
  montant: { from: montant, type: "decimal(18,2)" }
  exact: { from: exact, type: "decimal(18,2)" }
  population: { from: /^pop/, type: int64 }
"#;

    /// An export the way portals write them: codes as integers, amounts as floats.
    fn batch() -> arrow::record_batch::RecordBatch {
        let cols: Vec<(&str, ArrayRef)> = vec![
            (
                "Code Insee",
                Arc::new(Int32Array::from(vec![Some(1001), Some(97101), None])),
            ),
            ("ignored", Arc::new(StringArray::from(vec!["a", "b", "c"]))),
            (
                "montant",
                Arc::new(Float64Array::from(vec![1234.5, 0.1 + 0.2, 7.0])),
            ),
            (
                "exact",
                Arc::new(
                    Decimal128Array::from(vec![123456, -5, 0])
                        .with_precision_and_scale(10, 2)
                        .unwrap(),
                ),
            ),
            (
                "population",
                Arc::new(StringArray::from(vec![
                    Some("767"),
                    Some("n.c"),
                    Some("1,5"),
                ])),
            ),
        ];
        let schema = Arc::new(Schema::new(
            cols.iter()
                .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
                .collect::<Vec<_>>(),
        ));
        arrow::record_batch::RecordBatch::try_new(schema, cols.into_iter().map(|c| c.1).collect())
            .unwrap()
    }

    fn parquet_bytes() -> Vec<u8> {
        let b = batch();
        let mut out = Vec::new();
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, b.schema(), None).unwrap();
        w.write(&b).unwrap();
        w.close().unwrap();
        out
    }

    fn check(sink: &crate::testutil::VecSink) {
        assert_eq!(sink.column("code"), ["01001", "97101"]);
        // 0.1 + 0.2 is 0.30000000000000004 in binary: rounded to cents as a CSV cell would be
        assert_eq!(sink.column("montant"), ["1234.50", "0.30"]);
        assert_eq!(sink.column("exact"), ["1234.56", "-0.05"]);
        assert_eq!(sink.column("population"), ["767", ""]);
        // text that is not an integer is a reject, not a cast
        let r = &sink.rejects;
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!((r[0].line, r[0].column.as_deref()), (3, Some("population")));
        assert_eq!(r[0].value.as_deref(), Some("1,5"));
    }

    #[test]
    fn parquet_is_typed_like_any_source() {
        let (sink, r) = run(&spec(PIPELINE), "export.parquet", &parquet_bytes());
        let stats = r.unwrap();
        assert_eq!((stats.rows_read, stats.rows_rejected), (3, 1));
        check(&sink);
    }

    #[test]
    fn arrow_ipc_file_and_stream() {
        let b = batch();
        let mut file = Vec::new();
        let mut w = arrow::ipc::writer::FileWriter::try_new(&mut file, &b.schema()).unwrap();
        w.write(&b).unwrap();
        w.finish().unwrap();
        drop(w);
        let mut stream = Vec::new();
        let mut w = arrow::ipc::writer::StreamWriter::try_new(&mut stream, &b.schema()).unwrap();
        w.write(&b).unwrap();
        w.finish().unwrap();
        drop(w);
        let s = spec(&PIPELINE.replace("x.parquet", "x.arrow"));
        for (name, bytes) in [("export.arrow", file), ("export.arrows", stream)] {
            let (sink, r) = run(&s, name, &bytes);
            assert_eq!(r.unwrap().rows_read, 3, "{name}");
            check(&sink);
        }
    }

    #[test]
    fn wrong_files_are_named_and_explained() {
        let s = spec(PIPELINE);
        let e = run(&s, "export.parquet", b"code;montant\n01001;1\n")
            .1
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "export.parquet: this file does not start like Parquet data, not Parquet (hint: set source.format to the file's real format)"
        );
        let mut cut = parquet_bytes();
        cut.truncate(cut.len() / 2);
        let e = run(&s, "export.parquet", &cut).1.unwrap_err().to_string();
        assert!(
            e.starts_with("export.parquet: not a readable Parquet file"),
            "{e}"
        );
        // a schema nesting a million groups (8 MB) would overflow the parquet crate's stack
        let e = run(
            &s,
            "export.parquet",
            &crate::parquet_depth::deep_parquet(1_000_000),
        )
        .1
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with(
                "export.parquet: its schema nests 1000001 levels deep (more than 256): no real \
                 file does"
            ) && e.ends_with("(hint: ask its publisher for a sound copy)"),
            "{e}"
        );
        // a schema without the declared field: the error lists what the file has
        let other = spec(&PIPELINE.replace("from: montant,", "from: montant_total,"));
        let e = run(&other, "export.parquet", &parquet_bytes())
            .1
            .unwrap_err()
            .to_string();
        assert!(e.contains("no column `montant_total` in the header"), "{e}");
        assert!(
            e.contains("the header has: Code Insee, ignored, montant, exact, population"),
            "{e}"
        );
    }
}
