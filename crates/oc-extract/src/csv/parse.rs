//! Typing one chunk's records: through the quote-free splitter, or `records` (on `csv_core`)
//! for chunks with quotes; field-count checks, rejects with the record's line.

use std::borrow::Cow;

use crate::encoding::decode;
use oc_spec::Encoding;

use crate::rows::{CellSource, Layout, RowWriter, Slot};
use crate::sink::{ExtractError, Reject, Sink};
use crate::spec::{ReadSpec, SourceFile};

use super::records::{Record, RecordLines, Records};
use super::split::{Line, Lines, quote_free};

/// Records of a quote-free chunk written together ([`RowWriter::push_rows`]): enough rows for
/// the per-column passes to pay, few enough for their field bounds to stay in cache. (Three in
/// unit tests, so that their chunks cross blocks, and rejects fall before, in and after one.)
const BLOCK_ROWS: usize = if cfg!(test) { 3 } else { 1024 };

/// Whole-text records of the expected width, waiting to be written column by column.
#[derive(Default)]
struct Block<'b> {
    /// Each record's line number and text.
    lines: Vec<(u64, &'b str)>,
    /// The first `expected + 1` field bounds of each record, as [`Lines`] gives them.
    bounds: Vec<u32>,
}

impl<'b> Block<'b> {
    fn push(&mut self, line: u64, text: &'b str, bounds: &[usize]) {
        self.lines.push((line, text));
        // A record is at most `MAX_RECORD_BYTES` long, so its bounds fit a u32.
        self.bounds.extend(bounds.iter().map(|&b| b as u32));
    }
}

/// What every chunk's parse needs: the resolved columns and the file's layout.
pub(super) struct ChunkContext<'a> {
    pub(super) spec: &'a ReadSpec,
    pub(super) file: &'a SourceFile,
    pub(super) layout: &'a Layout,
    /// Fields per record (0: no record at all).
    pub(super) expected: usize,
    /// Title lines skipped before the chunks (for line numbers).
    pub(super) skipped: u64,
}

/// One chunk's rows, typed, with its rejects in line order.
#[derive(Default)]
pub(super) struct ChunkOut {
    pub(super) batches: Vec<arrow::record_batch::RecordBatch>,
    pub(super) rejects: Vec<Reject>,
    pub(super) rows_read: u64,
    pub(super) rows_rejected: u64,
    pub(super) error: Option<ExtractError>,
}

impl Sink for ChunkOut {
    fn batch(&mut self, batch: arrow::record_batch::RecordBatch) -> Result<(), ExtractError> {
        self.batches.push(batch);
        Ok(())
    }
    fn reject(&mut self, reject: Reject) -> Result<(), ExtractError> {
        self.rejects.push(reject);
        Ok(())
    }
}

impl ChunkContext<'_> {
    /// Parses the records of `bytes`, whose first line is line `lines_before + 1` after the
    /// skipped title lines.
    pub(super) fn parse(&self, bytes: &[u8], lines_before: u64) -> ChunkOut {
        let mut out = ChunkOut::default();
        let labels = self.layout.labels.clone();
        let mut rows = RowWriter::new(self.spec, self.file, labels);
        let r = self.parse_into(bytes, lines_before, &mut rows, &mut out);
        match r.and_then(|()| rows.finish(&mut out)) {
            Ok((read, rejected)) => {
                out.rows_read = read;
                out.rows_rejected = rejected;
            }
            Err(e) => out.error = Some(e),
        }
        out
    }

    fn parse_into(
        &self,
        bytes: &[u8],
        lines_before: u64,
        rows: &mut RowWriter<'_>,
        sink: &mut ChunkOut,
    ) -> Result<(), ExtractError> {
        if self.layout.pivots.is_empty() && quote_free(&self.spec.csv, bytes) {
            self.parse_lines(bytes, lines_before, rows, sink)
        } else {
            self.parse_records(bytes, lines_before, rows, sink)
        }
    }

    /// The records of a chunk without quotes (see [`quote_free`]), split on line feeds and
    /// delimiters as the `csv` crate would, with the same line numbers, but without its
    /// byte-by-byte state machine, and with fields borrowed from the chunk instead of copied.
    pub(super) fn parse_lines(
        &self,
        bytes: &[u8],
        lines_before: u64,
        rows: &mut RowWriter<'_>,
        sink: &mut ChunkOut,
    ) -> Result<(), ExtractError> {
        let d = &self.spec.csv;
        let mut line = lines_before + self.skipped;
        // Field `i` of the current line is `text[bounds[i]..bounds[i + 1] - 1]`, for the
        // header's width of fields (those past it only counted).
        let mut bounds: Vec<usize> = Vec::new();
        let keep = self.keep();
        let mut lines = Lines::new(bytes, d.delimiter);
        let mut block = Block::default();
        while let Some(Line {
            text,
            fields: n,
            more_not_empty,
        }) = lines.next_line(&mut bounds, keep)
        {
            line += 1;
            if text.is_empty() {
                // `csv` skips blank lines.
                continue;
            }
            let kept = bounds.len() - 1;
            let field = |i: usize| (i < kept).then(|| bounds[i]..bounds[i + 1] - 1);
            // Past the header's width, fields are only counted (`keep`).
            let extras_empty = || !more_not_empty;
            let raw = || String::from_utf8_lossy(text).into_owned();
            let whole = if d.encoding == Encoding::Utf8 || text.is_ascii() {
                std::str::from_utf8(text).ok()
            } else {
                None
            };
            let width_ok = self.expected == 0 || n == self.expected;
            match whole {
                // The usual record: kept for the block, written column by column.
                Some(text) if width_ok && self.expected > 0 => {
                    block.push(line, text, &bounds[..=self.expected]);
                    if block.lines.len() == BLOCK_ROWS {
                        self.push_block(&mut block, rows, sink)?;
                    }
                    continue;
                }
                _ => {}
            }
            // Anything else is written at once, after the block before it (rejects stay in
            // line order).
            self.push_block(&mut block, rows, sink)?;
            if self.reject_width(n, extras_empty, raw, line, rows, sink)? {
                continue;
            }
            match whole {
                // A delimiter is ASCII, so never inside a UTF-8 character.
                Some(text) => self.push_text(|i| field(i).map(|r| &text[r]), line, rows, sink)?,
                None => {
                    self.push_decoded(|i| field(i).map(|r| &text[r]), line, rows, sink)?;
                }
            }
        }
        self.push_block(&mut block, rows, sink)
    }

    /// Writes the records of `block` and empties it.
    fn push_block(
        &self,
        block: &mut Block<'_>,
        rows: &mut RowWriter<'_>,
        sink: &mut ChunkOut,
    ) -> Result<(), ExtractError> {
        if block.lines.is_empty() {
            return Ok(());
        }
        let stride = self.expected + 1;
        let slots = &self.layout.slots;
        let b = &*block;
        rows.push_rows(
            sink,
            b.lines.len(),
            |r| b.lines[r].0,
            |i| match &slots[i] {
                Slot::Field(idx) if *idx < self.expected => CellSource::Field(*idx),
                Slot::Const(v) => CellSource::Const(v),
                _ => CellSource::Null,
            },
            |r, idx| {
                let at = r * stride + idx;
                &b.lines[r].1[b.bounds[at] as usize..b.bounds[at + 1] as usize - 1]
            },
        )?;
        block.lines.clear();
        block.bounds.clear();
        Ok(())
    }

    /// The records of a chunk with quotes, as the `csv` crate reads them (records.rs).
    pub(super) fn parse_records(
        &self,
        bytes: &[u8],
        lines_before: u64,
        rows: &mut RowWriter<'_>,
        sink: &mut ChunkOut,
    ) -> Result<(), ExtractError> {
        let d = &self.spec.csv;
        let offset = lines_before + self.skipped;
        // Past the header's width, enough fields kept to show a record rejected as too wide
        // as it was (the quote-free path shows its line); the rest only counted.
        let mut reader = Records::new(
            d.delimiter,
            d.quote,
            bytes,
            self.keep().saturating_add(4096),
        );
        let mut record = Record::default();
        let mut lines = RecordLines::default();
        while reader.next(&mut record) {
            let line = lines.line(bytes, record.start) + offset;
            let kept = record.kept();
            let extras_empty = || {
                let expected = self.expected.min(kept);
                (expected..kept).all(|i| record.get(i).is_some_and(<[u8]>::is_empty))
                    && !record.more_not_empty
            };
            let raw = || {
                let sep = (d.delimiter as char).to_string();
                let mut raw = record
                    .iter()
                    .map(String::from_utf8_lossy)
                    .collect::<Vec<_>>()
                    .join(&sep);
                if record.fields > kept {
                    raw += &format!("{sep}… ({} more fields)", record.fields - kept);
                }
                raw
            };
            if self.reject_width(record.fields, extras_empty, raw, line, rows, sink)? {
                continue;
            }
            if !self.layout.pivots.is_empty() {
                // Unpivot: every field decoded once, then one row per year column.
                let mut fields = Vec::with_capacity(kept);
                for f in record.iter() {
                    match decode(d.encoding, f) {
                        Ok(t) => fields.push(t),
                        Err(e) => {
                            rows.count_read();
                            let raw = String::from_utf8_lossy(f).into_owned();
                            rows.reject(sink, line, None, Some(&raw), e)?;
                            break;
                        }
                    }
                }
                if fields.len() == kept {
                    self.layout
                        .emit(rows, sink, line, |i| fields.get(i).cloned())?;
                }
                continue;
            }
            // ASCII records (in any encoding: every record of an ASCII file, most of a
            // windows-1252 one) and valid records of a UTF-8 file: the text checked once, each
            // field a slice of it. The others, and a record of a UTF-8 file whose field
            // boundary falls inside a character, are decoded field by field.
            let bytes = record.kept_bytes();
            let ascii = bytes.is_ascii();
            let whole = if ascii || d.encoding == Encoding::Utf8 {
                std::str::from_utf8(bytes).ok()
            } else {
                None
            };
            let field = |i| whole.and_then(|t| record.range(i).and_then(|r| t.get(r)));
            match whole {
                Some(_) if ascii || (0..kept).all(|i| field(i).is_some()) => {
                    self.push_text(field, line, rows, sink)?
                }
                _ => self.push_decoded(|i| record.get(i), line, rows, sink)?,
            }
        }
        Ok(())
    }

    /// How many fields of a record are stored: the header's width (those past it are only
    /// counted, and whether one is not empty noted), or all when no width is known.
    fn keep(&self) -> usize {
        if self.expected == 0 {
            usize::MAX
        } else {
            self.expected
        }
    }

    /// Rejects a record of `n` fields when the header has another count (`Ok(true)`); a
    /// trailing separator (empty extra fields, `extras_empty`, asked only then) is tolerated.
    fn reject_width(
        &self,
        n: usize,
        extras_empty: impl FnOnce() -> bool,
        raw: impl FnOnce() -> String,
        line: u64,
        rows: &mut RowWriter<'_>,
        sink: &mut ChunkOut,
    ) -> Result<bool, ExtractError> {
        let expected = self.expected;
        if expected == 0 || n == expected || (n > expected && extras_empty()) {
            return Ok(false);
        }
        rows.count_read();
        let reason = format!("the record has {n} fields, the header has {expected}");
        rows.reject(sink, line, None, Some(&raw()), reason)?;
        Ok(true)
    }

    /// A record whose text is valid as a whole: its fields borrowed, in declared order.
    fn push_text<'t>(
        &self,
        field: impl Fn(usize) -> Option<&'t str>,
        line: u64,
        rows: &mut RowWriter<'_>,
        sink: &mut ChunkOut,
    ) -> Result<(), ExtractError> {
        let raws = self.layout.slots.iter().map(|s| match s {
            Slot::Const(v) => Some(Cow::Borrowed(v.as_str())),
            Slot::Field(idx) => field(*idx).map(Cow::Borrowed),
            _ => None,
        });
        rows.push_cells(sink, line, raws)
    }

    /// A record with bytes outside ASCII (not valid UTF-8, for a UTF-8 file): each field
    /// decoded from the file's encoding, the first that cannot be rejects the record.
    fn push_decoded<'r>(
        &self,
        field: impl Fn(usize) -> Option<&'r [u8]>,
        line: u64,
        rows: &mut RowWriter<'_>,
        sink: &mut ChunkOut,
    ) -> Result<(), ExtractError> {
        let enc = self.spec.csv.encoding;
        let mut raws: Vec<Option<Cow<'_, str>>> = Vec::with_capacity(self.layout.slots.len());
        for (i, s) in self.layout.slots.iter().enumerate() {
            match s {
                Slot::Const(v) => raws.push(Some(Cow::Borrowed(v.as_str()))),
                Slot::UnpivotName | Slot::UnpivotValue | Slot::UnpivotFlag => raws.push(None),
                Slot::Field(idx) => match field(*idx) {
                    None => raws.push(None),
                    Some(bytes) => match decode(enc, bytes) {
                        Ok(t) => raws.push(Some(t)),
                        Err(e) => {
                            rows.count_read();
                            let raw = String::from_utf8_lossy(bytes).into_owned();
                            return rows.reject(sink, line, Some(i), Some(&raw), e);
                        }
                    },
                },
            }
        }
        rows.push(sink, line, &raws)
    }
}
