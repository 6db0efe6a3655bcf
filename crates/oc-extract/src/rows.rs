//! Shared by the readers: conform raw cells of one record, append or reject, emit batches.

use std::borrow::Cow;

use crate::conform::{BatchBuilder, Cell};
use crate::{ExtractError, ReadSpec, Reject, Sink, SourceFile};

const MAX_VALUE_CHARS: usize = 200;

pub(crate) struct RowWriter<'a> {
    spec: &'a ReadSpec,
    file: &'a SourceFile,
    /// Source column label per declared column (header text, JSON path or `{var}`), for rejects.
    labels: Vec<String>,
    builder: BatchBuilder,
    pub rows_read: u64,
    pub rows_rejected: u64,
}

impl<'a> RowWriter<'a> {
    pub fn new(spec: &'a ReadSpec, file: &'a SourceFile, labels: Vec<String>) -> Self {
        let plans: Vec<_> = spec.columns.iter().map(|c| c.plan.clone()).collect();
        Self {
            spec,
            file,
            labels,
            builder: BatchBuilder::new(&plans, spec.batch_rows),
            rows_read: 0,
            rows_rejected: 0,
        }
    }

    pub fn reject(
        &mut self,
        sink: &mut dyn Sink,
        line: u64,
        column: Option<usize>,
        value: Option<&str>,
        reason: String,
    ) -> Result<(), ExtractError> {
        self.rows_rejected += 1;
        sink.reject(Reject {
            file: self.file.display.clone(),
            line,
            column: column.map(|c| self.labels[c].clone()),
            value: value.map(|v| v.chars().take(MAX_VALUE_CHARS).collect()),
            reason,
        })?;
        if self.rows_rejected > self.spec.reject_limit {
            return Err(ExtractError::new(
                &self.file.display,
                Some(line),
                format!("stopped reading after {} rejected rows", self.rows_rejected),
            )
            .with_hint("the file does not match the pipeline: check encoding, delimiter, decimal mark and types"));
        }
        Ok(())
    }

    /// One record's raw cells, in declared-column order.
    pub fn push(
        &mut self,
        sink: &mut dyn Sink,
        line: u64,
        raws: Vec<Option<Cow<'_, str>>>,
    ) -> Result<(), ExtractError> {
        self.rows_read += 1;
        let mut cells: Vec<Cell<'_>> = Vec::with_capacity(raws.len());
        for (i, raw) in raws.into_iter().enumerate() {
            let plan = &self.spec.columns[i].plan;
            let keep = raw.clone();
            match plan.convert(raw) {
                Ok(c) => cells.push(c),
                Err(reason) => {
                    let reason = format!("{reason} (column {} is {})", plan.name, plan.ty);
                    return self.reject(sink, line, Some(i), keep.as_deref(), reason);
                }
            }
        }
        self.builder.append(&cells);
        if self.builder.is_full() {
            sink.batch(self.builder.finish())?;
        }
        Ok(())
    }

    /// Counts a record that was rejected before its cells were read.
    pub fn count_read(&mut self) {
        self.rows_read += 1;
    }

    pub fn finish(mut self, sink: &mut dyn Sink) -> Result<(u64, u64), ExtractError> {
        if !self.builder.is_empty() {
            sink.batch(self.builder.finish())?;
        }
        Ok((self.rows_read, self.rows_rejected))
    }
}
