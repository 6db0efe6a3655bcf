//! The dialect of a CSV file (encoding, delimiter) from its first bytes. No IO.

use oc_spec::Encoding;

/// The CSV dialect read from a file's first bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Dialect {
    pub encoding: Encoding,
    pub delimiter: u8,
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
    let mut best = (b',', 0usize, false);
    for d in [b';', b'\t', b',', b'|'] {
        let counts: Vec<usize> = lines
            .iter()
            .map(|l| l.bytes().filter(|b| *b == d).count())
            .collect();
        let first = counts.first().copied().unwrap_or(0);
        let steady = counts.iter().all(|c| *c == first);
        // a steady count beats a larger unsteady one (commas inside quoted decimals)
        if first > 0 && ((steady && !best.2) || (steady == best.2 && first > best.1)) {
            best = (d, first, steady);
        }
    }
    if best.1 == 0 {
        notes.push("delimiter: no `;`, tab, `,` or `|` in the first line: one column".into());
    }
    Dialect {
        encoding,
        delimiter: best.0,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
