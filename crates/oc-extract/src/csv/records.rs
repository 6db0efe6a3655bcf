//! The records of a chunk with quotes, read with `csv_core` (the `csv` crate's own parser)
//! into buffers of our own. The `csv` crate's `ByteRecord` stores the end of every field, 8
//! bytes each, so a 60 MiB line of bare delimiters (62 million empty fields, which a record
//! may carry: extra fields are tolerated when empty) took 1.7 GB. As in the quote-free path
//! (split.rs), the fields past the header's width are counted here, not stored.

use csv_core::ReadRecordResult;

use super::chunker::count_lines;

/// Field ends taken at a time past those kept.
const SCRATCH: usize = 256;

/// Reads the records of one chunk, as `csv::Reader::read_byte_record` with the same dialect
/// would (`csv_core` does the parsing for both: quotes, doubled quotes, a BOM, blank lines).
pub(super) struct Records<'a> {
    core: csv_core::Reader,
    bytes: &'a [u8],
    pos: usize,
    /// Fields stored per record; the others are counted.
    keep: usize,
}

/// One record: its first [`Records`]'s `keep` fields, how many it has, whether one past those
/// kept is not empty, and where its reading started in the chunk.
#[derive(Default)]
pub(super) struct Record {
    data: Vec<u8>,
    /// The end of each kept field in `data`, then scratch room for those counted.
    ends: Vec<usize>,
    kept: usize,
    pub(super) fields: usize,
    pub(super) more_not_empty: bool,
    /// The byte of the chunk where reading it started (blank lines before it included), as
    /// `csv`'s `Position::byte`.
    pub(super) start: usize,
}

impl Record {
    /// Field `i`, if kept.
    pub(super) fn get(&self, i: usize) -> Option<&[u8]> {
        self.range(i).map(|r| &self.data[r])
    }

    /// Where field `i` lies in [`Self::kept_bytes`], if kept.
    pub(super) fn range(&self, i: usize) -> Option<std::ops::Range<usize>> {
        if i >= self.kept {
            return None;
        }
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some(start..self.ends[i])
    }

    /// The kept fields.
    pub(super) fn iter(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.kept).filter_map(|i| self.get(i))
    }

    /// How many fields are kept: all of them, or the header's width.
    pub(super) fn kept(&self) -> usize {
        self.kept
    }

    /// The bytes of the kept fields, one after the other.
    pub(super) fn kept_bytes(&self) -> &[u8] {
        &self.data[..self.kept.checked_sub(1).map_or(0, |i| self.ends[i])]
    }
}

impl<'a> Records<'a> {
    /// The dialect's delimiter and quote (none: quotes are text), as the `csv` crate reads
    /// with them.
    pub(super) fn new(delimiter: u8, quote: Option<u8>, bytes: &'a [u8], keep: usize) -> Self {
        let core = csv_core::ReaderBuilder::new()
            .delimiter(delimiter)
            .quote(quote.unwrap_or(b'"'))
            .quoting(quote.is_some())
            .build();
        Self {
            core,
            bytes,
            pos: 0,
            keep,
        }
    }

    /// The byte of the chunk after the last record read (before the `\n` of a CRLF, as
    /// `csv`'s `Position::byte`).
    pub(super) fn pos(&self) -> usize {
        self.pos
    }

    /// Reads the next record into `r`; false at the end of the chunk.
    pub(super) fn next(&mut self, r: &mut Record) -> bool {
        r.start = self.pos;
        if r.data.is_empty() {
            r.data.resize(1024, 0);
        }
        if r.ends.is_empty() {
            r.ends.resize(self.keep.clamp(1, 64), 0);
        }
        let (mut out, mut end) = (0, 0);
        let mut past = Past::default();
        loop {
            let (res, nin, nout, nend) = self.core.read_record(
                &self.bytes[self.pos..],
                &mut r.data[out..],
                &mut r.ends[end..],
            );
            self.pos += nin;
            out += nout;
            end += nend;
            match res {
                // With the rest of the chunk given, the next call (with no input) ends it.
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull => {
                    let n = r.data.len() * 2;
                    r.data.resize(n, 0);
                }
                ReadRecordResult::OutputEndsFull if end < self.keep => {
                    let n = (r.ends.len() * 2).min(self.keep.saturating_add(SCRATCH));
                    r.ends.resize(n.max(end + 1), 0);
                }
                ReadRecordResult::OutputEndsFull => {
                    end = past.count(&r.ends, end, self.keep);
                    if r.ends.len() <= end {
                        r.ends.resize(end + SCRATCH, 0);
                    }
                }
                ReadRecordResult::Record => {
                    end = past.count(&r.ends, end, self.keep);
                    r.kept = end;
                    r.fields = end + past.fields;
                    r.more_not_empty = past.not_empty;
                    return true;
                }
                ReadRecordResult::End => return false,
            }
        }
    }
}

/// Numbers the records read in a chunk by the line they start on, line breaks counted as
/// `count_lines` does (`csv`'s own numbers count `\n` only, and [`Record::start`] is where the
/// reader started: before the `\n` of a CRLF record and the blank lines it then skipped).
/// Counts forward from the previous record, so a chunk is scanned once.
#[derive(Default)]
pub(super) struct RecordLines {
    at: usize,
    breaks: u64,
}

impl RecordLines {
    pub(super) fn line(&mut self, bytes: &[u8], byte: usize) -> u64 {
        let mut start = byte.min(bytes.len());
        while matches!(bytes.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        if start >= self.at {
            self.breaks += count_lines(&bytes[self.at..start]);
            self.at = start;
        }
        self.breaks + 1
    }
}

/// The fields of a record past those kept.
#[derive(Default)]
struct Past {
    fields: usize,
    not_empty: bool,
    /// The end of the last one counted.
    last: Option<usize>,
}

impl Past {
    /// Counts the fields whose ends are `ends[keep..end]`, and returns the end of the kept
    /// fields' room, where the next ends go.
    fn count(&mut self, ends: &[usize], end: usize, keep: usize) -> usize {
        if end <= keep {
            return end;
        }
        let mut previous = self
            .last
            .unwrap_or_else(|| keep.checked_sub(1).map_or(0, |i| ends[i]));
        for &e in &ends[keep..end] {
            self.not_empty |= e != previous;
            previous = e;
        }
        self.fields += end - keep;
        self.last = Some(previous);
        keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each record's kept fields, field count, whether one past those kept is not empty, and
    /// start; and the most field ends ever held.
    #[allow(clippy::type_complexity)]
    fn read(bytes: &[u8], keep: usize) -> (Vec<(Vec<String>, usize, bool, usize)>, usize) {
        let mut records = Records::new(b';', Some(b'"'), bytes, keep);
        let mut r = Record::default();
        let (mut out, mut most) = (vec![], 0);
        while records.next(&mut r) {
            most = most.max(r.ends.len());
            let fields = r
                .iter()
                .map(|f| String::from_utf8_lossy(f).into())
                .collect();
            out.push((fields, r.fields, r.more_not_empty, r.start));
        }
        (out, most)
    }

    #[test]
    fn the_csv_crates_records_with_the_fields_past_those_kept_counted() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        // A BOM, quotes holding the delimiter, a doubled quote and a line break, CRLF, a blank
        // line, then a quoted field before a 1 MiB run of bare delimiters, then a record with
        // a field far past those kept, and no final line break.
        let mut bytes = "\u{feff}a;\"b;\"\"c\"\"\nd\";e\r\n\r\nf;g\n\"h\""
            .as_bytes()
            .to_vec();
        bytes.extend(std::iter::repeat_n(b';', 1 << 20));
        bytes.extend(format!("\ni{}z", ";".repeat(50)).as_bytes());
        let (records, most) = read(&bytes, 2);
        let counts: Vec<_> = records.iter().map(|r| (r.0.clone(), r.1, r.2)).collect();
        assert_eq!(
            counts,
            [
                (s(&["a", "b;\"c\"\nd"]), 3, true),
                (s(&["f", "g"]), 2, false),
                (s(&["h", ""]), (1 << 20) + 1, false),
                (s(&["i", ""]), 51, true),
            ]
        );
        // The 1 MiB record held at most the kept ends and a scratch's worth.
        assert!(most <= 2 + 2 * SCRATCH, "{most}");
        // Everything kept: what the `csv` crate reads, field for field, from the same byte.
        let mut csv = csv::ReaderBuilder::new()
            .delimiter(b';')
            .has_headers(false)
            .flexible(true)
            .from_reader(&bytes[..]);
        let theirs: Vec<(Vec<String>, usize)> = csv
            .byte_records()
            .map(|r| {
                let r = r.unwrap();
                let fields = r
                    .iter()
                    .map(|f| String::from_utf8_lossy(f).into())
                    .collect();
                (fields, r.position().unwrap().byte() as usize)
            })
            .collect();
        let ours: Vec<(Vec<String>, usize)> = read(&bytes, usize::MAX)
            .0
            .into_iter()
            .map(|r| (r.0, r.3))
            .collect();
        assert_eq!(ours, theirs);
        let starts =
            |v: &[(Vec<String>, usize, bool, usize)]| v.iter().map(|r| r.3).collect::<Vec<_>>();
        assert_eq!(starts(&records), starts(&read(&bytes, usize::MAX).0));
        // No record in a chunk of blank lines, nor in an empty one.
        assert!(read(b"\r\n\n\n", 3).0.is_empty());
        assert!(read(b"", 3).0.is_empty());
    }
}
