//! The dialect of a CSV file (encoding, delimiter, title lines above the header) from its
//! first bytes. No IO.

use oc_spec::Encoding;

/// The CSV dialect read from a file's first bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Dialect {
    pub encoding: Encoding,
    pub delimiter: u8,
    /// Lines above the header with fewer fields than it (a title, a blank line): skipped.
    pub title_lines: usize,
    /// Why each choice was made, for the pipeline's comments.
    pub notes: Vec<String>,
}

/// Encoding and delimiter from the head of a file (BOM excluded by the caller or not).
pub fn sniff(head: &[u8]) -> Dialect {
    let mut notes = Vec::new();
    // A head cut in the middle of a UTF-8 sequence is still UTF-8.
    let valid_up_to = match std::str::from_utf8(head) {
        Ok(_) => head.len(),
        Err(e) => e.valid_up_to(),
    };
    let encoding = if head.len() - valid_up_to < 4 && valid_up_to > 0 || head.is_ascii() {
        Encoding::Utf8
    } else {
        notes.push(format!(
            "encoding: not UTF-8 (byte 0x{:02X}); windows-1252 also reads ISO-8859-1 text",
            head[valid_up_to]
        ));
        Encoding::Windows1252
    };
    // The delimiter that splits the first lines into the same number of fields, the most.
    let text = String::from_utf8_lossy(head);
    let lines: Vec<&str> = text.lines().take(20).collect();
    let lines = if text.ends_with('\n') || lines.len() < 2 {
        &lines[..]
    } else {
        // the last line may be cut
        &lines[..lines.len() - 1]
    };
    // (delimiter, fields, steady, title lines): the delimiter whose lines, after a few title
    // lines with fewer fields, all have the same count; a steady count beats a larger unsteady
    // one (commas inside quoted decimals), fewer title lines beat more.
    let mut best = (b',', 0usize, false, 0usize);
    for d in [b';', b'\t', b',', b'|'] {
        let counts: Vec<usize> = lines.iter().map(|l| fields(l, d)).collect();
        let steady_from = (0..counts.len().min(10)).find(|&s| {
            counts[s] > 0
                && counts[s..].iter().all(|c| *c == counts[s])
                && counts[..s].iter().all(|c| *c < counts[s])
        });
        let candidate = match steady_from {
            Some(s) => (d, counts[s], true, s),
            None => (d, counts.first().copied().unwrap_or(0), false, 0),
        };
        let better = match (candidate.2, best.2) {
            (true, false) => true,
            (false, true) => false,
            (true, true) => {
                (candidate.3, std::cmp::Reverse(candidate.1)) < (best.3, std::cmp::Reverse(best.1))
            }
            (false, false) => candidate.1 > best.1,
        };
        if candidate.1 > 0 && (best.1 == 0 || better) {
            best = candidate;
        }
    }
    if best.1 == 0 {
        notes.push("delimiter: no `;`, tab, `,` or `|` in the first line: one column".into());
    }
    if best.3 > 0 {
        notes.push(format!(
            "the first {} lines have fewer fields than the header: titles, skipped",
            best.3
        ));
    }
    Dialect {
        encoding,
        delimiter: best.0,
        title_lines: best.3,
        notes,
    }
}

/// Delimiters of a line outside double quotes (`"1,5"` is one field).
fn fields(line: &str, d: u8) -> usize {
    let mut quoted = false;
    line.bytes()
        .filter(|b| {
            if *b == b'"' {
                quoted = !quoted;
            }
            *b == d && !quoted
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_lines_above_the_header() {
        let d = sniff(
            b"Populations legales 2013\n\nDEPCOM;REG;PMUN13\n97101;01;57960\n97102;01;5114\n",
        );
        assert_eq!((d.delimiter, d.title_lines), (b';', 2));
        // a header and rows: no title
        let d = sniff(b"a;b\n1;2\n");
        assert_eq!(d.title_lines, 0);
        // more fields on the first line than after: not titles
        let d = sniff(b"a;b;c\n1;2\n3;4\n");
        assert_eq!(d.title_lines, 0);
        // commas inside quoted decimals do not make more fields (ASPIC's export)
        let d = sniff(b"reg,TCAM,nom\n84,\"0,104\",Ain\n84,\"1,4\",Aisne\n");
        assert_eq!((d.delimiter, d.title_lines), (b',', 0));
    }

    #[test]
    fn dialects_of_real_exports() {
        let d = sniff(b"Exercice;Code Insee;Montant\n2024;01001;1,5\n2024;01002;2\n");
        assert_eq!((d.encoding, d.delimiter), (Encoding::Utf8, b';'));
        // commas inside quoted decimals do not make the delimiter
        let d = sniff(b"code,montant\n\"01001\",\"1,5\"\n\"01002\",\"12,25\"\n");
        assert_eq!(d.delimiter, b',');
        let d = sniff(b"ACTUAL\tCOM\tNCCENR\n1\t001\t\x8Cuilly\n");
        assert_eq!((d.encoding, d.delimiter), (Encoding::Windows1252, b'\t'));
    }
}
