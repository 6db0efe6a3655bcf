//! Bounds on a query's text, checked on its tokens before anything parses or plans it.
//!
//! SQL parsers and planners walk expressions by recursion. The parser bounds its own recursion
//! (nested parentheses, subqueries, function calls), but a flat chain of operators
//! (`1+1+…+1`, `a = 1 OR a = 2 OR …`) is parsed in a loop into a tree as deep as the chain,
//! which the planner, the optimizer and the executor then recurse through. A stack overflow
//! cannot be caught: it aborts the process, and in a server every client's connection with
//! it. So the depth a query can reach is estimated here, without recursion, and a query over
//! the bound is refused with a message that says what to write instead.

use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

/// Longest query text accepted (bytes).
pub const MAX_QUERY_BYTES: usize = 1024 * 1024;
/// Deepest expression accepted: operators chained at one level, plus those of the groups
/// nested in it. Planning needs stack in proportion (see the README's reliability section).
pub const MAX_EXPRESSION_DEPTH: usize = 2_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error(
        "the query is {bytes} bytes long, more than the {max} allowed: send a shorter query (long lists of values belong in a table, or in several queries)"
    )]
    TooLong { bytes: usize, max: usize },
    #[error(
        "the query nests expressions about {depth} levels deep (operators chained in one expression), more than the {max} allowed: write long lists of alternatives as `x IN (a, b, …)` and long sums with SUM over rows"
    )]
    TooDeep { depth: usize, max: usize },
    #[error(
        "the query nests parentheses, function calls or subqueries more than {max} levels deep: flatten it (name intermediate results with WITH)"
    )]
    TooNested { max: usize },
}

/// The SQL parser's own bound on nesting (sqlparser's default, which DataFusion keeps).
pub const MAX_NESTING: usize = 50;

/// A DataFusion error that is the parser's nesting error, as a [`ShapeError`].
pub fn from_datafusion(e: &datafusion::error::DataFusionError) -> Option<ShapeError> {
    match e.find_root() {
        datafusion::error::DataFusionError::SQL(p, _) => from_parser(p),
        _ => None,
    }
}

/// The parser's nesting error as a [`ShapeError`], with advice.
pub fn from_parser(e: &datafusion::sql::sqlparser::parser::ParserError) -> Option<ShapeError> {
    matches!(
        e,
        datafusion::sql::sqlparser::parser::ParserError::RecursionLimitExceeded
    )
    .then_some(ShapeError::TooNested { max: MAX_NESTING })
}

/// One level of parentheses while scanning: operators of the current list item, and the
/// deepest of the groups nested in it and of the items already closed.
#[derive(Default)]
struct Level {
    operators: usize,
    deepest_child: usize,
    deepest_item: usize,
}

impl Level {
    /// An item of a list (or a clause) ends: its depth is its operator chain over its
    /// deepest group.
    fn close_item(&mut self) {
        let d = self.operators + self.deepest_child;
        self.deepest_item = self.deepest_item.max(d);
        self.operators = 0;
        self.deepest_child = 0;
    }
    fn depth(mut self) -> usize {
        self.close_item();
        self.deepest_item
    }
}

/// An upper estimate of the deepest expression tree the query can produce.
pub fn expression_depth(sql: &str) -> usize {
    let dialect = PostgreSqlDialect {};
    // Unreadable text is the parser's to report, with its position.
    let Ok(tokens) = Tokenizer::new(&dialect, sql).tokenize() else {
        return 0;
    };
    let mut stack = vec![Level::default()];
    for t in tokens {
        let top = stack.last_mut().expect("never empty");
        match t {
            Token::LParen | Token::LBracket | Token::LBrace => stack.push(Level::default()),
            Token::RParen | Token::RBracket | Token::RBrace => {
                if stack.len() > 1 {
                    let inner = stack.pop().expect("checked").depth() + 1;
                    let top = stack.last_mut().expect("never empty");
                    top.deepest_child = top.deepest_child.max(inner);
                }
            }
            Token::Comma | Token::SemiColon => top.close_item(),
            Token::Word(w) => match w.keyword {
                Keyword::AND
                | Keyword::OR
                | Keyword::NOT
                | Keyword::IS
                | Keyword::LIKE
                | Keyword::ILIKE
                | Keyword::SIMILAR
                | Keyword::IN
                | Keyword::BETWEEN
                | Keyword::COLLATE
                | Keyword::AT => top.operators += 1,
                // A new clause starts a new expression.
                Keyword::SELECT
                | Keyword::FROM
                | Keyword::WHERE
                | Keyword::GROUP
                | Keyword::HAVING
                | Keyword::ORDER
                | Keyword::LIMIT
                | Keyword::OFFSET
                | Keyword::UNION
                | Keyword::INTERSECT
                | Keyword::EXCEPT
                | Keyword::JOIN
                | Keyword::ON
                | Keyword::WHEN
                | Keyword::THEN
                | Keyword::ELSE
                | Keyword::END => top.close_item(),
                _ => {}
            },
            Token::Whitespace(_)
            | Token::Number(..)
            | Token::SingleQuotedString(_)
            | Token::DoubleQuotedString(_)
            | Token::NationalStringLiteral(_)
            | Token::EscapedStringLiteral(_)
            | Token::HexStringLiteral(_)
            | Token::Placeholder(_)
            | Token::Period
            | Token::EOF => {}
            // Every other token is an operator: + - * / % || = <> < > :: -> and the rest.
            _ => top.operators += 1,
        }
    }
    let mut depth = 0;
    while let Some(level) = stack.pop() {
        // Unclosed parentheses: count what is open (the parser reports the error).
        depth = level.depth().max(depth) + usize::from(!stack.is_empty());
    }
    depth
}

/// Refuses a query whose text is too long or whose expressions are too deep to plan safely.
pub fn check(sql: &str) -> Result<(), ShapeError> {
    if sql.len() > MAX_QUERY_BYTES {
        return Err(ShapeError::TooLong {
            bytes: sql.len(),
            max: MAX_QUERY_BYTES,
        });
    }
    let depth = expression_depth(sql);
    if depth > MAX_EXPRESSION_DEPTH {
        return Err(ShapeError::TooDeep {
            depth,
            max: MAX_EXPRESSION_DEPTH,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(op: &str, n: usize) -> String {
        format!("SELECT {}", vec!["1"; n].join(op))
    }

    #[test]
    fn flat_chains_count_their_operators() {
        assert_eq!(expression_depth("SELECT 1"), 0);
        assert_eq!(expression_depth(&chain("+", 5)), 4);
        assert_eq!(expression_depth(&chain(" OR ", 1000)), 999);
        // a long IN list is wide, not deep
        let list: Vec<String> = (0..50_000).map(|i| format!("'{i:05}'")).collect();
        let q = format!("SELECT * FROM t WHERE code IN ({})", list.join(", "));
        assert!(expression_depth(&q) <= 3, "{}", expression_depth(&q));
        assert!(check(&q).is_ok());
        // select lists and clauses are separate expressions
        let cols: Vec<String> = (0..3000).map(|i| format!("a + {i}")).collect();
        let q = format!("SELECT {} FROM t WHERE a = 1 ORDER BY a", cols.join(", "));
        assert_eq!(expression_depth(&q), 1);
    }

    #[test]
    fn nested_groups_add_up_wherever_they_stand() {
        // the group is the left leaf of the outer chain: its depth adds to the chain's
        let inner = ["1"; 11].join("+");
        let outer = ["1"; 21].join("+");
        assert_eq!(
            expression_depth(&format!("SELECT ({inner})+{outer}")),
            10 + 1 + 20 + 1
        );
        assert_eq!(
            expression_depth(&format!("SELECT {outer}+({inner})")),
            10 + 1 + 20 + 1
        );
        assert_eq!(expression_depth("SELECT ((((1))))"), 4);
        assert_eq!(expression_depth("SELECT f(g(1 + 2), 3)"), 3);
    }

    #[test]
    fn deep_and_long_queries_are_refused_with_advice() {
        assert!(check(&chain("+", 1000)).is_ok());
        let e = check(&chain("+", 5000)).unwrap_err();
        assert_eq!(
            e,
            ShapeError::TooDeep {
                depth: 4999,
                max: MAX_EXPRESSION_DEPTH
            }
        );
        assert!(e.to_string().contains("IN ("), "{e}");
        let e = check(&format!("SELECT '{}'", "x".repeat(MAX_QUERY_BYTES))).unwrap_err();
        assert!(matches!(e, ShapeError::TooLong { .. }), "{e}");
        // unbalanced or unreadable text is left to the parser
        assert!(check("SELECT ((1").is_ok());
        assert!(check("SELECT 'unterminated").is_ok());
    }
}
