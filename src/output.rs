//! Printing and exporting query results: an aligned table for people; CSV (also French and
//! tab-separated), JSON, NDJSON, Markdown, Parquet and Arrow IPC for programs and files.

use std::io::Write;
use std::path::Path;

use anyhow::{Result, bail};
use arrow::array::Array;
use arrow::datatypes::{DataType, Schema};
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};

/// The formats of `catalog` and `history`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

/// The formats of a query's result (`opencoll sql --format`, or `--output`'s extension).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ResultFormat {
    /// Aligned table (the default on a terminal)
    Table,
    /// CSV: comma, dot decimal
    Csv,
    /// CSV for Excel in French: semicolon, decimal comma, UTF-8 with BOM
    CsvFr,
    /// Tab-separated values
    Tsv,
    /// One JSON array of objects
    Json,
    /// One JSON object per line
    Ndjson,
    /// Markdown table
    Markdown,
    /// Parquet file (types kept: Decimal128, Int16…)
    Parquet,
    /// Arrow IPC file (Feather v2)
    Arrow,
}

impl ResultFormat {
    /// The format a file name implies.
    pub fn from_path(path: &Path) -> Option<ResultFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "csv" => ResultFormat::Csv,
            "tsv" | "tab" => ResultFormat::Tsv,
            "json" => ResultFormat::Json,
            "ndjson" | "jsonl" => ResultFormat::Ndjson,
            "md" | "markdown" => ResultFormat::Markdown,
            "parquet" | "pq" => ResultFormat::Parquet,
            "arrow" | "ipc" | "feather" => ResultFormat::Arrow,
            "txt" => ResultFormat::Table,
            _ => return None,
        })
    }

    pub fn is_binary(self) -> bool {
        matches!(self, ResultFormat::Parquet | ResultFormat::Arrow)
    }
}

impl From<Format> for ResultFormat {
    fn from(f: Format) -> Self {
        match f {
            Format::Table => ResultFormat::Table,
            Format::Csv => ResultFormat::Csv,
            Format::Json => ResultFormat::Json,
        }
    }
}

/// Prints a result on standard output (see [`write`]).
pub fn print(schema: &Schema, batches: &[RecordBatch], format: Format) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    write(schema, batches, format.into(), &mut out)
}

/// Writes a result. A result without rows still shows its columns (the header, and
/// `(0 rows)` in the table format), as psql and DuckDB do.
pub fn write(
    schema: &Schema,
    batches: &[RecordBatch],
    format: ResultFormat,
    out: &mut dyn Write,
) -> Result<()> {
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let schema_ref = std::sync::Arc::new(schema.clone());
    let empty = [RecordBatch::new_empty(schema_ref.clone())];
    let batches = if batches.is_empty() {
        &empty[..]
    } else {
        batches
    };
    match format {
        ResultFormat::Table => {
            writeln!(
                out,
                "{}",
                arrow::util::pretty::pretty_format_batches(batches)?
            )?;
            if rows == 0 {
                writeln!(out, "(0 rows)")?;
            }
        }
        ResultFormat::Csv | ResultFormat::Tsv => {
            let delimiter = if format == ResultFormat::Tsv {
                b'\t'
            } else {
                b','
            };
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .with_delimiter(delimiter)
                .build(&mut *out);
            for b in batches {
                w.write(b)?;
            }
        }
        ResultFormat::CsvFr => csv_fr(schema, batches, out)?,
        ResultFormat::Json => {
            let mut w = arrow::json::ArrayWriter::new(&mut *out);
            let refs: Vec<&RecordBatch> = batches.iter().collect();
            w.write_batches(&refs)?;
            // (an empty batch is written as `[]`)
            w.finish()?;
            writeln!(out)?;
        }
        ResultFormat::Ndjson => {
            let mut w = arrow::json::LineDelimitedWriter::new(&mut *out);
            let refs: Vec<&RecordBatch> = batches.iter().collect();
            w.write_batches(&refs)?;
            w.finish()?;
        }
        ResultFormat::Markdown => markdown(schema, batches, out)?,
        ResultFormat::Parquet => {
            let mut buf = Vec::new();
            let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, schema_ref, None)?;
            for b in batches {
                w.write(b)?;
            }
            w.close()?;
            out.write_all(&buf)?;
        }
        ResultFormat::Arrow => {
            let mut w = arrow::ipc::writer::FileWriter::try_new(&mut *out, &schema_ref)?;
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
        }
    }
    Ok(())
}

/// The records one after the other, a `column | value` line each, as psql's expanded display
/// (`\x`): for results wider than the terminal.
pub fn write_expanded(schema: &Schema, batches: &[RecordBatch], out: &mut dyn Write) -> Result<()> {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    let mut n = 0;
    for b in batches {
        for row in texts(b)? {
            n += 1;
            let title = format!("-[ RECORD {n} ]");
            writeln!(
                out,
                "{title}{}",
                "-".repeat((width + 3).saturating_sub(title.len()))
            )?;
            for (name, value) in names.iter().zip(row) {
                // a value over several lines keeps the column of the first one
                let value = value.replace('\n', &format!("\n{:width$} | ", ""));
                writeln!(out, "{name:width$} | {value}")?;
            }
        }
    }
    if n == 0 {
        writeln!(out, "(0 rows)")?;
    }
    Ok(())
}

/// Every value of a batch as text, "" for NULL.
fn texts(b: &RecordBatch) -> Result<Vec<Vec<String>>> {
    let opts = FormatOptions::default();
    let formatters: Vec<ArrayFormatter> = b
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
        .collect::<Result<_, _>>()?;
    Ok((0..b.num_rows())
        .map(|r| {
            formatters
                .iter()
                .zip(b.columns())
                .map(|(f, c)| {
                    if c.is_null(r) {
                        String::new()
                    } else {
                        f.value(r).to_string()
                    }
                })
                .collect()
        })
        .collect())
}

fn is_decimal_number(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Float16
            | DataType::Float32
            | DataType::Float64
            | DataType::Decimal32(..)
            | DataType::Decimal64(..)
            | DataType::Decimal128(..)
            | DataType::Decimal256(..)
    )
}

/// `;`, decimal comma in numbers (not in text), BOM: what Excel in French opens right.
fn csv_fr(schema: &Schema, batches: &[RecordBatch], out: &mut dyn Write) -> Result<()> {
    out.write_all("\u{feff}".as_bytes())?;
    let mut w = csv::WriterBuilder::new().delimiter(b';').from_writer(out);
    w.write_record(schema.fields().iter().map(|f| f.name()))?;
    let numeric: Vec<bool> = schema
        .fields()
        .iter()
        .map(|f| is_decimal_number(f.data_type()))
        .collect();
    for b in batches {
        for row in texts(b)? {
            w.write_record(
                row.into_iter()
                    .zip(&numeric)
                    .map(|(v, n)| if *n { v.replace('.', ",") } else { v }),
            )?;
        }
    }
    w.flush()?;
    Ok(())
}

fn markdown(schema: &Schema, batches: &[RecordBatch], out: &mut dyn Write) -> Result<()> {
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let names: Vec<String> = schema.fields().iter().map(|f| cell(f.name())).collect();
    writeln!(out, "| {} |", names.join(" | "))?;
    let align: Vec<&str> = schema
        .fields()
        .iter()
        .map(|f| {
            if f.data_type().is_numeric() {
                "---:"
            } else {
                "---"
            }
        })
        .collect();
    writeln!(out, "|{}|", align.join("|"))?;
    for b in batches {
        for row in texts(b)? {
            let row: Vec<String> = row.iter().map(|v| cell(v)).collect();
            writeln!(out, "| {} |", row.join(" | "))?;
        }
    }
    Ok(())
}

/// Writes a result to `path` through a temporary file renamed into place, so a failed or
/// interrupted export never leaves half a file under the name asked for.
pub fn write_file(
    schema: &Schema,
    batches: &[RecordBatch],
    format: ResultFormat,
    path: &Path,
) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    if !dir.is_dir() {
        bail!(
            "cannot write {}: no folder {}",
            path.display(),
            dir.display()
        );
    }
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("result"),
        std::process::id()
    ));
    let result = (|| -> Result<()> {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        write(schema, batches, format, &mut f)?;
        f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| {
        anyhow::anyhow!(
            "cannot write {}: {}",
            path.display(),
            crate::errors::one_line(&e)
        )
    })
}
