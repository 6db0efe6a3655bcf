//! The read-only guard against generated statements (issue 20): writes, DDL, COPY, file and URL
//! readers, settings, dressed up with comments, case, whitespace, EXPLAIN, parentheses, CTEs
//! and neighbouring statements. Whatever the dress, neither protocol's path (the HTTP API's
//! `plan_sql`; the Postgres handler's parse, guard and read-only planning) may accept one. The
//! same dresses on harmless queries must still be accepted, so the tricks are known to parse.

use std::sync::Arc;

use datafusion::arrow::array::Int64Array;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use proptest::prelude::*;

use crate::exec;
use crate::guard::Kind;

const FORBIDDEN: &[&str] = &[
    "INSERT INTO t VALUES (1)",
    "INSERT INTO t SELECT * FROM t",
    "UPDATE t SET x = 1",
    "DELETE FROM t",
    "TRUNCATE t",
    "MERGE INTO t USING t AS s ON t.x = s.x WHEN MATCHED THEN DELETE",
    "DROP TABLE t",
    "DROP VIEW v",
    "ALTER TABLE t ADD COLUMN y INT",
    "CREATE TABLE u (x INT)",
    "CREATE TABLE u AS SELECT 1",
    "CREATE VIEW v AS SELECT 1",
    "CREATE SCHEMA s",
    "CREATE EXTERNAL TABLE u STORED AS CSV LOCATION '/etc/passwd'",
    "CREATE EXTERNAL TABLE u STORED AS PARQUET LOCATION 'https://example.org/x.parquet'",
    "COPY t TO '/tmp/x.csv'",
    "COPY (SELECT 1) TO '/tmp/x.parquet' STORED AS PARQUET",
    "COPY t FROM '/etc/passwd'",
    "SET datafusion.execution.batch_size = 1",
    "SET datafusion.catalog.information_schema = false",
    "RESET datafusion.execution.batch_size",
    "SELECT * FROM read_parquet('/etc/passwd')",
    "SELECT * FROM read_csv('https://example.org/x.csv')",
    "SELECT * FROM '/etc/passwd'",
    "SELECT * FROM 'https://example.org/x.parquet'",
    "SELECT * FROM \"s3://bucket/x.parquet\"",
    "SELECT x FROM t, read_json('file:///etc/passwd')",
    "WITH a AS (SELECT 1) SELECT * FROM read_parquet('/etc/passwd')",
    "SELECT * FROM (SELECT * FROM '/etc/passwd') AS sub",
    "PREPARE p AS INSERT INTO t VALUES (1)",
    "DECLARE c CURSOR FOR SELECT 1",
    "GRANT SELECT ON t TO u",
    "CALL p()",
];

// (Not `generate_series(…)`: DataFusion 55 looks table functions up by their exact spelling,
// so `GENERATE_SERIES(1, 3)` is "not found" whatever the guard says.)
const HARMLESS: &[&str] = &[
    "SELECT 1",
    "SELECT x FROM t",
    "SELECT sum(x) OVER (ORDER BY x) FROM t",
    "VALUES (1)",
    "SELECT count(*) FROM t WHERE x > 0",
];

#[derive(Debug, Clone)]
enum Dress {
    Case(Vec<bool>),
    Comment(&'static str),
    Spaces(&'static str),
    Explain(&'static str),
    Parens,
    Cte,
    Before,
    After,
    Semicolon,
}

/// Dresses that keep a query a query: case, comments, whitespace.
fn surface() -> impl Strategy<Value = Dress> {
    prop_oneof![
        prop::collection::vec(any::<bool>(), 64).prop_map(Dress::Case),
        prop::sample::select(&["/* x */ ", "-- c\n", "/* a /* b */ c */ ", "/**/"][..])
            .prop_map(Dress::Comment),
        prop::sample::select(&["\n", "\t", "  ", "\r\n"][..]).prop_map(Dress::Spaces),
    ]
}

/// Dresses that may only come first on a harmless query: EXPLAIN or a CTE.
fn prefix() -> impl Strategy<Value = Dress> {
    prop_oneof![
        prop::sample::select(&["EXPLAIN ", "EXPLAIN ANALYZE ", "EXPLAIN VERBOSE "][..])
            .prop_map(Dress::Explain),
        Just(Dress::Cte),
    ]
}

fn dress() -> impl Strategy<Value = Dress> {
    prop_oneof![
        3 => surface(),
        2 => prefix(),
        1 => Just(Dress::Parens),
        1 => Just(Dress::Before),
        1 => Just(Dress::After),
        1 => Just(Dress::Semicolon),
    ]
}

fn wear(sql: &str, d: &Dress) -> String {
    match d {
        // Case of letters outside quotes (quoted text keeps its meaning).
        Dress::Case(upper) => {
            let mut quoted = None;
            sql.chars()
                .enumerate()
                .map(|(i, c)| {
                    match (quoted, c) {
                        (None, '\'' | '"') => quoted = Some(c),
                        (Some(q), c) if c == q => quoted = None,
                        _ => {}
                    }
                    match (quoted, upper[i % upper.len()]) {
                        (None, true) => c.to_ascii_uppercase(),
                        (None, false) => c.to_ascii_lowercase(),
                        _ => c,
                    }
                })
                .collect()
        }
        Dress::Comment(c) => format!("{c}{sql}"),
        // (Not inside a comment: a line break there would end a `--` comment.)
        Dress::Spaces(_) if sql.contains("--") || sql.contains("/*") => sql.to_string(),
        Dress::Spaces(s) => sql.replacen(' ', s, 2),
        Dress::Explain(e) => format!("{e}{sql}"),
        Dress::Parens => format!("({sql})"),
        Dress::Cte => format!("WITH zz AS (SELECT 1) {sql}"),
        Dress::Before => format!("SELECT 1; {sql}"),
        Dress::After => format!("{sql}; SELECT 1"),
        Dress::Semicolon => format!("{sql};"),
    }
}

fn context() -> SessionContext {
    let ctx = oc_sql::session::new_context();
    let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, true)]));
    let batch =
        RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(vec![1, 2]))]).unwrap();
    ctx.register_table(
        "t",
        Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap()),
    )
    .unwrap();
    ctx
}

/// Whether the HTTP API would run `sql`.
async fn http_runs(ctx: &SessionContext, sql: &str) -> bool {
    exec::plan_sql(ctx, sql).await.is_ok()
}

/// Whether the Postgres handler would run every statement of `sql` (simple protocol: all are
/// checked first, then queries are planned read-only; session statements go to the driver
/// hooks, which only the guard's short list reaches).
async fn pg_runs(ctx: &SessionContext, sql: &str) -> bool {
    let Ok(stmts) = crate::pg::parse_and_check(sql) else {
        return false;
    };
    for (stmt, kind) in stmts {
        if kind == Kind::Query {
            let Ok(df) = ctx
                .sql_with_options(&stmt.to_string(), oc_sql::read_only())
                .await
            else {
                return false;
            };
            if exec::verify_plan(df.logical_plan()).is_err() {
                return false;
            }
        }
    }
    true
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn no_dress_lets_a_write_a_file_or_a_url_through(
        core in prop::sample::select(FORBIDDEN),
        dresses in prop::collection::vec(dress(), 0..4),
    ) {
        let sql = dresses.iter().fold(core.to_string(), |s, d| wear(&s, d));
        let (http, pg) = runtime().block_on(async {
            let ctx = context();
            (http_runs(&ctx, &sql).await, pg_runs(&ctx, &sql).await)
        });
        prop_assert!(!http, "the HTTP API would run {:?}", sql);
        prop_assert!(!pg, "the Postgres handler would run {:?}", sql);
    }

    #[test]
    fn the_same_dresses_on_harmless_queries_are_accepted(
        core in prop::sample::select(HARMLESS),
        // A query stays valid SQL under one EXPLAIN or CTE first, then any surface dresses.
        first in prop::option::of(prefix()),
        dresses in prop::collection::vec(surface(), 0..4),
        semicolon in any::<bool>(),
    ) {
        let start = first.iter().fold(core.to_string(), |s, d| wear(&s, d));
        let mut sql = dresses.iter().fold(start, |s, d| wear(&s, d));
        if semicolon {
            sql = wear(&sql, &Dress::Semicolon);
        }
        let pg = runtime().block_on(async { pg_runs(&context(), &sql).await });
        prop_assert!(pg, "the Postgres handler refuses {:?}", sql);
    }
}
