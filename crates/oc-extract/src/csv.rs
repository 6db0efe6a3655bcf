//! Delimited text: `;` `,` TAB, quoted fields with separators and line breaks, CRLF, BOM,
//! title lines before the header, windows-1252 / ISO-8859-1 / UTF-8.
//!
//! Records are split on bytes by the `csv` crate, then each needed field is decoded and typed.

use std::borrow::Cow;
use std::io::BufRead;

use oc_spec::Encoding;

use crate::encoding::{UTF8_BOM, decode};
use crate::rows::{Layout, RowWriter, Slot};
use crate::{ExtractError, ReadSpec, Reject, Sink, SourceFile};

pub fn read(
    spec: &ReadSpec,
    file: &SourceFile,
    input: &mut dyn BufRead,
    sink: &mut dyn Sink,
) -> Result<(u64, u64), ExtractError> {
    let d = &spec.csv;
    let name = file.display.as_str();
    let err = |line: Option<u64>, msg: String| ExtractError::new(name, line, msg);

    // A BOM says UTF-8 whatever the pipeline claims.
    let head = input
        .fill_buf()
        .map_err(|e| err(None, format!("cannot read: {e}")))?;
    if head.starts_with(UTF8_BOM) {
        if d.encoding != Encoding::Utf8 {
            return Err(err(Some(1), "the file starts with a UTF-8 byte order mark but the pipeline says another encoding".into())
                .with_hint("set `encoding: utf-8`"));
        }
        input.consume(UTF8_BOM.len());
    }
    let mut skipped = 0u64;
    let mut line_buf = Vec::new();
    while skipped < d.skip_rows {
        line_buf.clear();
        let n = input
            .read_until(b'\n', &mut line_buf)
            .map_err(|e| err(Some(skipped + 1), format!("cannot read: {e}")))?;
        if n == 0 {
            return Err(err(
                None,
                format!("the file has fewer than skip_rows = {} lines", d.skip_rows),
            ));
        }
        skipped += 1;
    }

    // The rest of the input is cut into chunks at record boundaries; chunk 0 starts with the
    // header. Chunks are parsed and typed on worker threads and their rows handed to the sink
    // in file order, so the output does not depend on thread timing.
    let mut chunks = Chunker::new(input, d.quote, d.delimiter);
    let first = chunks
        .next_chunk()
        .map_err(|e| err(Some(skipped + 1), format!("cannot read: {e}")))?
        .unwrap_or_default();
    let mut reader = csv_reader(d, &first);
    let mut record = csv::ByteRecord::new();
    let io = |e: csv::Error, last: u64| {
        let line = e.position().map(|p| p.line() + skipped).unwrap_or(last + 1);
        err(Some(line), format!("cannot read: {e}"))
            .with_hint("the file may be truncated or not delimited text")
    };

    // Header.
    let (headers, header_line) = if d.header {
        if !reader
            .read_byte_record(&mut record)
            .map_err(|e| io(e, skipped))?
        {
            return Err(err(None, "the file is empty: no header line".into())
                .with_hint("check the download, or set `header: false`"));
        }
        let line = record.position().map(|p| p.line()).unwrap_or(1) + skipped;
        let mut hs = Vec::with_capacity(record.len());
        for f in record.iter() {
            let h = decode(d.encoding, f).map_err(|e| err(Some(line), format!("header: {e}")))?;
            hs.push(h.trim().to_string());
        }
        // A header ending with the delimiter has empty trailing names: not columns.
        while hs.last().is_some_and(|h| h.is_empty()) {
            hs.pop();
        }
        (hs, line)
    } else {
        (Vec::new(), skipped)
    };
    // Where the data records of chunk 0 start, and how many lines precede them.
    let (data_start, lines_before) = if d.header {
        let pos = reader.position();
        (pos.byte() as usize, pos.line() - 1)
    } else {
        (0, 0)
    };

    let layout = Layout::resolve(
        spec,
        file,
        d.header.then_some(headers.as_slice()),
        header_line,
    )?;
    // The expected field count: the header's, or without a header the first record's.
    let expected = if d.header {
        headers.len()
    } else {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {
                let n = record.len();
                let line = record.position().map(|p| p.line()).unwrap_or(1) + skipped;
                if let Some(missing) = layout.slots.iter().find_map(|s| match s {
                    Slot::Field(i) if *i >= n => Some(*i),
                    _ => None,
                }) {
                    return Err(err(
                        Some(line),
                        format!(
                            "column_{} is declared but the records have {n} fields",
                            missing + 1
                        ),
                    ));
                }
                n
            }
            Ok(false) => 0,
            Err(e) => return Err(io(e, skipped)),
        }
    };
    drop(reader);

    // Workers count their own rejects without limit; the limit is applied here, in file order.
    let mut worker_spec = spec.clone();
    worker_spec.reject_limit = u64::MAX;
    let ctx = ChunkContext {
        spec: &worker_spec,
        file,
        layout: &layout,
        expected,
        skipped,
    };
    let mut order = Ordered {
        spec,
        file,
        rows_read: 0,
        rows_rejected: 0,
    };
    let first_out = ctx.parse(&first[data_start..], lines_before);
    let mut next_lines = lines_before + count_lines(&first[data_start..]);
    drop(first);
    order.deliver(first_out, sink)?;

    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, MAX_WORKERS);
    let Some(second) = chunks
        .next_chunk()
        .map_err(|e| err(Some(next_lines + skipped + 1), format!("cannot read: {e}")))?
    else {
        return Ok((order.rows_read, order.rows_rejected));
    };
    if workers == 1 {
        let mut chunk = Some(second);
        while let Some(c) = chunk {
            let out = ctx.parse(&c, next_lines);
            next_lines += count_lines(&c);
            order.deliver(out, sink)?;
            chunk = chunks
                .next_chunk()
                .map_err(|e| err(Some(next_lines + skipped + 1), format!("cannot read: {e}")))?;
        }
        return Ok((order.rows_read, order.rows_rejected));
    }

    let (work_tx, work_rx) = std::sync::mpsc::sync_channel::<(usize, Vec<u8>, u64)>(workers);
    let work_rx = std::sync::Mutex::new(work_rx);
    std::thread::scope(|scope| {
        let (done_tx, done_rx) = std::sync::mpsc::channel::<(usize, ChunkOut)>();
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let (work_rx, ctx) = (&work_rx, &ctx);
            scope.spawn(move || {
                loop {
                    let job = work_rx.lock().map(|rx| rx.recv());
                    let Ok(Ok((i, bytes, lines))) = job else {
                        break;
                    };
                    if done_tx.send((i, ctx.parse(&bytes, lines))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        // At most 2 × workers chunks in flight: memory stays bounded whatever the file size.
        let max_in_flight = 2 * workers;
        let mut pending = std::collections::BTreeMap::new();
        let (mut sent, mut delivered) = (0usize, 0usize);
        let mut chunk = Some(second);
        let result = loop {
            while let Some(c) = chunk.take() {
                if sent - delivered >= max_in_flight {
                    chunk = Some(c);
                    break;
                }
                let lines = next_lines;
                next_lines += count_lines(&c);
                if work_tx.send((sent, c, lines)).is_err() {
                    break;
                }
                sent += 1;
                match chunks.next_chunk() {
                    Ok(c) => chunk = c,
                    Err(e) => {
                        return Err(err(
                            Some(next_lines + skipped + 1),
                            format!("cannot read: {e}"),
                        ));
                    }
                }
            }
            if delivered == sent {
                break Ok(());
            }
            let Ok((i, out)) = done_rx.recv() else {
                break Err(err(None, "a parsing thread stopped".into()));
            };
            pending.insert(i, out);
            while let Some(out) = pending.remove(&delivered) {
                delivered += 1;
                order.deliver(out, sink)?;
            }
        };
        drop(work_tx);
        result
    })?;
    Ok((order.rows_read, order.rows_rejected))
}

/// Chunks of about this many bytes are parsed by one worker each (~28,000 DGFiP rows).
#[cfg(not(test))]
const CHUNK_BYTES: usize = 4 << 20;
/// Tiny chunks in tests: every test crosses chunk boundaries and records longer than a chunk.
#[cfg(test)]
const CHUNK_BYTES: usize = 16;
const MAX_WORKERS: usize = 8;

fn csv_reader<'b>(d: &crate::CsvDialect, bytes: &'b [u8]) -> csv::Reader<&'b [u8]> {
    csv::ReaderBuilder::new()
        .delimiter(d.delimiter)
        .quote(d.quote.unwrap_or(b'"'))
        .quoting(d.quote.is_some())
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes)
}

/// `csv` counts lines by `\n`; so does this, to number the records of later chunks.
fn count_lines(bytes: &[u8]) -> u64 {
    // memchr counts with SIMD; the plain filter compiled to 4 bytes a step (3 % of an ingest).
    memchr::memchr_iter(b'\n', bytes).count() as u64
}

/// Cuts a stream into chunks that end after a record's `\n`, following the `csv` crate's
/// quoting rules (a quote opens a quoted field only at the start of a field; `""` inside one
/// is a literal quote) so that a line break inside quotes is never a cut.
struct Chunker<'a> {
    input: &'a mut dyn BufRead,
    quote: Option<u8>,
    delimiter: u8,
    carry: Vec<u8>,
    eof: bool,
}

impl<'a> Chunker<'a> {
    fn new(input: &'a mut dyn BufRead, quote: Option<u8>, delimiter: u8) -> Self {
        Self {
            input,
            quote,
            delimiter,
            carry: Vec::new(),
            eof: false,
        }
    }

    fn next_chunk(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let mut buf = std::mem::take(&mut self.carry);
        let mut target = CHUNK_BYTES;
        loop {
            buf.reserve(target.saturating_sub(buf.len()));
            while buf.len() < target && !self.eof {
                let avail = self.input.fill_buf()?;
                if avail.is_empty() {
                    self.eof = true;
                    break;
                }
                let n = avail.len().min(target - buf.len());
                buf.extend_from_slice(&avail[..n]);
                self.input.consume(n);
            }
            if self.eof {
                return Ok((!buf.is_empty()).then_some(buf));
            }
            if let Some(end) = last_record_end(&buf, self.quote, self.delimiter) {
                self.carry = buf[end..].to_vec();
                buf.truncate(end);
                return Ok(Some(buf));
            }
            // One record longer than the chunk (or lines ending in a lone CR): read on.
            target = buf.len() * 2;
        }
    }
}

/// The offset just after the last `\n` that ends a record (outside quotes), if any.
fn last_record_end(buf: &[u8], quote: Option<u8>, delimiter: u8) -> Option<usize> {
    let Some(q) = quote.filter(|q| buf.contains(q)) else {
        return buf.iter().rposition(|&b| b == b'\n').map(|i| i + 1);
    };
    enum S {
        Start,
        Field,
        Quoted,
        QuoteInQuoted,
    }
    let mut s = S::Start;
    let mut last = None;
    for (i, &b) in buf.iter().enumerate() {
        s = match s {
            S::Quoted if b == q => S::QuoteInQuoted,
            S::Quoted => S::Quoted,
            S::QuoteInQuoted if b == q => S::Quoted,
            S::Start if b == q => S::Quoted,
            // Outside quotes (a quote inside an unquoted field is a plain byte).
            S::Start | S::Field | S::QuoteInQuoted => {
                if b == b'\n' {
                    last = Some(i + 1);
                    S::Start
                } else if b == b'\r' || b == delimiter {
                    S::Start
                } else {
                    S::Field
                }
            }
        };
    }
    last
}

/// The lines of a quote-free chunk and the positions of their delimiters: one bit mask per 64
/// bytes ([`split_mask`]), then one step per delimiter or line feed (`memchr` per field was no
/// faster than `csv_core`: it restarts its search every 5 bytes).
struct Lines<'a> {
    bytes: &'a [u8],
    delimiter: u8,
    /// Where the current line starts.
    start: usize,
    /// The block after the one `mask` describes.
    next_block: usize,
    /// The delimiters and line feeds of the current block not yet stepped over.
    mask: u64,
}

impl<'a> Lines<'a> {
    fn new(bytes: &'a [u8], delimiter: u8) -> Self {
        Self {
            bytes,
            delimiter,
            start: 0,
            next_block: 0,
            mask: 0,
        }
    }

    /// The next line without its line break (`\r\n` or `\n`), and in `bounds` the start of
    /// each field plus one past the end of the last: field `i` is
    /// `line[bounds[i]..bounds[i + 1] - 1]`.
    fn next_line(&mut self, bounds: &mut Vec<usize>) -> Option<&'a [u8]> {
        let bytes = self.bytes;
        if self.start >= bytes.len() {
            return None;
        }
        bounds.clear();
        bounds.push(0);
        loop {
            while self.mask == 0 {
                if self.next_block >= bytes.len() {
                    // The last line, without a final line break.
                    let text = &bytes[self.start..];
                    self.start = bytes.len();
                    bounds.push(text.len() + 1);
                    return Some(text);
                }
                let end = (self.next_block + 64).min(bytes.len());
                self.mask = split_mask(&bytes[self.next_block..end], self.delimiter);
                self.next_block += 64;
            }
            let pos = self.next_block - 64 + self.mask.trailing_zeros() as usize;
            self.mask &= self.mask - 1;
            if bytes[pos] == b'\n' {
                let mut text = &bytes[self.start..pos];
                self.start = pos + 1;
                if let [rest @ .., b'\r'] = text {
                    text = rest;
                }
                bounds.push(text.len() + 1);
                return Some(text);
            }
            bounds.push(pos - self.start + 1);
        }
    }
}

/// Bit `j` set when `block[j]` (at most 64 bytes) is the delimiter or a line feed. Eight bytes
/// are compared at once as a 64-bit word (a per-byte loop compiled to two bytes a step).
fn split_mask(block: &[u8], delimiter: u8) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const ONES: u64 = 0x0101_0101_0101_0101;
    // The high bit of each zero byte of `v`; exact, as no carry crosses a byte.
    let zero_bytes = |v: u64| !(((v & LOW7) + LOW7) | v | LOW7);
    let (d, n) = (ONES * delimiter as u64, ONES * b'\n' as u64);
    let mut mask = 0;
    let mut words = block.chunks_exact(8);
    for (k, word) in words.by_ref().enumerate() {
        let w = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        let high = zero_bytes(w ^ d) | zero_bytes(w ^ n);
        // Gathers the eight high bits (bytes 0..8) into bits 0..8.
        let bits = ((high >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56;
        mask |= bits << (8 * k);
    }
    let tail = block.len() - words.remainder().len();
    for (j, &b) in words.remainder().iter().enumerate() {
        mask |= ((b == delimiter || b == b'\n') as u64) << (tail + j);
    }
    mask
}

/// The line where a record read by `csv` starts. Its position is where the reader started:
/// before the `\n` of a CRLF record and before the blank lines it then skipped.
fn record_line(bytes: &[u8], p: &csv::Position) -> u64 {
    let from = bytes.get(p.byte() as usize..).unwrap_or_default();
    let breaks = from.iter().take_while(|&&b| matches!(b, b'\r' | b'\n'));
    p.line() + breaks.filter(|&&b| b == b'\n').count() as u64
}

/// Whether `bytes` splits on line feeds and delimiters alone: no quote character (it would
/// change what a delimiter or a line break means) and no carriage return other than before a
/// line feed (a lone `\r` ends a record for `csv`). Bulk exports (DGFiP, OFGL) never quote.
fn quote_free(d: &crate::CsvDialect, bytes: &[u8]) -> bool {
    !matches!(d.delimiter, b'\n' | b'\r')
        && d.quote.is_none_or(|q| memchr::memchr(q, bytes).is_none())
        && memchr::memchr_iter(b'\r', bytes).all(|i| bytes.get(i + 1) == Some(&b'\n'))
}

/// What every chunk's parse needs: the resolved columns and the file's layout.
struct ChunkContext<'a> {
    spec: &'a ReadSpec,
    file: &'a SourceFile,
    layout: &'a Layout,
    /// Fields per record (0: no record at all).
    expected: usize,
    /// Title lines skipped before the chunks (for line numbers).
    skipped: u64,
}

/// One chunk's rows, typed, with its rejects in line order.
#[derive(Default)]
struct ChunkOut {
    batches: Vec<arrow::record_batch::RecordBatch>,
    rejects: Vec<Reject>,
    rows_read: u64,
    rows_rejected: u64,
    error: Option<ExtractError>,
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
    fn parse(&self, bytes: &[u8], lines_before: u64) -> ChunkOut {
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
    fn parse_lines(
        &self,
        bytes: &[u8],
        lines_before: u64,
        rows: &mut RowWriter<'_>,
        sink: &mut ChunkOut,
    ) -> Result<(), ExtractError> {
        let d = &self.spec.csv;
        let mut line = lines_before + self.skipped;
        // Field `i` of the current line is `text[bounds[i]..bounds[i + 1] - 1]`.
        let mut bounds: Vec<usize> = Vec::new();
        let mut lines = Lines::new(bytes, d.delimiter);
        while let Some(text) = lines.next_line(&mut bounds) {
            line += 1;
            if text.is_empty() {
                // `csv` skips blank lines.
                continue;
            }
            let n = bounds.len() - 1;
            let field = |i: usize| (i < n).then(|| bounds[i]..bounds[i + 1] - 1);
            let field_empty = |i: usize| bounds[i + 1] - 1 == bounds[i];
            let raw = || String::from_utf8_lossy(text).into_owned();
            if self.reject_width(n, field_empty, raw, line, rows, sink)? {
                continue;
            }
            let whole = if d.encoding == Encoding::Utf8 || text.is_ascii() {
                std::str::from_utf8(text).ok()
            } else {
                None
            };
            match whole {
                // A delimiter is ASCII, so never inside a UTF-8 character.
                Some(text) => self.push_text(|i| field(i).map(|r| &text[r]), line, rows, sink)?,
                None => {
                    self.push_decoded(|i| field(i).map(|r| &text[r]), line, rows, sink)?;
                }
            }
        }
        Ok(())
    }

    /// The records of a chunk as the `csv` crate reads them (quoted fields).
    fn parse_records(
        &self,
        bytes: &[u8],
        lines_before: u64,
        rows: &mut RowWriter<'_>,
        sink: &mut ChunkOut,
    ) -> Result<(), ExtractError> {
        let d = &self.spec.csv;
        let offset = lines_before + self.skipped;
        let mut reader = csv_reader(d, bytes);
        let mut record = csv::ByteRecord::new();
        // The other buffer of the pair swapped with `record` below (a new ByteRecord per
        // record would be an allocation, and buffers regrown, for every line of the file).
        let mut spare = Some(csv::ByteRecord::new());
        let mut last_line = offset;
        loop {
            match reader.read_byte_record(&mut record) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    let line = e
                        .position()
                        .map(|p| p.line() + offset)
                        .unwrap_or(last_line + 1);
                    return Err(ExtractError::new(
                        &self.file.display,
                        Some(line),
                        format!("cannot read: {e}"),
                    )
                    .with_hint("the file may be truncated or not delimited text"));
                }
            }
            let line = record
                .position()
                .map(|p| record_line(bytes, p))
                .unwrap_or(last_line + 1)
                + offset;
            last_line = line;
            let field_empty = |i: usize| record.get(i).is_some_and(<[u8]>::is_empty);
            let raw = || {
                let sep = (d.delimiter as char).to_string();
                let fields: Vec<_> = record.iter().map(String::from_utf8_lossy).collect();
                fields.join(&sep)
            };
            if self.reject_width(record.len(), field_empty, raw, line, rows, sink)? {
                continue;
            }
            if !self.layout.pivots.is_empty() {
                // Unpivot: every field decoded once, then one row per year column.
                let mut fields = Vec::with_capacity(record.len());
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
                if fields.len() == record.len() {
                    self.layout
                        .emit(rows, sink, line, |i| fields.get(i).cloned())?;
                }
                continue;
            }
            // ASCII records (in any encoding: every record of an ASCII file, most of a
            // windows-1252 one) and valid records of a UTF-8 file become a StringRecord, whose
            // fields are borrowed as text (an ASCII record is checked once, not field by
            // field); the others are decoded field by field.
            let mut full = spare.take().expect("a spare record");
            std::mem::swap(&mut full, &mut record);
            let whole = if d.encoding == Encoding::Utf8 || full.as_slice().is_ascii() {
                csv::StringRecord::from_byte_record(full).map_err(|e| e.into_byte_record())
            } else {
                Err(full)
            };
            match whole {
                Ok(text) => {
                    self.push_text(|i| text.get(i), line, rows, sink)?;
                    spare = Some(text.into_byte_record());
                }
                Err(bytes) => {
                    self.push_decoded(|i| bytes.get(i), line, rows, sink)?;
                    spare = Some(bytes);
                }
            }
        }
        Ok(())
    }

    /// Rejects a record of `n` fields when the header has another count (`Ok(true)`); a
    /// trailing separator (empty extra fields) is tolerated.
    fn reject_width(
        &self,
        n: usize,
        field_empty: impl Fn(usize) -> bool,
        raw: impl FnOnce() -> String,
        line: u64,
        rows: &mut RowWriter<'_>,
        sink: &mut ChunkOut,
    ) -> Result<bool, ExtractError> {
        let expected = self.expected;
        if expected == 0 || n == expected || (n > expected && (expected..n).all(field_empty)) {
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

/// Hands chunk results to the sink in file order and applies the reject limit there, so that
/// a parallel read fails exactly where a sequential one would.
struct Ordered<'a> {
    spec: &'a ReadSpec,
    file: &'a SourceFile,
    rows_read: u64,
    rows_rejected: u64,
}

impl Ordered<'_> {
    fn deliver(&mut self, out: ChunkOut, sink: &mut dyn Sink) -> Result<(), ExtractError> {
        for r in out.rejects {
            self.rows_rejected += 1;
            let line = r.line;
            sink.reject(r)?;
            if self.rows_rejected > self.spec.reject_limit {
                return Err(ExtractError::new(
                    &self.file.display,
                    Some(line),
                    format!("stopped reading after {} rejected rows", self.rows_rejected),
                )
                .with_hint("the file does not match the pipeline: check encoding, delimiter, decimal mark and types"));
            }
        }
        if let Some(e) = out.error {
            return Err(e);
        }
        for b in out.batches {
            sink.batch(b)?;
        }
        self.rows_read += out.rows_read;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{ChunkContext, ChunkOut, Layout, RowWriter, quote_free, split_mask};
    use crate::SourceFile;
    use crate::testutil::{run, spec};

    const DGFIP: &str = r#"
name: finances.b
source:
  path: x.csv
  csv: { delimiter: ";", decimal: ",", thousands: " ", encoding: windows-1252 }
columns:
  exercice: { from: EXER, type: int16 }
  ndept: { from: NDEPT, type: code, width: 3 }
  lbudg: { from: LBUDG }
  compte: { from: COMPTE, type: code }
  sd: { from: SD, type: "decimal(18,2)" }
"#;

    #[test]
    fn windows_1252_semicolons_decimal_comma_nbsp_thousands() {
        let s = spec(DGFIP);
        let data = b"EXER;NDEPT;LBUDG;COMPTE;SD\r\n2024;038;GRENOBLE;1641;96971,23\r\n2024;38;\x8CUILLY;60611;1\xA0234\xA0567,8\r\n";
        let (sink, r) = run(&s, "b.csv", data);
        let stats = r.unwrap();
        assert_eq!(stats.rows_read, 2);
        assert!(sink.rejects.is_empty(), "{:?}", sink.rejects);
        assert_eq!(sink.column("ndept"), vec!["038", "038"]);
        assert_eq!(sink.column("lbudg"), vec!["GRENOBLE", "ŒUILLY"]);
        assert_eq!(sink.column("sd"), vec!["96971.23", "1234567.80"]);
        assert_eq!(sink.column("exercice"), vec!["2024", "2024"]);
    }

    /// One chunk parsed by the quote-free splitter (`fast`) or by the `csv` reader.
    fn parse_chunk(ctx: &ChunkContext<'_>, bytes: &[u8], fast: bool) -> ChunkOut {
        let mut out = ChunkOut::default();
        let mut rows = RowWriter::new(ctx.spec, ctx.file, ctx.layout.labels.clone());
        if fast {
            ctx.parse_lines(bytes, 10, &mut rows, &mut out).unwrap();
        } else {
            ctx.parse_records(bytes, 10, &mut rows, &mut out).unwrap();
        }
        (out.rows_read, out.rows_rejected) = rows.finish(&mut out).unwrap();
        out
    }

    #[test]
    fn quote_free_chunks_split_as_the_csv_reader_does() {
        let s = spec(DGFIP);
        let file = SourceFile {
            path: "b.csv".into(),
            display: "b.csv".into(),
            vars: Default::default(),
        };
        let headers = ["EXER", "NDEPT", "LBUDG", "COMPTE", "SD"].map(String::from);
        let layout = Layout::resolve(&s, &file, Some(&headers), 1).unwrap();
        let ctx = ChunkContext {
            spec: &s,
            file: &file,
            layout: &layout,
            expected: 5,
            skipped: 2,
        };
        // CRLF and LF, blank lines, windows-1252 bytes, too few fields, a bad amount, a
        // trailing delimiter, too many fields, an empty record, no final line break.
        let chunk = b"2024;038;A;1;1,00\r\n\r\n\n2024;38;\x8CUILLY;60611;2,5\n2024;038;C;3\n\
            2024;038;D;4;x\n2024;038;E;5;2,00;\n2024;038;F;6;1,00;;7\n;;;;\n2024;38;G;7;3";
        assert!(quote_free(&s.csv, chunk));
        let (fast, csv) = (
            parse_chunk(&ctx, chunk, true),
            parse_chunk(&ctx, chunk, false),
        );
        assert_eq!(fast.batches, csv.batches);
        assert_eq!(fast.rejects, csv.rejects);
        assert_eq!((fast.rows_read, fast.rows_rejected), (8, 3));
        assert_eq!((csv.rows_read, csv.rows_rejected), (8, 3));
        // Lines counted after the 2 skipped title lines and the 10 lines before the chunk.
        let lines: Vec<u64> = fast.rejects.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![17, 18, 20]);
        assert_eq!(fast.rejects[1].column.as_deref(), Some("SD"));
        assert_eq!(
            fast.rejects[2].value.as_deref(),
            Some("2024;038;F;6;1,00;;7")
        );
        let rows: usize = fast.batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows, 5);

        // Many lines of all lengths, so that fields and line breaks fall everywhere in and
        // across the 64-byte blocks.
        let mut long = Vec::new();
        for i in 0..700usize {
            let label = "SAINT-GERMAIN-AU-MONT-D'OR ".repeat(i % 5);
            let amount = if i % 97 == 0 {
                "n,a".to_string()
            } else {
                format!("{i},{}", i % 100)
            };
            let end = if i % 3 == 0 { "\r\n" } else { "\n" };
            long.extend_from_slice(
                format!("2024;{};{label};6{i};{amount}{end}", i % 120).as_bytes(),
            );
            if i % 50 == 0 {
                long.extend_from_slice(b"\n2024;038;short\n");
            }
        }
        let (fast, csv) = (
            parse_chunk(&ctx, &long, true),
            parse_chunk(&ctx, &long, false),
        );
        assert_eq!(fast.batches, csv.batches);
        assert_eq!(fast.rejects, csv.rejects);
        assert_eq!((fast.rows_read, fast.rows_rejected), (714, 8 + 14));
        // After a CRLF record and a blank line: the line the record is on (`csv` alone says 13).
        assert_eq!((fast.rejects[1].line, csv.rejects[1].line), (15, 15));

        // What the splitter leaves to the `csv` reader.
        assert!(!quote_free(&s.csv, b"2024;\"038\";A\n"));
        assert!(!quote_free(&s.csv, b"2024;038\rA;1\n"));
        assert!(!quote_free(&s.csv, b"2024;038;A\r"));
        let mut unquoted = s.csv.clone();
        unquoted.quote = None;
        assert!(quote_free(&unquoted, b"2024;\"038\";A\r\n"));
    }

    #[test]
    fn split_masks_mark_every_delimiter_and_line_feed() {
        let block: Vec<u8> = (0..64u8)
            .map(|i| [b';', b'\n', b'a', 0x80 | b';', 0, b'\r'][i as usize % 6])
            .collect();
        for len in [0, 1, 7, 8, 9, 63, 64] {
            let want = (0..len).fold(0u64, |m, j| m | ((j % 6 < 2) as u64) << j);
            assert_eq!(split_mask(&block[..len], b';'), want, "{len} bytes");
        }
    }

    #[test]
    fn quoted_fields_keep_separators_and_line_breaks() {
        let s = spec(
            "name: a.b\nsource: { path: x.csv, csv: { delimiter: \",\", decimal: \",\" } }\ncolumns:\n  nom: { from: nom }\n  taux: { from: taux, type: float64 }\n  code: { from: code, type: code }\n",
        );
        let data = "code,nom,taux\n01001,\"L'Abergement, \"\"village\"\"\nsur deux lignes\",\"0,5\"\n2A004,Ajaccio,\"1,25\"\n";
        let (sink, r) = run(&s, "q.csv", data.as_bytes());
        r.unwrap();
        assert_eq!(
            sink.column("nom"),
            vec!["L'Abergement, \"village\"\nsur deux lignes", "Ajaccio"]
        );
        assert_eq!(sink.column("code"), vec!["01001", "2A004"]);
        assert_eq!(sink.column("taux"), vec!["0.5", "1.25"]);
    }

    #[test]
    fn bom_regex_headers_and_tabs() {
        let s = spec(
            "name: a.b\nsource: { path: x.csv, csv: { delimiter: tab } }\ncolumns:\n  code: { from: \"/^Code Insee \\\\d{4} Commune$/\", type: code }\n",
        );
        let (sink, r) = run(
            &s,
            "o.csv",
            "\u{feff}Exercice\tCode Insee 2024 Commune\n2024\t97101\n".as_bytes(),
        );
        r.unwrap();
        assert_eq!(sink.column("code"), vec!["97101"]);
    }

    #[test]
    fn bad_rows_are_rejected_with_line_column_and_value() {
        let s = spec(DGFIP);
        let data = b"EXER;NDEPT;LBUDG;COMPTE;SD\n2024;038;A;1;1,00\n2024;038;B;2;12.5\n2024;038;C;3\n\"2024\";038;\"multi\nline\";4;x\n2024;038;E;5;2,00;\n";
        let (sink, r) = run(&s, "r.csv", data);
        let stats = r.unwrap();
        assert_eq!(stats.rows_read, 5);
        assert_eq!(stats.rows_rejected, 3);
        let rj = &sink.rejects;
        assert_eq!(
            (rj[0].line, rj[0].column.as_deref(), rj[0].value.as_deref()),
            (3, Some("SD"), Some("12.5"))
        );
        assert!(rj[0].reason.contains("decimal mark"), "{}", rj[0].reason);
        assert_eq!(rj[1].line, 4);
        assert!(
            rj[1].reason.contains("4 fields, the header has 5"),
            "{}",
            rj[1].reason
        );
        // A record spanning two lines is reported at the line where it starts.
        assert_eq!((rj[2].line, rj[2].column.as_deref()), (5, Some("SD")));
        // A trailing separator is tolerated.
        assert_eq!(sink.column("lbudg"), vec!["A", "E"]);
    }

    #[test]
    fn missing_column_suggests_the_header() {
        let s = spec(DGFIP);
        let (_, r) = run(&s, "m.csv", b"EXER;NDEP;LBUDG;COMPTE;SD\n");
        let e = r.unwrap_err().to_string();
        assert!(e.starts_with("m.csv:1: no column `NDEPT`"), "{e}");
        assert!(e.contains("did you mean `NDEP`?"), "{e}");
    }

    #[test]
    fn empty_file_and_wrong_encoding_are_clear() {
        let s = spec(DGFIP);
        let e = run(&s, "e.csv", b"").1.unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
        let utf8 = spec(&DGFIP.replace("windows-1252", "utf-8"));
        let (sink, r) = run(
            &utf8,
            "w.csv",
            b"EXER;NDEPT;LBUDG;COMPTE;SD\n2024;038;\x8CUILLY;1;1\n",
        );
        assert_eq!(r.unwrap().rows_rejected, 1);
        assert!(sink.rejects[0].reason.contains("windows-1252"));
        assert_eq!(sink.rejects[0].line, 2);
        assert_eq!(sink.rejects[0].column.as_deref(), Some("LBUDG"));
        // Valid UTF-8 beyond ASCII is read as it is.
        let (sink, r) = run(
            &utf8,
            "u.csv",
            "EXER;NDEPT;LBUDG;COMPTE;SD\n2024;038;ŒUILLY;1;1\n".as_bytes(),
        );
        assert_eq!(r.unwrap().rows_rejected, 0);
        assert_eq!(sink.column("lbudg"), vec!["ŒUILLY"]);
    }

    #[test]
    fn extra_columns_can_be_refused_and_title_lines_skipped() {
        let yaml = "name: a.b\non_extra_columns: error\nsource: { path: x.csv, csv: { skip_rows: 2 } }\ncolumns:\n  a: { from: a }\n";
        let (_, r) = run(&spec(yaml), "x.csv", b"Titre\nUnite: euros\na,b\n1,2\n");
        let e = r.unwrap_err().to_string();
        assert!(
            e.starts_with("x.csv:3: columns not declared in the pipeline: b"),
            "{e}"
        );
        let ok = yaml.replace("on_extra_columns: error", "on_extra_columns: ignore");
        let (sink, r) = run(&spec(&ok), "x.csv", b"Titre\nUnite: euros\na,b\n1,2\n");
        r.unwrap();
        assert_eq!(sink.column("a"), vec!["1"]);
    }

    #[test]
    fn chunked_parallel_reading_keeps_order_lines_and_quotes() {
        let yaml = "name: a.b\nsource: { path: x.csv, csv: { delimiter: \";\" } }\ncolumns:\n  n: { from: N, type: int32 }\n  t: { from: T }\n";
        let mut data = String::from("N;T\n");
        let mut want = Vec::new();
        let mut line = 2;
        let mut bad_lines = Vec::new();
        for i in 0..3000 {
            match i % 7 {
                // A quoted field with the delimiter, a line break and an escaped quote.
                0 => {
                    data.push_str(&format!("{i};\"a;\nb\"\"{i}\"\n"));
                    want.push(format!("a;\nb\"{i}"));
                    line += 2;
                }
                // A quote inside an unquoted field is a plain byte, not an opening quote.
                1 => {
                    data.push_str(&format!("{i};12\" pouces\n"));
                    want.push("12\" pouces".to_string());
                    line += 1;
                }
                2 => {
                    data.push_str(&format!("x{i};bad\n"));
                    bad_lines.push(line);
                    line += 1;
                }
                _ => {
                    data.push_str(&format!("{i};v{i}\r\n"));
                    want.push(format!("v{i}"));
                    line += 1;
                }
            }
        }
        let (sink, r) = run(&spec(yaml), "c.csv", data.as_bytes());
        let stats = r.unwrap();
        assert_eq!(stats.rows_read, 3000);
        assert_eq!(sink.column("t"), want);
        let got: Vec<u64> = sink.rejects.iter().map(|r| r.line).collect();
        assert_eq!(got, bad_lines);
        let n = sink.column("n");
        assert!(
            n.windows(2)
                .all(|w| w[0].parse::<u32>().unwrap() < w[1].parse::<u32>().unwrap())
        );
    }

    #[test]
    fn record_ends_follow_the_csv_quoting_rules() {
        use super::last_record_end;
        assert_eq!(last_record_end(b"a;b\nc;d\ne", Some(b'"'), b';'), Some(8));
        assert_eq!(
            last_record_end(b"a;\"b\nc\";d\ne", Some(b'"'), b';'),
            Some(10)
        );
        assert_eq!(last_record_end(b"a;\"b\nc", Some(b'"'), b';'), None);
        assert_eq!(last_record_end(b"a;b\"\nc", Some(b'"'), b';'), Some(5));
        assert_eq!(last_record_end(b"\"a\"\"\n\"\n", Some(b'"'), b';'), Some(7));
        assert_eq!(last_record_end(b"a;\"b\nc", None, b';'), Some(5));
    }

    #[test]
    fn vars_become_columns() {
        let yaml = "name: a.b\nsource: { path: x.csv, vars: { exercice: [2024] } }\ncolumns:\n  exercice: { var: exercice, type: int16 }\n  a: { from: a }\n";
        let (sink, r) = run(&spec(yaml), "x.csv", b"a\nz\n");
        r.unwrap();
        assert_eq!(sink.column("exercice"), vec!["2024"]);
    }

    #[test]
    fn trailing_delimiters_headerless_files_and_custom_nulls() {
        // A header ending with `;` does not make every row one field short.
        let yaml = "name: a.b\nsource: { path: x.csv, csv: { delimiter: \";\", null_values: [\"///\"] } }\ncolumns:\n  a: { from: A }\n  n: { from: N, type: int32 }\n";
        let (sink, r) = run(&spec(yaml), "t.csv", b"A;N;\nx;///\ny;\nz;1;2\n");
        let stats = r.unwrap();
        assert_eq!((stats.rows_read, stats.rows_rejected), (3, 1));
        assert_eq!(sink.column("n"), vec!["", ""]);
        // The raw record keeps its delimiters in the reject.
        assert_eq!(sink.rejects[0].value.as_deref(), Some("z;1;2"));

        let yaml = "name: a.b\nsource: { path: x.csv, csv: { header: false } }\ncolumns:\n  a: { from: column_2 }\n";
        let (sink, r) = run(&spec(yaml), "h.csv", b"1,2\n3\n");
        assert_eq!(r.unwrap().rows_rejected, 1);
        assert_eq!(sink.column("a"), vec!["2"]);
        let yaml = "name: a.b\nsource: { path: x.csv, csv: { header: false } }\ncolumns:\n  a: { from: column_5 }\n";
        let e = run(&spec(yaml), "h.csv", b"1,2\n")
            .1
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("column_5 is declared but the records have 2 fields"),
            "{e}"
        );
    }
}
