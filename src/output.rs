//! Printing query results: aligned table for people, CSV and JSON for programs.

use std::io::Write;

use anyhow::Result;
use arrow::datatypes::Schema;
use arrow::record_batch::RecordBatch;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

/// Prints a result. A result without rows still shows its columns (the header, and
/// `(0 rows)` in the table format), as psql and DuckDB do.
pub fn print(schema: &Schema, batches: &[RecordBatch], format: Format) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let empty = [RecordBatch::new_empty(std::sync::Arc::new(schema.clone()))];
    let batches = if batches.is_empty() {
        &empty[..]
    } else {
        batches
    };
    match format {
        Format::Table => {
            writeln!(
                out,
                "{}",
                arrow::util::pretty::pretty_format_batches(batches)?
            )?;
            if rows == 0 {
                writeln!(out, "(0 rows)")?;
            }
        }
        Format::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut out);
            for b in batches {
                w.write(b)?;
            }
        }
        Format::Json => {
            let mut w = arrow::json::ArrayWriter::new(&mut out);
            let refs: Vec<&RecordBatch> = batches.iter().collect();
            w.write_batches(&refs)?;
            // (an empty batch is written as `[]`)
            w.finish()?;
            writeln!(out)?;
        }
    }
    Ok(())
}
