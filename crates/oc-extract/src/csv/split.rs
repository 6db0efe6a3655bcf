//! Quote-free chunks (every DGFiP and OFGL export) split on line feeds and delimiters found
//! eight bytes per step, fields borrowed from the chunk.

/// The lines of a quote-free chunk and the positions of their delimiters: one bit mask per 64
/// bytes ([`split_mask`]), then one step per delimiter or line feed (`memchr` per field was no
/// faster than `csv_core`: it restarts its search every 5 bytes).
pub(super) struct Lines<'a> {
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
    pub(super) fn new(bytes: &'a [u8], delimiter: u8) -> Self {
        Self {
            bytes,
            delimiter,
            start: 0,
            next_block: 0,
            mask: 0,
        }
    }

    /// The next line without its line break (`\r\n` or `\n`), and in `bounds` the start of
    /// each of its first `keep` fields plus one past the end of the last one kept: field `i`
    /// is `line[bounds[i]..bounds[i + 1] - 1]`. The fields past `keep` are only counted, and
    /// whether one of them is not empty said: a 64 MiB line of bare delimiters would
    /// otherwise store 64 Mi bounds (512 MiB) to learn that its record is too wide.
    pub(super) fn next_line(&mut self, bounds: &mut Vec<usize>, keep: usize) -> Option<Line<'a>> {
        let bytes = self.bytes;
        if self.start >= bytes.len() {
            return None;
        }
        bounds.clear();
        bounds.push(0);
        let mut line = Line {
            text: &[],
            fields: 0,
            more_not_empty: false,
        };
        // The previous bound, kept or not.
        let mut last = 0;
        let mut bound = |line: &mut Line<'a>, b: usize| {
            if line.fields < keep {
                bounds.push(b);
            } else if b - 1 != last {
                line.more_not_empty = true;
            }
            line.fields += 1;
            last = b;
        };
        loop {
            while self.mask == 0 {
                if self.next_block >= bytes.len() {
                    // The last line, without a final line break.
                    line.text = &bytes[self.start..];
                    self.start = bytes.len();
                    let end = line.text.len() + 1;
                    bound(&mut line, end);
                    return Some(line);
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
                line.text = text;
                bound(&mut line, text.len() + 1);
                return Some(line);
            }
            bound(&mut line, pos - self.start + 1);
        }
    }
}

/// A line of [`Lines::next_line`].
pub(super) struct Line<'a> {
    pub(super) text: &'a [u8],
    /// How many fields it has, kept or not.
    pub(super) fields: usize,
    /// Whether a field past those kept is not empty.
    pub(super) more_not_empty: bool,
}

/// Bit `j` set when `block[j]` (at most 64 bytes) is the delimiter or a line feed. Eight bytes
/// are compared at once as a 64-bit word (a per-byte loop compiled to two bytes a step).
pub(super) fn split_mask(block: &[u8], delimiter: u8) -> u64 {
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

/// Whether `bytes` splits on line feeds and delimiters alone: no quote character (it would
/// change what a delimiter or a line break means) and no carriage return other than before a
/// line feed (a lone `\r` ends a record for `csv`). Bulk exports (DGFiP, OFGL) never quote.
pub(super) fn quote_free(d: &crate::spec::CsvDialect, bytes: &[u8]) -> bool {
    !matches!(d.delimiter, b'\n' | b'\r')
        && d.quote.is_none_or(|q| memchr::memchr(q, bytes).is_none())
        && memchr::memchr_iter(b'\r', bytes).all(|i| bytes.get(i + 1) == Some(&b'\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each line's kept fields as text, its field count and whether a field past those kept
    /// is not empty; and the most bounds ever stored.
    fn lines(bytes: &[u8], keep: usize) -> (Vec<(Vec<String>, usize, bool)>, usize) {
        let (mut out, mut most) = (vec![], 0);
        let mut bounds = vec![];
        let mut lines = Lines::new(bytes, b';');
        while let Some(l) = lines.next_line(&mut bounds, keep) {
            most = most.max(bounds.len());
            let kept = (0..bounds.len() - 1)
                .map(|i| String::from_utf8_lossy(&l.text[bounds[i]..bounds[i + 1] - 1]).into())
                .collect();
            out.push((kept, l.fields, l.more_not_empty));
        }
        (out, most)
    }

    #[test]
    fn fields_past_those_kept_are_counted_not_stored() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        // A 1 MiB line of bare delimiters between two records, CRLF, no final line break.
        let mut bytes = b"a;b;c\r\n".to_vec();
        bytes.extend(std::iter::repeat_n(b';', 1 << 20));
        bytes.extend(b"\nd;;e;;x;\nf;g");
        let (out, most) = lines(&bytes, 3);
        assert_eq!(
            out,
            [
                (s(&["a", "b", "c"]), 3, false),
                (s(&["", "", ""]), (1 << 20) + 1, false),
                (s(&["d", "", "e"]), 6, true),
                (s(&["f", "g"]), 2, false),
            ]
        );
        assert_eq!(most, 4);
        // Everything kept: the same fields, none past them.
        let (all, most) = lines(b"d;;e;;x;\n;\n", usize::MAX);
        assert_eq!(
            all,
            [
                (s(&["d", "", "e", "", "x", ""]), 6, false),
                (s(&["", ""]), 2, false)
            ]
        );
        assert_eq!(most, 7);
        // A field past those kept that is empty but for the last one.
        assert_eq!(lines(b"a;b;;;z\n", 2).0, [(s(&["a", "b"]), 5, true)]);
    }
}
