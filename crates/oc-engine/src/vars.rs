//! Vars whose values come from the lake (`vars: { code: { sql: "SELECT siren FROM …" } }`):
//! one source file (one page) per value. The query runs on the tables the pipeline reads
//! (the dependency graph orders it after them, and a new version of them makes it stale).
//!
//! Values end up in a path or a URL, so they are held to what codes are made of: a value with
//! a `/`, a `?` or a `..` is refused rather than allowed to point somewhere else.

use std::collections::HashSet;

use arrow::util::display::{ArrayFormatter, FormatOptions};
use indexmap::IndexMap;
use oc_spec::Pipeline;
use oc_sql::session::LakeTables;

use crate::RunError;

/// More values than this is a mistake in the query (a missing WHERE), not a set of pages.
pub const MAX_VALUES: usize = 100_000;

/// The values of each queried var, in the query's order, without duplicates and NULLs.
/// A query that fails is a SQL error (a storage error may pass); values that cannot be
/// used are the pipeline's (they would be the same again).
pub async fn resolve(
    p: &Pipeline,
    tables: &LakeTables,
) -> Result<IndexMap<String, Vec<String>>, RunError> {
    let mut out = IndexMap::new();
    let queries: Vec<_> = p.var_queries().collect();
    if queries.is_empty() {
        return Ok(out);
    }
    let ctx = tables.context().map_err(RunError::session)?;
    for (name, sql) in queries {
        let fail = |msg: String| RunError::Spec(format!("source.vars.{name}: {msg}"));
        let query = |e: datafusion::error::DataFusionError| {
            RunError::sql(format!("source.vars.{name}: "), &e)
        };
        let df = ctx
            .sql_with_options(&sql.value, oc_sql::session::read_only())
            .await
            .map_err(query)?;
        let width = df.schema().fields().len();
        if width != 1 {
            return Err(fail(format!(
                "the query returns {width} columns; it must return one (the values)"
            )));
        }
        let batches = df.collect().await.map_err(query)?;
        let mut values = Vec::new();
        let mut seen = HashSet::new();
        for b in &batches {
            let col = b.column(0);
            let f = ArrayFormatter::try_new(col.as_ref(), &FormatOptions::default())
                .map_err(|e| fail(e.to_string()))?;
            for i in 0..b.num_rows() {
                if col.is_null(i) {
                    continue;
                }
                let v = f.value(i).to_string();
                if !fits_a_path(&v) {
                    return Err(fail(format!(
                        "the value `{}` cannot be put in a path or URL (only letters, digits, `-`, `_`, `.` and `~`; not `.` or `..` alone)",
                        v.chars().take(60).collect::<String>()
                    )));
                }
                if seen.insert(v.clone()) {
                    values.push(v);
                }
                if values.len() > MAX_VALUES {
                    return Err(fail(format!(
                        "more than {MAX_VALUES} values; is a WHERE missing?"
                    )));
                }
            }
        }
        if values.is_empty() {
            return Err(fail(
                "the query returns no value: there is no file to read (is the table it reads empty?)"
                    .into(),
            ));
        }
        out.insert(name.to_string(), values);
    }
    Ok(out)
}

fn fits_a_path(v: &str) -> bool {
    !v.is_empty()
        && v != "."
        && v != ".."
        && v.len() <= 200
        && v.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'))
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_code_like_values_fit_a_path() {
        for ok in ["01001", "2A004", "210100012", "2026", "CC_Bourbon-1.2~"] {
            assert!(super::fits_a_path(ok), "{ok}");
        }
        for bad in [
            "", ".", "..", "../etc", "a/b", "a?b=1", "a b", "x#y", "%2e%2e",
        ] {
            assert!(!super::fits_a_path(bad), "{bad}");
        }
    }
}
