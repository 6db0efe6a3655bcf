//! Operational tables, in the lake itself so they are queryable in SQL and work on any store:
//! `_ops.runs` (one row per pipeline run), `_ops.rejects` (rows that could not be loaded) and
//! `_ops.checks` (results of data tests). [`TABLES`] is the one list of them: readers register
//! the missing ones empty, so queries work before the first run.
//!
//! Rows are plain structs; [`to_batch`] turns them into a record batch of the table's schema
//! by field name (arrow-json's serde decoder), so no column is ever matched by position.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};

use crate::store::{Lake, LakeError};
use crate::write::{TableWrite, WriteMode};

pub const RUNS: &str = "_ops.runs";
pub const REJECTS: &str = "_ops.rejects";
pub const CHECKS: &str = "_ops.checks";

/// An operational table: its name and its schema.
pub type OpsTable = (&'static str, fn() -> SchemaRef);

/// Every operational table and its schema.
pub const TABLES: [OpsTable; 3] = [
    (RUNS, runs_schema),
    (REJECTS, rejects_schema),
    (CHECKS, checks_schema),
];

/// The schema of an operational table, if `name` is one.
pub fn schema_of(name: &str) -> Option<SchemaRef> {
    TABLES.iter().find(|(n, _)| *n == name).map(|(_, s)| s())
}

/// Whether `name` is one of the lake's records of itself (appended by every run, never
/// restored).
pub fn is_ops_table(name: &str) -> bool {
    TABLES.iter().any(|(n, _)| *n == name)
}

#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    pub run_id: String,
    pub pipeline: String,
    #[serde(serialize_with = "micros")]
    pub started_at: DateTime<Utc>,
    #[serde(serialize_with = "micros")]
    pub finished_at: DateTime<Utc>,
    /// `success` or `failed`.
    pub status: String,
    pub rows_read: u64,
    pub rows_written: u64,
    pub rows_rejected: u64,
    /// Rows dropped on purpose by the pipeline's transform SQL (a WHERE clause).
    pub rows_filtered: u64,
    /// JSON array of {file, sha256, bytes, rows}.
    pub sources: String,
    /// sha256 over the sources' hashes: changes when any source byte changes.
    pub source_sha256: String,
    /// sha256 of the pipeline definition.
    pub definition_sha256: String,
    /// JSON object {table: version} of the lake tables the pipeline reads.
    pub dependencies: String,
    pub table_version: Option<u64>,
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RejectRecord {
    pub file: String,
    pub line: u64,
    pub column: Option<String>,
    pub value: Option<String>,
    pub reason: String,
}

/// A row of `_ops.rejects`: a reject with its run.
#[derive(Serialize)]
struct RejectRow<'a> {
    run_id: &'a str,
    pipeline: &'a str,
    source_file: &'a str,
    line: u64,
    column: Option<&'a str>,
    value: Option<&'a str>,
    reason: &'a str,
}

#[derive(Debug, Clone)]
pub struct CheckRecord {
    pub dataset: String,
    pub check: String,
    pub kind: String,
    pub severity: String,
    pub status: String,
    pub failing_rows: u64,
    pub total_rows: u64,
    /// JSON array of example failing rows.
    pub sample: String,
    pub error: Option<String>,
}

/// A row of `_ops.checks`: a check result with its run and time.
#[derive(Serialize)]
struct CheckRow<'a> {
    run_id: &'a str,
    #[serde(serialize_with = "micros")]
    checked_at: DateTime<Utc>,
    dataset: &'a str,
    check: &'a str,
    kind: &'a str,
    severity: &'a str,
    status: &'a str,
    failing_rows: u64,
    total_rows: u64,
    sample: &'a str,
    error: Option<&'a str>,
}

/// Timestamps as microseconds since the epoch, the unit of the tables' columns.
fn micros<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_i64(t.timestamp_micros())
}

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

pub fn runs_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new("pipeline", DataType::Utf8, false),
        Field::new("started_at", ts(), false),
        Field::new("finished_at", ts(), false),
        Field::new("status", DataType::Utf8, false),
        Field::new("rows_read", DataType::Int64, false),
        Field::new("rows_written", DataType::Int64, false),
        Field::new("rows_rejected", DataType::Int64, false),
        Field::new("rows_filtered", DataType::Int64, false),
        Field::new("sources", DataType::Utf8, false),
        Field::new("source_sha256", DataType::Utf8, false),
        Field::new("definition_sha256", DataType::Utf8, false),
        Field::new("dependencies", DataType::Utf8, false),
        Field::new("table_version", DataType::Int64, true),
        Field::new("error", DataType::Utf8, true),
    ]))
}

pub fn rejects_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new("pipeline", DataType::Utf8, false),
        Field::new("source_file", DataType::Utf8, false),
        Field::new("line", DataType::Int64, false),
        Field::new("column", DataType::Utf8, true),
        Field::new("value", DataType::Utf8, true),
        Field::new("reason", DataType::Utf8, false),
    ]))
}

pub fn checks_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new("checked_at", ts(), false),
        Field::new("dataset", DataType::Utf8, false),
        Field::new("check", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("severity", DataType::Utf8, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("failing_rows", DataType::Int64, false),
        Field::new("total_rows", DataType::Int64, false),
        Field::new("sample", DataType::Utf8, false),
        Field::new("error", DataType::Utf8, true),
    ]))
}

/// Rows (structs whose field names are the columns) as one batch of `schema`.
pub fn to_batch<T: Serialize>(schema: SchemaRef, rows: &[T]) -> Result<RecordBatch, LakeError> {
    let err = |e: arrow::error::ArrowError| LakeError::Table {
        table: "_ops".into(),
        message: format!("cannot build the rows: {e}"),
    };
    let mut decoder = arrow::json::ReaderBuilder::new(schema.clone())
        .with_batch_size(rows.len().max(1))
        .build_decoder()
        .map_err(err)?;
    decoder.serialize(rows).map_err(err)?;
    Ok(decoder
        .flush()
        .map_err(err)?
        .unwrap_or_else(|| RecordBatch::new_empty(schema)))
}

pub async fn record_run(lake: &Lake, r: &RunRecord) -> Result<(), LakeError> {
    let batch = to_batch(runs_schema(), std::slice::from_ref(r))?;
    append(lake, RUNS, runs_schema(), vec![batch]).await
}

pub async fn record_rejects(
    lake: &Lake,
    run_id: &str,
    pipeline: &str,
    rejects: &[RejectRecord],
) -> Result<(), LakeError> {
    let mut batches = Vec::new();
    for chunk in rejects.chunks(64 * 1024) {
        let rows: Vec<RejectRow> = chunk
            .iter()
            .map(|r| RejectRow {
                run_id,
                pipeline,
                source_file: &r.file,
                line: r.line,
                column: r.column.as_deref(),
                value: r.value.as_deref(),
                reason: &r.reason,
            })
            .collect();
        batches.push(to_batch(rejects_schema(), &rows)?);
    }
    if batches.is_empty() {
        return Ok(());
    }
    append(lake, REJECTS, rejects_schema(), batches).await
}

pub async fn record_checks(
    lake: &Lake,
    run_id: &str,
    at: DateTime<Utc>,
    checks: &[CheckRecord],
) -> Result<(), LakeError> {
    if checks.is_empty() {
        return Ok(());
    }
    let rows: Vec<CheckRow> = checks
        .iter()
        .map(|c| CheckRow {
            run_id,
            checked_at: at,
            dataset: &c.dataset,
            check: &c.check,
            kind: &c.kind,
            severity: &c.severity,
            status: &c.status,
            failing_rows: c.failing_rows,
            total_rows: c.total_rows,
            sample: &c.sample,
            error: c.error.as_deref(),
        })
        .collect();
    let batch = to_batch(checks_schema(), &rows)?;
    append(lake, CHECKS, checks_schema(), vec![batch]).await
}

/// How long an append to an `_ops` table waits for the table's lock (held by another
/// append, a compaction or a vacuum, each a few seconds at most).
pub const APPEND_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(300);

async fn append(
    lake: &Lake,
    name: &str,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<(), LakeError> {
    // Under the table's lock: a vacuum beside an append would take the file it has written
    // and not yet committed for a failed run's, and remove it under the commit.
    let lock = lake
        .lock(
            name,
            &format!("append-{}", std::process::id()),
            APPEND_LOCK_WAIT,
        )
        .await?;
    let result = append_locked(lake, name, schema, batches).await;
    lock.release().await;
    result
}

async fn append_locked(
    lake: &Lake,
    name: &str,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<(), LakeError> {
    // Commits do not retry by themselves (write/commit.rs): one that failed (a store's
    // transient error, a conflict with a writer that took no lock) writes its rows again on
    // the latest version. The wait grows, with a random part so that two losers do not meet
    // again.
    let mut attempt: u64 = 0;
    loop {
        let result = async {
            let mut w = TableWrite::begin(
                lake,
                name,
                schema.clone(),
                &[],
                WriteMode::Append,
                crate::SchemaChange::Fail,
            )
            .await?;
            for b in &batches {
                w.write(b.clone()).await?;
            }
            w.commit(HashMap::new()).await
        }
        .await;
        match result {
            Ok(version) => {
                // One small file per run: compacted every so often (under the append's lock:
                // two compactions must not overlap).
                lake.compact_if_due(name, version).await;
                return Ok(());
            }
            Err(e) if attempt < 8 => {
                attempt += 1;
                tracing::debug!("append to {name} failed ({e}), retrying");
                let jitter = (uuid::Uuid::new_v4().as_u128() % 50) as u64;
                tokio::time::sleep(std::time::Duration::from_millis(40 * attempt + jitter)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{AsArray, Int64Array};
    use arrow::datatypes::TimestampMicrosecondType;

    #[test]
    fn rows_become_batches_by_column_name() {
        let t = DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap();
        let run = RunRecord {
            run_id: "r1".into(),
            pipeline: "ref.communes".into(),
            started_at: t,
            finished_at: t,
            status: "failed".into(),
            rows_read: 10,
            rows_written: 7,
            rows_rejected: 2,
            rows_filtered: 1,
            sources: "[]".into(),
            source_sha256: "s".into(),
            definition_sha256: "d".into(),
            dependencies: "{}".into(),
            table_version: None,
            error: Some("bad".into()),
        };
        let b = to_batch(runs_schema(), &[run]).unwrap();
        assert_eq!(b.schema(), runs_schema());
        let col = |n: &str| b.column_by_name(n).unwrap().clone();
        assert_eq!(col("pipeline").as_string::<i32>().value(0), "ref.communes");
        assert_eq!(
            col("started_at")
                .as_primitive::<TimestampMicrosecondType>()
                .value(0),
            1_700_000_000_123_456
        );
        let written = col("rows_written");
        let written = written.as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(written.value(0), 7);
        assert!(col("table_version").is_null(0));
        assert_eq!(col("error").as_string::<i32>().value(0), "bad");
    }

    fn run(id: usize) -> RunRecord {
        let t = DateTime::from_timestamp_micros(1_700_000_000_000_000 + id as i64).unwrap();
        RunRecord {
            run_id: format!("r{id}"),
            pipeline: "soak.counter".into(),
            started_at: t,
            finished_at: t,
            status: "success".into(),
            rows_read: id as u64,
            rows_written: id as u64,
            rows_rejected: 0,
            rows_filtered: 0,
            sources: "[]".into(),
            source_sha256: "s".into(),
            definition_sha256: "d".into(),
            dependencies: "{}".into(),
            table_version: Some(id as u64),
            error: None,
        }
    }

    /// A scheduled service records a run every few seconds: the runs table keeps few files
    /// (compacted every 50 versions) and every run recorded.
    #[tokio::test]
    async fn the_runs_table_is_compacted_and_keeps_every_run() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        let runs = 120;
        for i in 0..runs {
            record_run(&lake, &run(i)).await.unwrap();
        }
        let table = lake.load(RUNS).await.unwrap().unwrap();
        // 120 appends and two compactions: after version 50 (the 51st append) and after
        // version 100 (the 100th).
        assert_eq!(table.version(), Some(runs as u64 + 1));
        // The second compaction's file, then one per append after it.
        let files = 1 + (runs - 100);
        let mut ids = std::collections::BTreeSet::new();
        for b in crate::maintenance::tests::read_active_files(&lake, RUNS, files).await {
            // (the compacted file holds the strings as views)
            let col = arrow::compute::cast(
                b.column_by_name("run_id").unwrap(),
                &arrow::datatypes::DataType::Utf8,
            )
            .unwrap();
            ids.extend(
                col.as_string::<i32>()
                    .iter()
                    .map(|v| v.unwrap().to_string()),
            );
        }
        let expected: std::collections::BTreeSet<String> =
            (0..runs).map(|i| format!("r{i}")).collect();
        assert_eq!(ids, expected);
    }

    /// Runs record themselves while `vacuum --retain 0s` runs: an append holds the table's
    /// lock from its file to its commit, and vacuum reads the table under that lock, so it
    /// never takes a file being committed for a failed run's. (Without them, vacuum removed
    /// files that versions committed a moment later read, and every later read of the table
    /// failed.)
    #[tokio::test]
    async fn vacuum_beside_appends_never_removes_a_file_a_version_reads() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        record_run(&lake, &run(0)).await.unwrap();
        // interleaved in one task, at every await of either, a moment apart (the lock is
        // polled: either side back to back would keep it)
        let done = std::cell::Cell::new(false);
        let appends = async {
            for i in 1..20 {
                record_run(&lake, &run(i)).await.unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            done.set(true);
        };
        let vacuums = async {
            let mut rounds = 0;
            while !done.get() {
                lake.vacuum(RUNS, chrono::Duration::zero(), false)
                    .await
                    .unwrap()
                    .unwrap();
                rounds += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            rounds
        };
        let ((), rounds) = futures::join!(appends, vacuums);
        assert!(rounds > 1, "{rounds}");
        let table = lake.load(RUNS).await.unwrap().unwrap();
        let files = table.get_file_uris().unwrap().count();
        assert_eq!(files, 20);
        assert_eq!(
            crate::maintenance::tests::read_active_files(&lake, RUNS, files)
                .await
                .iter()
                .map(RecordBatch::num_rows)
                .sum::<usize>(),
            20
        );
    }

    /// An append waits for a vacuum of its table (which holds the lock), then goes on.
    #[tokio::test]
    async fn an_append_waits_for_the_tables_lock() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        record_run(&lake, &run(0)).await.unwrap();
        let held = lake
            .lock(RUNS, "vacuum-test", std::time::Duration::ZERO)
            .await
            .unwrap();
        let waited = std::cell::Cell::new(false);
        let append = async {
            record_run(&lake, &run(1)).await.unwrap();
            assert!(waited.get(), "the append went on while the lock was held");
        };
        let holder = async {
            tokio::time::sleep(std::time::Duration::from_millis(600)).await;
            assert_eq!(lake.load(RUNS).await.unwrap().unwrap().version(), Some(0));
            waited.set(true);
            held.release().await;
        };
        futures::join!(append, holder);
        assert_eq!(lake.load(RUNS).await.unwrap().unwrap().version(), Some(1));
    }

    #[test]
    fn every_ops_table_is_listed_once() {
        let names: Vec<&str> = TABLES.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, [RUNS, REJECTS, CHECKS]);
        assert!(
            schema_of(CHECKS)
                .unwrap()
                .field_with_name("failing_rows")
                .is_ok()
        );
        assert!(schema_of("_ops.nothing").is_none());
    }
}
