//! A web page's bytes → text. The encoding is taken from what declares it, in the order a
//! browser trusts: a byte-order mark, the server's `Content-Type: …; charset=`, the page's
//! `<meta charset>` (or `http-equiv` Content-Type), then the pipeline's `encoding:`. Nothing
//! is guessed: an undeclared page must be UTF-8, and bytes that are not text in the chosen
//! encoding fail the page with their line.

use oc_spec::Encoding;

/// Where the encoding came from, for the messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Declared {
    Bom,
    Http,
    Meta,
    Pipeline,
    Default,
}

impl Declared {
    fn describe(self) -> &'static str {
        match self {
            Declared::Bom => "its byte-order mark",
            Declared::Http => "the server's Content-Type",
            Declared::Meta => "the page's <meta charset>",
            Declared::Pipeline => "html.encoding",
            Declared::Default => "no declaration (UTF-8 is assumed)",
        }
    }
}

/// How many bytes are searched for `<meta charset>` (the HTML standard's prescan).
const PRESCAN: usize = 1024;

/// The charset parameter of a `Content-Type` header value.
fn charset_param(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches(['"', '\'']))
    })
}

/// The charset a page declares in its first kilobyte.
fn meta_charset(bytes: &[u8]) -> Option<String> {
    static META: std::sync::LazyLock<regex::bytes::Regex> = std::sync::LazyLock::new(|| {
        regex::bytes::Regex::new(r#"(?i)<meta\b[^>]*?\bcharset\s*=\s*["']?\s*([A-Za-z0-9._:\-]+)"#)
            .expect("static regex")
    });
    let head = &bytes[..bytes.len().min(PRESCAN)];
    META.captures(head)
        .and_then(|c| std::str::from_utf8(&c[1]).ok().map(str::to_string))
}

/// Decodes a page. Returns its text and the encoding used, or a message naming the line of
/// the first byte that is not text in that encoding.
pub fn decode_page(
    bytes: &[u8],
    content_type: Option<&str>,
    declared: Option<Encoding>,
) -> Result<(String, &'static str), String> {
    let (label, from, body): (String, Declared, &[u8]) =
        if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
            ("utf-8".into(), Declared::Bom, rest)
        } else if let Some(cs) = content_type.and_then(charset_param) {
            (cs.to_string(), Declared::Http, bytes)
        } else if let Some(cs) = meta_charset(bytes) {
            (cs, Declared::Meta, bytes)
        } else if let Some(e) = declared {
            (Encoding::name(e).into(), Declared::Pipeline, bytes)
        } else {
            ("utf-8".into(), Declared::Default, bytes)
        };
    let encoding = encoding_rs::Encoding::for_label(label.as_bytes())
        .ok_or_else(|| format!("unknown encoding `{label}` declared by {}", from.describe()))?;
    // A page that says UTF-16 in ASCII bytes is not UTF-16 (the standard reads it as UTF-8).
    let encoding = if encoding == encoding_rs::UTF_16LE || encoding == encoding_rs::UTF_16BE {
        encoding_rs::UTF_8
    } else {
        encoding
    };
    let hint = match from {
        Declared::Default => {
            " (hint: the page does not declare its encoding; set `html.encoding: windows-1252` (`--encoding` for `opencoll html tables`) if it is a legacy French page)"
        }
        _ => "",
    };
    let line_of = |offset: usize| body[..offset].iter().filter(|b| **b == b'\n').count() + 1;
    if encoding == encoding_rs::UTF_8 {
        return match std::str::from_utf8(body) {
            Ok(t) => Ok((t.to_string(), "utf-8")),
            Err(e) => Err(format!(
                "line {}: byte 0x{:02X} is not UTF-8, the encoding given by {}{hint}",
                line_of(e.valid_up_to()),
                body[e.valid_up_to()],
                from.describe()
            )),
        };
    }
    let Some(text) = encoding.decode_without_bom_handling_and_without_replacement(body) else {
        return Err(format!(
            "the page has bytes that are not {}, the encoding given by {}",
            encoding.name(),
            from.describe()
        ));
    };
    // windows-1252 maps its five unassigned bytes (0x81, 0x8D, 0x8F, 0x90, 0x9D) to C1
    // control characters: no real text has them, so they mean the encoding is wrong.
    if encoding.is_single_byte()
        && let Some(at) = text.find(|c: char| ('\u{80}'..='\u{9f}').contains(&c))
    {
        let line = text[..at].matches('\n').count() + 1;
        let c = text[at..].chars().next().map(u32::from).unwrap_or(0);
        return Err(format!(
            "line {line}: byte 0x{c:02X} is not a character in {}, the encoding given by {}",
            encoding.name(),
            from.describe()
        ));
    }
    Ok((text.into_owned(), encoding.name()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_beats_the_page_which_beats_the_pipeline() {
        let page = b"<meta charset=\"windows-1252\"><p>Orl\xE9ans</p>";
        let (t, e) = decode_page(page, None, Some(Encoding::Utf8)).unwrap();
        assert!(t.contains("Orléans"), "{t}");
        assert_eq!(e, "windows-1252");
        // the server says UTF-8: the é byte is then an error, not silently re-guessed
        let err = decode_page(page, Some("text/html; charset=UTF-8"), None).unwrap_err();
        assert!(
            err.contains("not UTF-8") && err.contains("Content-Type"),
            "{err}"
        );
        let legacy = b"<p>Orl\xE9ans \x80</p>";
        let (t, _) = decode_page(legacy, None, Some(Encoding::Windows1252)).unwrap();
        assert!(t.contains("Orléans €"), "{t}");
        // http-equiv form, iso-8859-1 label read as windows-1252 (as browsers do)
        let p =
            b"<meta http-equiv=\"Content-Type\" content=\"text/html; charset=iso-8859-1\">\x9Cuvre";
        assert!(decode_page(p, None, None).unwrap().0.ends_with("œuvre"));
    }

    #[test]
    fn undeclared_legacy_pages_are_refused_with_the_line() {
        let err = decode_page(b"<p>a</p>\n<p>Orl\xE9ans</p>", None, None).unwrap_err();
        assert!(err.starts_with("line 2: byte 0xE9"), "{err}");
        assert!(err.contains("html.encoding: windows-1252"), "{err}");
        let err = decode_page(b"ok\n\n\x81", None, Some(Encoding::Windows1252)).unwrap_err();
        assert!(err.starts_with("line 3: byte 0x81"), "{err}");
        let err = decode_page(b"<meta charset=klingon>", None, None).unwrap_err();
        assert!(err.contains("unknown encoding `klingon`"), "{err}");
    }

    #[test]
    fn a_bom_wins() {
        let (t, e) = decode_page(
            "\u{feff}<p>Orléans</p>".as_bytes(),
            None,
            Some(Encoding::Windows1252),
        )
        .unwrap();
        assert_eq!((t.as_str(), e), ("<p>Orléans</p>", "utf-8"));
    }
}
