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
        other => {
            // The plain message without the rendered snippet (we print file:line:col ourselves).
            let msg = other.to_string();
            let msg = msg
                .split(" at line ")
                .next()
                .unwrap_or(&msg)
                .trim()
                .to_string();
            Diagnostic::new(file, line, column, msg)
        }
    }
}

/// Best-effort position of `key:` in a YAML text (first occurrence), for messages about a key
/// whose value carries no location.
pub(crate) fn locate_key(text: &str, key: &str) -> (u64, u64) {
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
}
