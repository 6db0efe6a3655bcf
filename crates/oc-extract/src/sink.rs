//! What readers produce besides batches, and where it goes: the [`Sink`] that receives
//! batches and rejected rows, a file's [`FileStats`], and the [`ExtractError`] that stops
//! reading a file.

use std::fmt;

use arrow::record_batch::RecordBatch;

/// A failure that stops reading a file: says which file, where, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractError {
    pub file: String,
    pub line: Option<u64>,
    pub message: String,
    pub hint: Option<String>,
}

impl ExtractError {
    pub fn new(file: &str, line: Option<u64>, message: impl Into<String>) -> Self {
        Self {
            file: file.to_string(),
            line,
            message: message.into(),
            hint: None,
        }
    }
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for ExtractError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.file, l, self.message)?,
            None => write!(f, "{}: {}", self.file, self.message)?,
        }
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ExtractError {}

impl ExtractError {
    /// Reading stops once a file rejected more rows than a run tolerates: the file does not
    /// match the pipeline, and reading on would only fill `_ops.rejects`.
    pub fn too_many_rejects(file: &str, line: u64, rejected: u64) -> Self {
        ExtractError::new(
            file,
            Some(line),
            format!("stopped reading after {rejected} rejected rows"),
        )
        .with_hint(
            "the file does not match the pipeline: check encoding, delimiter, decimal mark and types",
        )
    }
}

/// A row that could not be conformed. It goes to `_ops.rejects`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub file: String,
    /// Line of the record in the file (CSV, NDJSON) or record number (JSON array).
    pub line: u64,
    /// Source column (header) of the failing cell, if a cell failed.
    pub column: Option<String>,
    pub value: Option<String>,
    pub reason: String,
}

/// Where a reader sends its output.
pub trait Sink {
    fn batch(&mut self, batch: RecordBatch) -> Result<(), ExtractError>;
    fn reject(&mut self, reject: Reject) -> Result<(), ExtractError>;
    /// The header of a CSV file or of a report table (workbook sheet, web page table) once
    /// it is decoded, its rows joined and every column named, before any row: `opencoll infer`
    /// learns the columns from it. An error stops the reading.
    fn header(&mut self, _headers: &[String]) -> Result<(), ExtractError> {
        Ok(())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileStats {
    pub rows_read: u64,
    pub rows_rejected: u64,
    pub sha256: String,
    pub bytes: u64,
    /// The file's modification time when it was opened (nanoseconds since the epoch, as
    /// text); None when it was replaced during the read, or is not a file.
    pub mtime: Option<String>,
    /// Footnotes and notes found around the table (workbooks), kept with the commit.
    pub notes: Vec<String>,
    /// Incremental database sources: the cursor of the last row read, committed with the
    /// version so that the next run starts after it.
    pub cursor: Option<String>,
}
