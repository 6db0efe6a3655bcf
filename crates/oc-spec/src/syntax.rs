//! Small syntaxes of the pipeline language shared by validation and readers: delimiters,
//! `/regex/` selectors, remote paths.

/// The byte of a delimiter option (`tab` and `\t` mean TAB).
pub fn delimiter_byte(d: &str) -> Option<u8> {
    match d {
        "tab" | "\\t" | "\t" => Some(b'\t'),
        s if s.len() == 1 && s.is_ascii() => Some(s.as_bytes()[0]),
        _ => None,
    }
}

/// The quote option: `Some(None)` for `none` (no quoting), `Some(Some(byte))` for one ASCII
/// character, `None` when it is neither.
pub fn quote_byte(q: &str) -> Option<Option<u8>> {
    match q {
        "none" => Some(None),
        s if s.len() == 1 && s.is_ascii() => Some(Some(s.as_bytes()[0])),
        _ => None,
    }
}

/// `/regex/` → `Some("regex")`.
pub fn regex_of(from: &str) -> Option<&str> {
    from.strip_prefix('/')
        .and_then(|r| r.strip_suffix('/'))
        .filter(|r| !r.is_empty())
}

pub fn is_remote(path: &str) -> bool {
    // a database URL names a server the reader connects to, not a file to fetch
    path.contains("://") && !path.starts_with("postgres://") && !path.starts_with("postgresql://")
}
