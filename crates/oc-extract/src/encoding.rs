//! Byte → text decoding for the encodings French public files come in.
//!
//! Fields are split on bytes first (all supported encodings are ASCII-compatible, so `;`, `"`
//! and newlines are the same bytes) and decoded one by one, ASCII without copying.

use std::borrow::Cow;

use oc_spec::Encoding;

pub const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// One field's text, borrowed when the bytes are already valid UTF-8 (always for ASCII).
/// Each path reads the bytes once: this runs for every field of a bulk file.
pub fn decode(enc: Encoding, bytes: &[u8]) -> Result<Cow<'_, str>, String> {
    match enc {
        Encoding::Utf8 => std::str::from_utf8(bytes).map(Cow::Borrowed).map_err(|e| {
            let b = bytes[e.valid_up_to()];
            format!(
                "invalid UTF-8 (byte 0x{b:02X}): the file is probably windows-1252; set `encoding: windows-1252`"
            )
        }),
        // Borrowed when the field is ASCII.
        Encoding::Windows1252 => Ok(encoding_rs::WINDOWS_1252
            .decode_without_bom_handling(bytes)
            .0),
        Encoding::Latin1 => {
            if bytes.is_ascii() {
                return Ok(Cow::Borrowed(std::str::from_utf8(bytes).expect("ASCII")));
            }
            if let Some(b) = bytes.iter().find(|b| (0x80..=0x9F).contains(*b)) {
                return Err(format!(
                    "byte 0x{b:02X} is a control character in ISO-8859-1: the file is probably windows-1252 (Œ, €, ’); set `encoding: windows-1252`"
                ));
            }
            Ok(Cow::Owned(bytes.iter().map(|&b| b as char).collect()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_1252_has_oe_and_euro() {
        assert_eq!(
            decode(Encoding::Windows1252, b"\x8Cuilly").unwrap(),
            "Œuilly"
        );
        assert_eq!(decode(Encoding::Windows1252, b"12 \x80").unwrap(), "12 €");
        assert_eq!(
            decode(Encoding::Windows1252, b"Cl\xE9menciat").unwrap(),
            "Clémenciat"
        );
    }

    #[test]
    fn latin1_refuses_windows_1252_bytes() {
        assert_eq!(
            decode(Encoding::Latin1, b"Cl\xE9menciat").unwrap(),
            "Clémenciat"
        );
        let e = decode(Encoding::Latin1, b"\x8Cuilly").unwrap_err();
        assert!(e.contains("windows-1252"), "{e}");
    }

    #[test]
    fn utf8_errors_suggest_the_encoding() {
        assert_eq!(
            decode(Encoding::Utf8, "Clémenciat".as_bytes()).unwrap(),
            "Clémenciat"
        );
        let e = decode(Encoding::Utf8, b"Cl\xE9menciat").unwrap_err();
        assert!(e.contains("encoding: windows-1252"), "{e}");
    }

    #[test]
    fn ascii_is_borrowed() {
        for enc in [Encoding::Utf8, Encoding::Windows1252, Encoding::Latin1] {
            let text = decode(enc, b"01001;-1234,56").unwrap();
            assert!(matches!(text, Cow::Borrowed("01001;-1234,56")), "{enc:?}");
        }
    }
}
