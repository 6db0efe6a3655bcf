//! One record's text at most, for every reader that cuts its input into records (a CSV
//! record, an NDJSON line, an element or a key of a JSON document) and for what may hold one
//! (a workbook's cell): a file that is one huge record, maybe unpacked from a small `.gz`, is
//! the file's error rather than the file in memory (a parsed record takes several times its
//! text). DuckDB's `max_line_size` is 2 MB.

use std::io::{BufRead, Read};

#[cfg(not(test))]
pub(crate) const MAX_RECORD_BYTES: u64 = 64 << 20;
#[cfg(test)]
pub(crate) const MAX_RECORD_BYTES: u64 = 4096;

/// The bound as users read it: "64 MiB" (bytes under a MiB, in tests).
pub(crate) fn record_bound() -> String {
    match MAX_RECORD_BYTES >> 20 {
        0 => format!("{MAX_RECORD_BYTES} bytes"),
        mib => format!("{mib} MiB"),
    }
}

/// One line into `line` (its end included), at most the bound of it: the bytes read (0 at
/// the end of the input), and whether the line went on past the bound.
pub(crate) fn read_line(
    input: &mut dyn BufRead,
    line: &mut Vec<u8>,
) -> std::io::Result<(usize, bool)> {
    let read = input.take(MAX_RECORD_BYTES + 1).read_until(b'\n', line)?;
    Ok((read, read as u64 > MAX_RECORD_BYTES))
}
