//! Tab completion in `opencoll shell`: the lake's tables and views (with their domain), their
//! columns, SQL keywords (in the case being typed) and the shell's own commands, as psql and
//! DuckDB complete.

use rustyline::completion::Completer;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;

const KEYWORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP",
    "BY",
    "ORDER",
    "LIMIT",
    "OFFSET",
    "HAVING",
    "JOIN",
    "LEFT",
    "RIGHT",
    "FULL",
    "INNER",
    "OUTER",
    "CROSS",
    "ON",
    "USING",
    "AS",
    "AND",
    "OR",
    "NOT",
    "IN",
    "IS",
    "NULL",
    "LIKE",
    "ILIKE",
    "BETWEEN",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "DISTINCT",
    "UNION",
    "ALL",
    "EXCEPT",
    "INTERSECT",
    "WITH",
    "ASC",
    "DESC",
    "NULLS",
    "FIRST",
    "LAST",
    "OVER",
    "PARTITION",
    "COUNT",
    "SUM",
    "AVG",
    "MIN",
    "MAX",
    "ROUND",
    "COALESCE",
    "CAST",
    "EXPLAIN",
    "ANALYZE",
    "VALUES",
    "TRUE",
    "FALSE",
    "FILTER",
    "QUALIFY",
];
const COMMANDS: &[&str] = &[
    "\\d", "\\i", "\\q", "\\timing", "\\x", "\\pset", ".mode", ".read", ".timer", ".quit",
];

/// The words the shell completes, found once when it starts.
pub struct Completion {
    /// Table and view names (`domain.name`) and column names, sorted.
    names: Vec<String>,
}

impl Completion {
    pub async fn of(session: &oc_sql::LakeSession) -> Completion {
        let mut names: Vec<String> = session
            .tables
            .iter()
            .cloned()
            .chain(session.views.iter().cloned())
            .collect();
        let relations = names.clone();
        for r in &relations {
            if let Ok(df) = session.ctx.table(r.as_str()).await {
                names.extend(df.schema().fields().iter().map(|f| f.name().clone()));
            }
        }
        names.sort();
        names.dedup();
        Completion { names }
    }

    /// Where the word before `pos` starts, and what it may become.
    pub fn candidates(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        let before = &line[..pos];
        let start = before
            .rfind(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '.' | '\\')))
            .map_or(0, |i| {
                i + before[i..].chars().next().map_or(1, char::len_utf8)
            });
        let word = &before[start..];
        if word.is_empty() {
            return (pos, Vec::new());
        }
        let at_line_start = before[..start].trim().is_empty();
        let mut out: Vec<String> = Vec::new();
        if at_line_start && (word.starts_with('\\') || word.starts_with('.')) {
            out.extend(
                COMMANDS
                    .iter()
                    .filter(|c| c.starts_with(word))
                    .map(|c| c.to_string()),
            );
            return (start, out);
        }
        out.extend(self.names.iter().filter(|n| n.starts_with(word)).cloned());
        // Keywords in the case being typed: `sel` → `select`, `SEL` → `SELECT`.
        let upper = word.to_ascii_uppercase();
        let lower = word.chars().any(|c| c.is_ascii_lowercase());
        out.extend(KEYWORDS.iter().filter(|k| k.starts_with(&upper)).map(|k| {
            if lower {
                k.to_ascii_lowercase()
            } else {
                k.to_string()
            }
        }));
        (start, out)
    }
}

impl Completer for Completion {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        Ok(self.candidates(line, pos))
    }
}

impl Hinter for Completion {
    type Hint = String;
}
impl Highlighter for Completion {}
impl Validator for Completion {}
impl rustyline::Helper for Completion {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keywords_and_commands_by_prefix() {
        let c = Completion {
            names: [
                "code_insee",
                "ref.communes",
                "ref.communes_nouvelles",
                "ref.regions",
            ]
            .map(String::from)
            .to_vec(),
        };
        let line = "SELECT code_ FROM ref.comm";
        assert_eq!(
            c.candidates(line, line.len()),
            (
                18,
                vec!["ref.communes".into(), "ref.communes_nouvelles".into()]
            )
        );
        assert_eq!(c.candidates(line, 12), (7, vec!["code_insee".into()]));
        assert_eq!(c.candidates("sel", 3), (0, vec!["select".into()]));
        assert_eq!(c.candidates("x GRO", 5), (2, vec!["GROUP".into()]));
        assert_eq!(c.candidates("\\ti", 3), (0, vec!["\\timing".into()]));
        assert_eq!(c.candidates(".mo", 3), (0, vec![".mode".into()]));
        assert_eq!(c.candidates("SELECT ", 7), (7, vec![]));
        // After a parenthesis or a comma, and with accents in the line before.
        let line = "SELECT é,(ref.reg";
        assert_eq!(
            c.candidates(line, line.len()).1,
            vec!["ref.regions".to_string()]
        );
    }
}
