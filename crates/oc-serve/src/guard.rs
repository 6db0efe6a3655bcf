//! What a client may run: read-only queries over the lake, and the session chatter that
//! Postgres clients send (SET of client options, SHOW, BEGIN/COMMIT). Everything else is
//! refused with a message that says why, before anything is planned.

use std::ops::ControlFlow;

use datafusion::sql::parser::{DFParser, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::{
    Expr, ObjectName, Set, Statement, TableFactor, Visit, Visitor,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;

use crate::error::ServeError;

/// Table functions a query may call: they compute rows, none reads a file or a URL.
const ALLOWED_TABLE_FUNCTIONS: &[&str] = &["generate_series", "range", "unnest", "pg_get_keywords"];

/// Client options a Postgres driver sets at start-up; they only change the connection's
/// metadata (never the shared DataFusion configuration).
const ALLOWED_SET_VARIABLES: &[&str] = &[
    "application_name",
    "extra_float_digits",
    "datestyle",
    "intervalstyle",
    "bytea_output",
    "search_path",
    "statement_timeout",
    "client_encoding",
    "client_min_messages",
    "timezone",
    "time zone",
];

#[derive(Debug, PartialEq, Eq)]
pub enum Kind {
    /// A query (SELECT, WITH, VALUES, EXPLAIN of a query): planned read-only and run with limits.
    Query,
    /// Harmless session statements (SET of a client option, SHOW, transactions).
    Session,
}

/// Classifies one parsed Postgres statement, or says why it is refused.
pub fn check(stmt: &Statement) -> Result<Kind, ServeError> {
    classify(stmt).map_err(ServeError::Refused)
}

fn classify(stmt: &Statement) -> Result<Kind, String> {
    match stmt {
        Statement::Query(_) => {
            check_table_functions(stmt)?;
            Ok(Kind::Query)
        }
        Statement::Explain { statement, .. } => match classify(statement)? {
            Kind::Query => Ok(Kind::Query),
            Kind::Session => Err("EXPLAIN only applies to queries".into()),
        },
        Statement::Set(set) => check_set(set).map(|_| Kind::Session),
        Statement::ShowVariable { .. }
        | Statement::ShowVariables { .. }
        | Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. }
        | Statement::Deallocate { .. }
        | Statement::Discard { .. } => Ok(Kind::Session),
        Statement::Declare { .. } => Err(
            "server-side cursors (DECLARE) are not supported: fetch the rows of the query directly"
                .into(),
        ),
        Statement::Copy { .. } | Statement::CopyIntoSnowflake { .. } => Err(refusal(
            "COPY",
            "export results with the HTTP API instead (POST /sql with Accept: text/csv or Parquet)",
        )),
        Statement::Insert(_)
        | Statement::Update(_)
        | Statement::Delete(_)
        | Statement::Merge(_)
        | Statement::Truncate(_) => Err(refusal(
            "writing statements",
            "the lake is written by `opencoll refresh` from pipelines",
        )),
        Statement::Drop { .. } | Statement::AlterTable(_) => Err(refusal(
            "DROP/ALTER",
            "the lake is changed by `opencoll refresh` from pipelines",
        )),
        Statement::CreateTable(_)
        | Statement::CreateView(_)
        | Statement::CreateSchema { .. }
        | Statement::CreateDatabase { .. }
        | Statement::CreateFunction(_)
        | Statement::CreateIndex(_) => Err(refusal(
            "CREATE",
            "views are defined in the project's sql/ folder",
        )),
        other => Err(refusal(
            &first_words(&other.to_string()),
            "only queries (SELECT, WITH, VALUES, EXPLAIN) run here",
        )),
    }
}

/// The same check on DataFusion's own statements (its parser knows `CREATE EXTERNAL TABLE`
/// and `COPY … TO`, which read and write files).
pub fn check_df(stmt: &DfStatement) -> Result<Kind, ServeError> {
    classify_df(stmt).map_err(ServeError::Refused)
}

fn classify_df(stmt: &DfStatement) -> Result<Kind, String> {
    match stmt {
        DfStatement::Statement(s) => classify(s),
        DfStatement::CreateExternalTable(_) => Err(refusal(
            "CREATE EXTERNAL TABLE",
            "the server only reads the tables and views of the lake, never other files or URLs",
        )),
        DfStatement::CopyTo(_) => Err(refusal(
            "COPY",
            "export results with the HTTP API instead (POST /sql with Accept: text/csv or Parquet)",
        )),
        DfStatement::Explain(e) => match classify_df(&e.statement)? {
            Kind::Query => Ok(Kind::Query),
            Kind::Session => Err("EXPLAIN only applies to queries".into()),
        },
        DfStatement::Reset(_) => Err(refusal(
            "RESET",
            "the server's DataFusion options are fixed",
        )),
    }
}

/// Parses `sql` with DataFusion's parser (Postgres dialect) and checks every statement.
/// Returns the statements when all may run.
pub fn check_sql(sql: &str) -> Result<Vec<(DfStatement, Kind)>, ServeError> {
    oc_sql::shape::check(sql).map_err(|e| ServeError::TooComplex(e.to_string()))?;
    let stmts = match DFParser::parse_sql_with_dialect(sql, &PostgreSqlDialect {}) {
        Ok(s) => s,
        // DataFusion's parser only knows `COPY … TO`; `COPY … FROM` deserves a refusal too,
        // not a syntax error.
        Err(_) if first_words(sql).starts_with("COPY") => {
            return Err(ServeError::Refused(refusal(
                "COPY",
                "export results with the HTTP API instead (POST /sql with Accept: text/csv or Parquet)",
            )));
        }
        Err(e) => {
            return Err(match oc_sql::shape::from_datafusion(&e) {
                Some(s) => ServeError::TooComplex(s.to_string()),
                None => ServeError::BadRequest(e.to_string()),
            });
        }
    };
    stmts
        .into_iter()
        .map(|s| check_df(&s).map(|k| (s, k)))
        .collect()
}

/// A clearer message for a statement the Postgres-compatibility parser could not read:
/// when DataFusion's parser recognises a forbidden statement, say so.
pub fn explain_parse_failure(sql: &str) -> Option<ServeError> {
    check_sql(sql)
        .err()
        .filter(|e| matches!(e, ServeError::Refused(_) | ServeError::TooComplex(_)))
}

fn refusal(what: &str, hint: &str) -> String {
    format!("{what} refused: this server serves the lake read-only ({hint})")
}

fn first_words(sql: &str) -> String {
    sql.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase()
}

fn check_set(set: &Set) -> Result<(), String> {
    let var = match set {
        Set::SingleAssignment { variable, .. } => name_of(variable),
        Set::SetTimeZone { .. } => "timezone".to_string(),
        // SET SESSION CHARACTERISTICS AS TRANSACTION …: JDBC drivers send it; it changes nothing here.
        Set::SetTransaction { .. } => return Ok(()),
        Set::SetNames { .. } | Set::SetNamesDefault { .. } => "client_encoding".to_string(),
        _ => {
            return Err(refusal(
                "this SET",
                "only client options such as application_name or search_path may be set",
            ));
        }
    };
    if ALLOWED_SET_VARIABLES.contains(&var.as_str()) {
        Ok(())
    } else {
        Err(refusal(
            &format!("SET {var}"),
            "the server's DataFusion options are fixed; only client options such as application_name, search_path or statement_timeout may be set",
        ))
    }
}

fn name_of(n: &ObjectName) -> String {
    n.to_string().to_lowercase()
}

/// Refuses table functions other than the row generators (e.g. file readers).
fn check_table_functions(stmt: &Statement) -> Result<(), String> {
    struct V(Option<String>);
    impl Visitor for V {
        type Break = ();
        fn pre_visit_table_factor(&mut self, t: &TableFactor) -> ControlFlow<()> {
            let name = match t {
                TableFactor::Table {
                    name,
                    args: Some(_),
                    ..
                } => Some(name_of(name)),
                TableFactor::Function { name, .. } => Some(name_of(name)),
                TableFactor::TableFunction { expr, .. } => match expr {
                    Expr::Function(f) => Some(name_of(&f.name)),
                    other => Some(other.to_string()),
                },
                // A quoted file path or URL used as a table name.
                TableFactor::Table { name, .. } if looks_like_path(&name.to_string()) => {
                    self.0 = Some(format!(
                        "reading files or URLs ({name}) refused: this server serves the lake read-only (query the tables and views of the lake)"
                    ));
                    return ControlFlow::Break(());
                }
                _ => None,
            };
            if let Some(name) = name {
                // SQL folds unquoted names to lower case: GENERATE_SERIES is generate_series.
                let bare = name.rsplit('.').next().unwrap_or(&name).trim_matches('"');
                if !ALLOWED_TABLE_FUNCTIONS.contains(&bare.to_ascii_lowercase().as_str()) {
                    self.0 = Some(refusal(
                        &format!("table function {name}"),
                        "table functions that read files or URLs are not available; allowed: generate_series, range, unnest",
                    ));
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut v = V(None);
    let _ = stmt.visit(&mut v);
    match v.0 {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn looks_like_path(name: &str) -> bool {
    let n = name.trim_matches(|c| c == '"' || c == '\'');
    n.contains('/') || n.contains("://") || n.contains('\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(sql: &str) -> Result<Kind, String> {
        let mut v = check_sql(sql).map_err(|e| e.to_string())?;
        Ok(v.remove(0).1)
    }

    #[test]
    fn queries_pass() {
        for sql in [
            "SELECT 1",
            "WITH t AS (SELECT 1 AS x) SELECT * FROM t",
            "SELECT * FROM finances.balances_communes WHERE exercice = 2024",
            "SELECT * FROM generate_series(1, 3)",
            // unquoted names fold to lower case (found by guard_properties)
            "SELECT * FROM GENERATE_SERIES(1, 3)",
            "EXPLAIN SELECT 1",
            "VALUES (1)",
        ] {
            assert_eq!(kind(sql), Ok(Kind::Query), "{sql}");
        }
        for sql in [
            "SET application_name = 'psql'",
            "SET TIME ZONE 'UTC'",
            "SHOW search_path",
            "BEGIN",
            "COMMIT",
            "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED",
        ] {
            assert_eq!(kind(sql), Ok(Kind::Session), "{sql}");
        }
    }

    #[test]
    fn forbidden_statements_are_refused_with_a_reason() {
        for (sql, word) in [
            ("COPY (SELECT 1) TO '/tmp/x.csv'", "COPY"),
            ("COPY t FROM '/etc/passwd'", "COPY"),
            (
                "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'",
                "CREATE EXTERNAL TABLE",
            ),
            ("INSERT INTO t VALUES (1)", "writing"),
            ("UPDATE t SET x = 1", "writing"),
            ("DELETE FROM t", "writing"),
            ("DROP TABLE finances.balances_communes", "DROP"),
            ("CREATE TABLE t AS SELECT 1", "CREATE"),
            ("CREATE VIEW v AS SELECT 1", "CREATE"),
            ("SET datafusion.execution.batch_size = 1", "SET"),
            (
                "SELECT * FROM read_parquet('/etc/passwd')",
                "table function",
            ),
            (
                "SELECT * FROM read_csv('https://example.org/x.csv')",
                "table function",
            ),
            (
                "SELECT * FROM READ_PARQUET('/etc/passwd')",
                "table function",
            ),
            ("SELECT * FROM '/etc/passwd'", "reading files"),
            ("EXPLAIN COPY (SELECT 1) TO '/tmp/x'", "COPY"),
            ("DECLARE c CURSOR FOR SELECT 1", "cursors"),
        ] {
            let e = kind(sql).expect_err(sql);
            assert!(e.contains(word), "{sql}: {e}");
        }
    }
}
