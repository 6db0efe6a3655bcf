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

/// The quote option: `None` for `none` (no quoting), the byte of one ASCII character, or
/// the message for anything else (the same words from `validate` and from the reader).
pub fn quote_byte(q: &str) -> Result<Option<u8>, String> {
    match q {
        "none" => Ok(None),
        s if s.len() == 1 && s.is_ascii() => Ok(Some(s.as_bytes()[0])),
        _ => Err(format!("quote `{q}` must be one ASCII character or `none`")),
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
