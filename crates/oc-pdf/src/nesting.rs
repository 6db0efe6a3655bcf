//! How deep a page's content stream nests arrays and dictionaries, checked before pdf_oxide
//! parses it.
//!
//! pdf_oxide's object parser recurses once per `[` or `<<`, with no limit. A content stream
//! of 100,000 `[` (100 KB, a few hundred bytes once compressed) overflows even the 64 MiB
//! stack the reader thread gets, and a stack overflow aborts the whole process: there is no
//! panic to catch (found while patching pdf_oxide, patches/README.md). Real content streams
//! nest a few levels (a `TJ` array, a marked-content dictionary).
//!
//! The count is conservative: it may see more nesting than the parser would, never less.
//! Closed literal strings and comments are skipped, as the parser skips them; once a string
//! is found that never closes, later `(` are counted through, because the parser, failing on
//! such a string, retries from the next byte and may read the brackets inside it.

/// Deeper than this, a page is refused. pdf_oxide survives about 80,000 levels on the reader
/// thread's stack; real pages use fewer than ten.
pub const MAX_DEPTH: usize = 1_000;

/// Whether `content` nests `[` and `<<` more than `max` levels deep.
pub fn nests_deeper_than(content: &[u8], max: usize) -> bool {
    let (mut depth, mut i) = (0usize, 0usize);
    // Set once a literal string runs to the end: from then on strings are not skipped.
    let mut unclosed_seen = false;
    while i < content.len() {
        match content[i] {
            b'%' => {
                while i < content.len() && content[i] != b'\n' && content[i] != b'\r' {
                    i += 1;
                }
            }
            b'(' if !unclosed_seen => match string_end(content, i) {
                Some(end) => i = end,
                None => unclosed_seen = true,
            },
            b'[' => depth += 1,
            b']' => depth = depth.saturating_sub(1),
            b'<' if content.get(i + 1) == Some(&b'<') => {
                depth += 1;
                i += 1;
            }
            b'>' if content.get(i + 1) == Some(&b'>') => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            _ => {}
        }
        if depth > max {
            return true;
        }
        i += 1;
    }
    false
}

/// The index of the `)` that closes the literal string opening at `start`, or None when it
/// never closes: a backslash escapes the next byte, unescaped parentheses nest.
fn string_end(content: &[u8], start: usize) -> Option<usize> {
    let (mut open, mut i) = (0usize, start);
    while i < content.len() {
        match content[i] {
            b'\\' => i += 1,
            b'(' => open += 1,
            b')' => {
                open -= 1;
                if open == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_content_is_shallow() {
        let page = b"BT /F1 10 Tf 50 800 Td [(Commune) -250 (Montant)] TJ ET \
                     /Span <</MCID 3 /Alt (x [y)>> BDC [1 2] 0 d EMC";
        assert!(!nests_deeper_than(page, 2));
        // The array inside the dictionary is the deepest: two levels.
        assert!(nests_deeper_than(b"<</A [1]>>", 1));
    }

    #[test]
    fn brackets_in_closed_strings_and_comments_do_not_count() {
        let mut page = b"BT (".to_vec();
        page.extend(b"[".repeat(5_000));
        page.extend(b") Tj % ");
        page.extend(b"<<".repeat(5_000));
        page.extend(b"\n(a \\) \\( (b) [) Tj ET");
        assert!(!nests_deeper_than(&page, MAX_DEPTH));
    }

    #[test]
    fn deep_arrays_and_dictionaries_are_found() {
        let arrays = b"BT "
            .iter()
            .chain(b"[".repeat(100_000).iter())
            .copied()
            .collect::<Vec<_>>();
        assert!(nests_deeper_than(&arrays, MAX_DEPTH));
        assert!(nests_deeper_than(&b"<<".repeat(MAX_DEPTH + 1), MAX_DEPTH));
        assert!(!nests_deeper_than(&b"<<".repeat(MAX_DEPTH), MAX_DEPTH));
        // Closing brackets bring the depth back.
        assert!(!nests_deeper_than(&b"[]".repeat(100_000), MAX_DEPTH));
    }

    #[test]
    fn brackets_after_an_unclosed_string_count() {
        // The parser retries after the unclosed `(` and reads the brackets as arrays.
        let mut page = b"BT (a".to_vec();
        page.extend(b"[".repeat(2_000));
        assert!(nests_deeper_than(&page, MAX_DEPTH));
        // And it stays linear: 200 KB of `(a` (quadratic in pdf_oxide before its patch).
        let page = b"(a".repeat(100_000);
        assert!(!nests_deeper_than(&page, MAX_DEPTH));
    }
}
