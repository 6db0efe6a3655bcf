//! Typed reads of the operational tables (`_ops.runs`): one query and one row type, used by
//! incremental refresh, `opencoll catalog`, `history` and the HTTP API alike.

use arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::session::{SqlError, read_only};

/// A row of `_ops.runs` as readers need it (timestamps as text, JSON columns as text).
#[derive(Debug, Clone, Deserialize)]
pub struct RunRow {
    pub run_id: String,
    pub pipeline: String,
    pub started_at: String,
    pub finished_at: String,
    pub status: String,
    pub rows_read: i64,
    pub rows_written: i64,
    pub rows_rejected: i64,
    pub rows_filtered: i64,
    /// JSON array of {file, sha256, bytes, mtime, rows}.
    pub sources: String,
    pub definition_sha256: String,
    /// JSON object {table: version}.
    pub dependencies: String,
    pub table_version: Option<i64>,
    pub error: Option<String>,
}

const RUN_COLUMNS: &str = "run_id, pipeline, CAST(started_at AS VARCHAR) AS started_at, \
    CAST(finished_at AS VARCHAR) AS finished_at, status, rows_read, rows_written, rows_rejected, \
    rows_filtered, sources, definition_sha256, dependencies, table_version, error";

/// Successful runs, oldest first (`pipeline`: of that pipeline only).
pub async fn successful_runs(
    ctx: &SessionContext,
    pipeline: Option<&str>,
) -> Result<Vec<RunRow>, SqlError> {
    let filter = pipeline
        .map(|p| format!(" AND pipeline = {}", literal(p)))
        .unwrap_or_default();
    query_rows(
        ctx,
        &format!(
            "SELECT {RUN_COLUMNS} FROM _ops.runs WHERE status = 'success'{filter} ORDER BY finished_at"
        ),
    )
    .await
}

/// The query `opencoll history` prints: past runs, newest first, with their duration.
pub fn history_sql(pipeline: Option<&str>, limit: usize) -> String {
    let filter = pipeline
        .map(|p| format!("WHERE pipeline = {}", literal(p)))
        .unwrap_or_default();
    format!(
        "SELECT CAST(finished_at AS VARCHAR) AS finished_at, pipeline, status, rows_read, rows_written, rows_rejected, \
         table_version, round(date_part('epoch', finished_at) - date_part('epoch', started_at), 1) AS seconds, error \
         FROM _ops.runs {filter} ORDER BY finished_at DESC LIMIT {limit}"
    )
}

/// Runs a read-only query and reads its rows into structs by column name.
pub async fn query_rows<T: DeserializeOwned>(
    ctx: &SessionContext,
    sql: &str,
) -> Result<Vec<T>, SqlError> {
    let batches = ctx
        .sql_with_options(sql, read_only())
        .await?
        .collect()
        .await?;
    rows_of(&batches)
}

/// Record batches into structs whose field names are the columns (through arrow-json, which
/// writes every Arrow type, views and decimals included).
pub fn rows_of<T: DeserializeOwned>(batches: &[RecordBatch]) -> Result<Vec<T>, SqlError> {
    let mut w = arrow::json::ArrayWriter::new(Vec::new());
    for b in batches {
        w.write(b).map_err(|e| SqlError::Other(e.to_string()))?;
    }
    w.finish().map_err(|e| SqlError::Other(e.to_string()))?;
    let bytes = w.into_inner();
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&bytes).map_err(|e| SqlError::Other(format!("reading rows: {e}")))
}

/// A SQL string literal.
pub fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{LakeTables, new_context, register_empty_ops};

    #[tokio::test]
    async fn runs_are_read_by_column_name_even_before_the_first_run() {
        let ctx = new_context();
        register_empty_ops(&ctx, |_| false).unwrap();
        assert!(successful_runs(&ctx, None).await.unwrap().is_empty());
        // _ops.checks exists before any check ran, like the others
        let n: Vec<serde_json::Value> = query_rows(&ctx, "SELECT count(*) AS n FROM _ops.checks")
            .await
            .unwrap();
        assert_eq!(n[0]["n"], 0);

        let dir = std::env::temp_dir().join(format!("oc-sql-ops-{}", std::process::id()));
        let lake = oc_lake::Lake::open(dir.to_str().unwrap()).unwrap();
        let t = chrono::DateTime::from_timestamp(1_750_000_000, 0).unwrap();
        for (id, status) in [("a", "success"), ("b", "failed"), ("c", "success")] {
            let r = oc_lake::ops::RunRecord {
                run_id: id.into(),
                pipeline: "ref.x".into(),
                started_at: t,
                finished_at: t + chrono::Duration::seconds(id.len() as i64 + (id == "c") as i64),
                status: status.into(),
                rows_read: 3,
                rows_written: 2,
                rows_rejected: 1,
                rows_filtered: 0,
                sources: "[]".into(),
                source_sha256: String::new(),
                definition_sha256: "def".into(),
                dependencies: "{\"ref.y\":4}".into(),
                table_version: Some(5),
                error: None,
            };
            oc_lake::ops::record_run(&lake, &r).await.unwrap();
        }
        let ctx = LakeTables::load_all(&lake)
            .await
            .unwrap()
            .context()
            .unwrap();
        let runs = successful_runs(&ctx, Some("ref.x")).await.unwrap();
        let ids: Vec<&str> = runs.iter().map(|r| r.run_id.as_str()).collect();
        assert_eq!(ids, ["a", "c"]);
        assert_eq!(runs[1].table_version, Some(5));
        assert_eq!(runs[1].dependencies, "{\"ref.y\":4}");
        assert!(
            runs[0].finished_at.starts_with("2025-06-15T15:06:41"),
            "{}",
            runs[0].finished_at
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
