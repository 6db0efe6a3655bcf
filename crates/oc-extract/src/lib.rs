//! Source readers: each turns one source file into a stream of Arrow record batches of the
//! pipeline's declared columns, plus rejected rows with their reason.
//!
//! Readers are synchronous and streaming (bounded memory whatever the file size); the engine
//! runs them on a blocking thread and receives batches through a [`Sink`]. What a reader
//! needs is a [`ReadSpec`] (`spec.rs`); what it produces goes through `sink.rs`.

pub mod columnar;
pub mod conform;
mod contain;
pub mod csv;
pub mod database;
pub mod encoding;
pub mod html;
pub mod infer;
pub mod input;
pub mod json;
pub mod number;
mod parquet_depth;
pub mod pdf;
mod record_bound;
#[cfg(test)]
mod robustness;
mod rows;
pub mod sink;
pub mod spec;
#[cfg(test)]
mod testutil;
pub mod xlsx;

/// The batches a [`Sink`] receives (so that a sink can be written without naming arrow).
pub use arrow::record_batch::RecordBatch;
pub use contain::{READER_MEMORY_VAR, reader_memory};
pub use sink::{ExtractError, FileStats, Reject, Sink};
pub use spec::{
    BATCH_ROWS, CsvDialect, ReadSpec, Selector, SourceColumn, SourceFile, UnpivotSpec,
    expand_sources,
};
pub use xlsx::{WORKBOOK_JOB, answer_workbook};

use oc_spec::Format;

/// Reads one file according to the spec, sending batches and rejects to `sink`.
pub fn read_file(
    spec: &ReadSpec,
    file: &SourceFile,
    sink: &mut dyn Sink,
) -> Result<FileStats, ExtractError> {
    let Some(before) = input::Stamp::of(&file.path) else {
        return read_any(spec, file, sink);
    };
    let mut stats = read_any(spec, file, sink)?;
    stats.mtime = before.after_read(&file.path, &file.display)?;
    Ok(stats)
}

fn read_any(
    spec: &ReadSpec,
    file: &SourceFile,
    sink: &mut dyn Sink,
) -> Result<FileStats, ExtractError> {
    if spec.format == Format::Pdf {
        // binary: not through the text input (which refuses PDF bytes)
        return pdf::read_file(spec, file, sink);
    }
    match spec.format {
        Format::Xlsx => return xlsx::read_workbook(spec, file, sink),
        // a page is parsed whole, its encoding found in its own bytes
        Format::Html => return html::read_page(spec, file, sink),
        Format::Parquet | Format::Arrow => return columnar::read_file(spec, file, sink),
        Format::Database => return database::read(spec, file, sink),
        Format::Csv | Format::Json | Format::Pdf => {}
    }
    let ((rows_read, rows_rejected), sha256, bytes) = input::with_reader(
        &file.path,
        &file.display,
        spec.member.as_deref(),
        file.bytes_read.clone(),
        |r| match spec.format {
            Format::Csv => csv::read(spec, file, r, sink),
            Format::Json => json::read(spec, file, r, sink),
            // they return early above: they need the whole file, not a text stream
            Format::Pdf
            | Format::Xlsx
            | Format::Html
            | Format::Parquet
            | Format::Arrow
            | Format::Database => Err(ExtractError::new(
                &file.display,
                None,
                "this format cannot be read as a text stream",
            )),
        },
    )?;
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
