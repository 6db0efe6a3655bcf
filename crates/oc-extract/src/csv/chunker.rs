//! Cutting a stream into chunks at record boundaries, quote-aware, and counting their lines.

use std::io::BufRead;

/// Chunks of about this many bytes are parsed by one worker each (~28,000 DGFiP rows).
#[cfg(not(test))]
const CHUNK_BYTES: usize = 4 << 20;
/// Tiny chunks in tests: every test crosses chunk boundaries and records longer than a chunk.
#[cfg(test)]
const CHUNK_BYTES: usize = 16;

/// A record longer than this is the file's error: it is a quote that never closes, or not
/// delimited text. Without a bound the chunk would grow to the end of the file, gigabytes
/// for a bulk export with one stray quote.
pub(super) const MAX_RECORD_BYTES: usize = crate::record_bound::MAX_RECORD_BYTES as usize;

/// Line breaks in `bytes`, as an editor counts them: `\n`, `\r\n` and a lone `\r` (files
/// saved with classic Mac line ends; the `csv` crate ends records there too, but numbers lines
/// by `\n` only). Chunks end after a `\n`, after a `\r` whose next byte is known not to be a
/// `\n`, or at the end of the file, so a `\r\n` is never split between two chunks.
pub(super) fn count_lines(bytes: &[u8]) -> u64 {
    // memchr counts with SIMD; the plain filter compiled to 4 bytes a step (3 % of an ingest).
    let feeds = memchr::memchr_iter(b'\n', bytes).count();
    let lone_returns = memchr::memchr_iter(b'\r', bytes)
        .filter(|&i| bytes.get(i + 1) != Some(&b'\n'))
        .count();
    (feeds + lone_returns) as u64
}

/// Cuts a stream into chunks that end after a record's line break, following the `csv` crate's
/// quoting rules (a quote opens a quoted field only at the start of a field; `""` inside one
/// is a literal quote) so that a line break inside quotes is never a cut.
pub(super) struct Chunker<'a> {
    input: &'a mut dyn BufRead,
    quote: Option<u8>,
    delimiter: u8,
    carry: Vec<u8>,
    eof: bool,
}

impl<'a> Chunker<'a> {
    pub(super) fn new(input: &'a mut dyn BufRead, quote: Option<u8>, delimiter: u8) -> Self {
        Self {
            input,
            quote,
            delimiter,
            carry: Vec::new(),
            eof: false,
        }
    }

    /// The next chunk, or an `InvalidData` error when no record ends within
    /// [`MAX_RECORD_BYTES`] (the chunk starts at a record's start).
    pub(super) fn next_chunk(&mut self) -> std::io::Result<Option<Vec<u8>>> {
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
            // One record longer than the chunk: read on, up to the bound.
            if buf.len() >= MAX_RECORD_BYTES {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "no record ends within {} from here: a quote that never closes \
                         (check csv.quote), or not a delimited text file",
                        crate::record_bound::record_bound()
                    ),
                ));
            }
            target = (buf.len() * 2).min(MAX_RECORD_BYTES);
        }
    }
}

/// The offset just after the last line break that ends a record (outside quotes), if any:
/// a `\n`, or a lone `\r` (classic Mac line ends, which the `csv` crate ends records at too)
/// when the next byte is in `buf` and shows it is not a `\r\n`.
pub(super) fn last_record_end(buf: &[u8], quote: Option<u8>, delimiter: u8) -> Option<usize> {
    let lone_return = |i: usize| buf.get(i + 1).is_some_and(|&b| b != b'\n');
    let Some(q) = quote.filter(|q| buf.contains(q)) else {
        return buf
            .iter()
            .enumerate()
            .rposition(|(i, &b)| b == b'\n' || (b == b'\r' && lone_return(i)))
            .map(|i| i + 1);
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
                if b == b'\n' || (b == b'\r' && lone_return(i)) {
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
