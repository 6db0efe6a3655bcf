//! A quality score per table, so pipelines can refuse a table that was extracted badly.

use crate::model::Table;

/// What a declared column should hold, for the type-parse part of the score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Text,
    Number,
    /// Not declared: not counted in the parse rate.
    Any,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Quality {
    /// Share of non-empty body cells that parse as their column's kind (1.0 without declared kinds).
    pub parse_rate: f64,
    /// Share of body rows whose number of filled cells is not below the modal count
    /// (wrapped or shifted rows lower it).
    pub consistency: f64,
    /// Share of declared column names found in the header rows (1.0 without declared names).
    pub header_match: f64,
    /// Mean of the three.
    pub score: f64,
}

/// Normalises a header or column name for comparison: lowercase ASCII letters and digits.
fn key(s: &str) -> String {
    s.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'à' | 'â' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'î' | 'ï' => 'i',
            'ô' | 'ö' => 'o',
            'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            c => c,
        })
        .filter(char::is_ascii_alphanumeric)
        .collect()
}

/// True when `s` reads as a number in French or English notation (spaces, NBSP or U+202F as
/// thousands separators, U+2212 minus, `%`, `(e)`/`(p)` markers).
pub fn looks_numeric(s: &str) -> bool {
    let mut t: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{a0}' && *c != '\u{202f}')
        .collect();
    for m in ["(e)", "(p)", "(r)", "(1)", "(2)", "(3)", "*"] {
        if let Some(x) = t.strip_suffix(m) {
            t = x.to_string();
        }
    }
    let t = t.trim_end_matches(['%', '€']);
    let t = t
        .trim_start_matches(['-', '+', '\u{2212}', '('])
        .trim_end_matches(')');
    !t.is_empty()
        && t.chars().any(|c| c.is_ascii_digit())
        && t.chars()
            .all(|c| c.is_ascii_digit() || c == ',' || c == '.' || c == '\'')
}

/// Scores `table` whose first `header_rows` rows are headers, against optional declared
/// column names and kinds (in table order).
pub fn score(table: &Table, header_rows: usize, names: &[String], kinds: &[ColumnKind]) -> Quality {
    let body: Vec<&Vec<String>> = table.rows.iter().skip(header_rows).collect();
    let mut ok = 0usize;
    let mut total = 0usize;
    if !kinds.is_empty() {
        for r in &body {
            for (c, k) in r.iter().zip(kinds) {
                let c = c.trim();
                if *k == ColumnKind::Any
                    || c.is_empty()
                    || matches!(c, "-" | "–" | "—" | "n.c." | "nc" | "nd" | "s" | "ns")
                {
                    continue;
                }
                total += 1;
                if *k == ColumnKind::Text || looks_numeric(c) {
                    ok += 1;
                }
            }
        }
    }
    let parse_rate = if total == 0 {
        1.0
    } else {
        ok as f64 / total as f64
    };
    let filled: Vec<usize> = body
        .iter()
        .map(|r| r.iter().filter(|c| !c.trim().is_empty()).count())
        .collect();
    let consistency = if filled.is_empty() {
        0.0
    } else {
        let mut counts = std::collections::BTreeMap::new();
        for f in &filled {
            *counts.entry(*f).or_insert(0usize) += 1;
        }
        let mode = counts
            .iter()
            .max_by_key(|(k, v)| (**v, **k))
            .map_or(0, |(k, _)| *k);
        filled.iter().filter(|&&f| f >= mode).count() as f64 / filled.len() as f64
    };
    let header_match = if names.is_empty() {
        1.0
    } else {
        let head: Vec<String> = (0..table.n_cols())
            .map(|c| {
                let t: Vec<&str> = table
                    .rows
                    .iter()
                    .take(header_rows)
                    .filter_map(|r| r.get(c).map(String::as_str))
                    .collect();
                key(&t.join(" "))
            })
            .collect();
        let hit = names
            .iter()
            .filter(|n| {
                let k = key(n);
                !k.is_empty() && head.iter().any(|h| h.contains(&k))
            })
            .count();
        hit as f64 / names.len() as f64
    };
    Quality {
        parse_rate,
        consistency,
        header_match,
        score: (parse_rate + consistency + header_match) / 3.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(rows: &[&[&str]]) -> Table {
        Table::of_rows(1, 1, rows)
    }

    #[test]
    fn french_numbers_parse() {
        for s in [
            "12 345,6",
            "12\u{a0}345",
            "1\u{202f}234,5 (e)",
            "\u{2212}3,2",
            "4,5 %",
            "(35,8)",
        ] {
            assert!(looks_numeric(s), "{s}");
        }
        assert!(!looks_numeric("Paris"));
        assert!(!looks_numeric("12 ab"));
    }

    #[test]
    fn shifted_rows_lower_the_score() {
        let kinds = [ColumnKind::Text, ColumnKind::Number];
        let names = ["Commune".to_string(), "Montant".to_string()];
        let good = t(&[
            &["Commune", "Montant"],
            &["Arles", "12 345,6"],
            &["Nîmes", "7,5"],
        ]);
        let q = score(&good, 1, &names, &kinds);
        assert_eq!(q.score, 1.0);
        let bad = t(&[
            &["Commune", "Montant"],
            &["Arles", "Bouches-du-Rhône 12"],
            &["Nîmes", ""],
        ]);
        let q = score(&bad, 1, &names, &kinds);
        assert!(q.parse_rate < 1.0 && q.consistency < 1.0, "{q:?}");
        let q = score(&good, 1, &["Population".to_string()], &kinds);
        assert_eq!(q.header_match, 0.0);
    }
}
