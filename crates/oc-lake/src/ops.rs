//! Operational tables, in the lake itself so they are queryable in SQL and work on any store:
//! `_ops.runs` (one row per pipeline run) and `_ops.rejects` (rows that could not be loaded).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, Utc};

use crate::store::{Lake, LakeError};
use crate::write::{TableWrite, WriteMode};

pub const RUNS: &str = "_ops.runs";
pub const REJECTS: &str = "_ops.rejects";
pub const CHECKS: &str = "_ops.checks";

#[derive(Debug, Clone)]
pub struct RunRecord {
    pub run_id: String,
    pub pipeline: String,
    pub started_at: DateTime<Utc>,
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
    /// JSON object {table: version} of the lake tables the pipeline's SQL read.
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

pub async fn record_run(lake: &Lake, r: &RunRecord) -> Result<(), LakeError> {
    let s =
        |v: &str| -> ArrayRef { Arc::new(arrow::array::StringArray::from(vec![v.to_string()])) };
    let i = |v: u64| -> ArrayRef { Arc::new(arrow::array::Int64Array::from(vec![v as i64])) };
    let t = |d: &DateTime<Utc>| -> ArrayRef {
        let mut b = TimestampMicrosecondBuilder::new().with_timezone("UTC");
        b.append_value(d.timestamp_micros());
        Arc::new(b.finish())
    };
    let mut version = Int64Builder::new();
    version.append_option(r.table_version.map(|v| v as i64));
    let mut error = StringBuilder::new();
    error.append_option(r.error.as_deref());
    let batch = RecordBatch::try_new(
        runs_schema(),
        vec![
            s(&r.run_id),
            s(&r.pipeline),
            t(&r.started_at),
            t(&r.finished_at),
            s(&r.status),
            i(r.rows_read),
            i(r.rows_written),
            i(r.rows_rejected),
            i(r.rows_filtered),
            s(&r.sources),
            s(&r.source_sha256),
            s(&r.definition_sha256),
            s(&r.dependencies),
            Arc::new(version.finish()),
            Arc::new(error.finish()),
        ],
    )
    .expect("runs schema");
    append(lake, RUNS, runs_schema(), vec![batch]).await
}

pub async fn record_rejects(
    lake: &Lake,
    run_id: &str,
    pipeline: &str,
    rejects: &[RejectRecord],
) -> Result<(), LakeError> {
    if rejects.is_empty() {
        return Ok(());
    }
    let mut batches = Vec::new();
    for chunk in rejects.chunks(64 * 1024) {
        let mut cols: [StringBuilder; 6] = Default::default();
        let mut line = Int64Builder::new();
        for r in chunk {
            cols[0].append_value(run_id);
            cols[1].append_value(pipeline);
            cols[2].append_value(&r.file);
            line.append_value(r.line as i64);
            cols[3].append_option(r.column.as_deref());
            cols[4].append_option(r.value.as_deref());
            cols[5].append_value(&r.reason);
        }
        let [mut run, mut pip, mut file, mut col, mut val, mut reason] = cols;
        batches.push(
            RecordBatch::try_new(
                rejects_schema(),
                vec![
                    Arc::new(run.finish()),
                    Arc::new(pip.finish()),
                    Arc::new(file.finish()),
                    Arc::new(line.finish()),
                    Arc::new(col.finish()),
                    Arc::new(val.finish()),
                    Arc::new(reason.finish()),
                ],
            )
            .expect("rejects schema"),
        );
    }
    append(lake, REJECTS, rejects_schema(), batches).await
}

async fn append(
    lake: &Lake,
    name: &str,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<(), LakeError> {
    // Runs of independent pipelines append at the same time: Delta retries conflicting blind
    // appends itself, but two first commits race to create the table; the loser retries as an
    // append to the table the winner created.
    let mut attempt = 0;
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
            Ok(_) => return Ok(()),
            Err(e) if attempt < 4 => {
                attempt += 1;
                tracing::debug!("append to {name} failed ({e}), retrying");
                tokio::time::sleep(std::time::Duration::from_millis(50 * attempt)).await;
            }
            Err(e) => return Err(e),
        }
    }
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

pub async fn record_checks(
    lake: &Lake,
    run_id: &str,
    at: DateTime<Utc>,
    checks: &[CheckRecord],
) -> Result<(), LakeError> {
    if checks.is_empty() {
        return Ok(());
    }
    let mut s: [StringBuilder; 8] = Default::default();
    let (mut failing, mut total) = (Int64Builder::new(), Int64Builder::new());
    let mut time = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut error = StringBuilder::new();
    for c in checks {
        s[0].append_value(run_id);
        time.append_value(at.timestamp_micros());
        s[1].append_value(&c.dataset);
        s[2].append_value(&c.check);
        s[3].append_value(&c.kind);
        s[4].append_value(&c.severity);
        s[5].append_value(&c.status);
        failing.append_value(c.failing_rows as i64);
        total.append_value(c.total_rows as i64);
        s[6].append_value(&c.sample);
        error.append_option(c.error.as_deref());
    }
    let [
        mut run,
        mut ds,
        mut ck,
        mut kind,
        mut sev,
        mut st,
        mut sample,
        _,
    ] = s;
    let batch = RecordBatch::try_new(
        checks_schema(),
        vec![
            Arc::new(run.finish()),
            Arc::new(time.finish()),
            Arc::new(ds.finish()),
            Arc::new(ck.finish()),
            Arc::new(kind.finish()),
            Arc::new(sev.finish()),
            Arc::new(st.finish()),
            Arc::new(failing.finish()),
            Arc::new(total.finish()),
            Arc::new(sample.finish()),
            Arc::new(error.finish()),
        ],
    )
    .expect("checks schema");
    append(lake, CHECKS, checks_schema(), vec![batch]).await
}
