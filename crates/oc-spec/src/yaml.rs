//! YAML parsing with `file:line:col` diagnostics (serde-saphyr keeps locations; we add hints).

use std::path::Path;

use serde::de::DeserializeOwned;
use serde_saphyr::Error;

use crate::diag::{Diagnostic, did_you_mean};

pub(crate) fn parse<T: DeserializeOwned>(file: &Path, text: &str) -> Result<T, Diagnostic> {
    serde_saphyr::from_str::<T>(text).map_err(|e| to_diagnostic(file, text, &e))
}

fn to_diagnostic(file: &Path, text: &str, err: &Error) -> Diagnostic {
    let inner = err.without_snippet();
    let (line, column) = err
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((0, 0));
    match inner {
        Error::SerdeUnknownField { field, .. } if cut_by_flow_comma(text, line, field) => {
            Diagnostic::new(
                file,
                line,
                column,
                format!(
                    "unknown key `{field}`: inside `{{ … }}` a comma separates entries, so a value like `decimal(18,2)` is cut in two"
                ),
            )
            .with_hint("quote the value: `type: \"decimal(18,2)\"`, or write the mapping one key per line")
        }
        Error::SerdeUnknownField {
            field, expected, ..
        } => {
            let mut d = Diagnostic::new(file, line, column, format!("unknown key `{field}`"));
            let (line, column) = if line == 0 {
                locate_key(text, field)
            } else {
                (line, column)
            };
            d.line = line;
            d.column = column;
            match did_you_mean(field, expected.iter().copied()) {
                Some(s) => d.with_hint(format!("did you mean `{s}`?")),
                None => d.with_hint(format!("expected one of: {}", expected.join(", "))),
            }
        }
        Error::SerdeUnknownVariant {
            variant, expected, ..
        } => {
            let d = Diagnostic::new(file, line, column, format!("unknown value `{variant}`"));
            match did_you_mean(variant, expected.iter().copied()) {
                Some(s) => d.with_hint(format!("did you mean `{s}`?")),
                None => d.with_hint(format!("expected one of: {}", expected.join(", "))),
            }
        }
        Error::SerdeMissingField { field, .. } => {
            Diagnostic::new(file, line, column, format!("missing key `{field}`"))
        }
        Error::DuplicateMappingKey { key, .. } => {
            let key = key.clone().unwrap_or_default();
            let first = first_key_line(text, &key, line);
            let d = Diagnostic::new(
                file,
                line,
                column,
                format!("key `{key}` is written twice in the same mapping"),
            );
            match first {
                Some(l) => d.with_hint(format!(
                    "the first is on line {l}: keep one of them"
                )),
                None => d.with_hint("keep one of them"),
            }
        }
        other => {
            // The plain message without the rendered snippet (we print file:line:col ourselves).
            let msg = other.to_string();
            let msg = msg
                .split(" at line ")
                .next()
                .unwrap_or(&msg)
                .trim()
                .to_string();
            let d = Diagnostic::new(file, line, column, &msg);
            // serde's "invalid u64" names a Rust type: say the number expected, and what
            // was written instead
            match (number_expected(&msg), value_at(text, line, column)) {
                (Some(expected), Some(v)) => d.with_hint(format!("expected {expected}, not `{v}`")),
                (Some(expected), None) => d.with_hint(format!("expected {expected}")),
                (None, _) => d,
            }
        }
    }
}

/// The number a message such as "invalid u64" stands for.
fn number_expected(msg: &str) -> Option<&'static str> {
    Some(match msg.strip_prefix("invalid ")? {
        "u8" => "a whole number from 0 to 255",
        "u16" => "a whole number from 0 to 65535",
        "u32" | "u64" | "usize" => "a whole number, 0 or more",
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number",
        "f32" | "f64" => "a number",
        _ => return None,
    })
}

/// The scalar written at `line`:`column` (1-based), up to a `,`, `}` or `#`.
fn value_at(text: &str, line: u64, column: u64) -> Option<String> {
    let l = text.lines().nth(line.checked_sub(1)? as usize)?;
    let rest: String = l.chars().skip(column.checked_sub(1)? as usize).collect();
    let v = rest.split([',', '}', '#']).next()?.trim();
    (!v.is_empty()).then(|| v.to_string())
}

/// Whether an unknown key is the tail of a value cut by a comma inside a flow mapping: the
/// key ends with `)` and its line opens a `(` before it, inside `{`.
fn cut_by_flow_comma(text: &str, line: u64, field: &str) -> bool {
    let Some(l) = line
        .checked_sub(1)
        .and_then(|i| text.lines().nth(i as usize))
    else {
        return false;
    };
    field.trim_end().ends_with(')') && l.contains('{') && l.contains('(')
}

/// The line (1-based) of the first `key:` above `line` at the same indentation as the
/// duplicate, for pointing at both.
fn first_key_line(text: &str, key: &str, line: u64) -> Option<u64> {
    let lines: Vec<&str> = text.lines().collect();
    let dup = *lines.get(line.checked_sub(1)? as usize)?;
    let indent = dup.len() - dup.trim_start().len();
    lines[..(line - 1) as usize]
        .iter()
        .enumerate()
        .rev()
        .find(|(_, l)| {
            let t = l.trim_start();
            l.len() - t.len() == indent
                && t.trim_start_matches(['"', '\''])
                    .strip_prefix(key)
                    .is_some_and(|r| {
                        r.trim_start_matches(['"', '\''])
                            .trim_start()
                            .starts_with(':')
                    })
        })
        .map(|(i, _)| (i + 1) as u64)
}

/// Best-effort position of `key:` in a YAML text (first occurrence), for messages about a key
/// whose value carries no location.
pub fn locate_key(text: &str, key: &str) -> (u64, u64) {
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let t = trimmed.trim_start_matches("- ");
        let t = t.trim_start_matches(['"', '\'']);
        if let Some(rest) = t.strip_prefix(key) {
            let rest = rest.trim_start_matches(['"', '\'']);
            if rest.trim_start().starts_with(':') {
                return ((i + 1) as u64, (indent + 1) as u64);
            }
        }
    }
    // Flow style (`target: { partition_by: [x] }`): the key after `{` or `,`.
    for (i, line) in text.lines().enumerate() {
        for pat in [
            format!("{{ {key}:"),
            format!("{{{key}:"),
            format!(", {key}:"),
        ] {
            if let Some(pos) = line.find(&pat) {
                let at = pos + pat.len() - key.len() - 1;
                return ((i + 1) as u64, (at + 1) as u64);
            }
        }
    }
    (0, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Csv {
        delimiter: Option<String>,
        header: Option<bool>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        name: String,
        csv: Csv,
    }

    #[test]
    fn unknown_key_points_at_its_line_with_a_hint() {
        let text = "name: x\ncsv:\n  header: true\n  delimeter: \";\"\n";
        let d = parse::<Doc>(Path::new("p.yaml"), text).unwrap_err();
        assert_eq!(d.line, 4, "{d}");
        assert!(d.message.contains("delimeter"), "{d}");
        assert_eq!(d.hint.as_deref(), Some("did you mean `delimiter`?"));
    }

    /// serde's "invalid u64" is said as the number expected, with the value written.
    #[test]
    fn a_number_written_as_a_word_says_the_number_expected() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Limits {
            max_rejects: u64,
            width: Option<u8>,
        }
        let d = parse::<Limits>(Path::new("p.yaml"), "max_rejects: ten\n").unwrap_err();
        assert_eq!((d.line, d.message.as_str()), (1, "invalid u64"), "{d}");
        assert_eq!(
            d.hint.as_deref(),
            Some("expected a whole number, 0 or more, not `ten`")
        );
        let d = parse::<Limits>(Path::new("p.yaml"), "max_rejects: 1\nwidth: -5\n").unwrap_err();
        assert_eq!(
            d.hint.as_deref(),
            Some("expected a whole number from 0 to 255, not `-5`"),
            "{d}"
        );
    }

    #[test]
    fn wrong_type_has_a_location() {
        let text = "name: x\ncsv:\n  header: maybe\n";
        let d = parse::<Doc>(Path::new("p.yaml"), text).unwrap_err();
        assert_eq!(d.line, 3, "{d}");
    }

    #[test]
    fn locate_key_finds_nested_keys() {
        let text = "a:\n  b: 1\n  code_insee: { sql: x }\n";
        assert_eq!(locate_key(text, "code_insee"), (3, 3));
        assert_eq!(locate_key(text, "zzz"), (0, 0));
        assert_eq!(
            locate_key("target: { mode: x, partition_by: [a] }\n", "partition_by"),
            (1, 20)
        );
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Col {
        from: String,
        #[serde(rename = "type")]
        ty: String,
    }

    #[test]
    fn a_value_cut_by_a_flow_comma_says_to_quote_it() {
        let text = "name: x\ncsv: { header: true }\nn: { from: n, type: decimal(18,2) }\n";
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct D {
            name: String,
            csv: Csv,
            n: Col,
        }
        let d = parse::<D>(Path::new("p.yaml"), text).unwrap_err();
        assert_eq!(d.line, 3, "{d}");
        assert!(d.message.contains("cut in two"), "{d}");
        assert!(
            d.hint.as_deref().unwrap().contains("\"decimal(18,2)\""),
            "{d}"
        );
    }

    #[test]
    fn a_duplicate_key_names_both_lines() {
        let text = "name: x\ncsv:\n  header: true\n  delimiter: \";\"\n  header: false\n";
        let d = parse::<Doc>(Path::new("p.yaml"), text).unwrap_err();
        assert_eq!(d.line, 5, "{d}");
        assert_eq!(
            d.message,
            "key `header` is written twice in the same mapping"
        );
        assert_eq!(
            d.hint.as_deref(),
            Some("the first is on line 3: keep one of them")
        );
    }
}
