//! One run of one pipeline: extract on a blocking thread → plan (computed columns,
//! transforms) → write → checks on the candidate version → one commit, with every row
//! accounted for and the run recorded in `_ops.runs`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use crate::checks::Status;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use chrono::Utc;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::error::DataFusionError;
use datafusion::physical_plan::common::spawn_buffered;
use futures::StreamExt;
use oc_extract::{ExtractError, FileStats, Reject, Sink, expand_sources, read_file};
use oc_lake::ops::{
    CheckRecord, RejectRecord, RunRecord, record_checks, record_rejects, record_run,
};
use oc_lake::{Lake, TableWrite, WriteMode};
use oc_spec::project::PipelineFile;
use oc_sql::LakeTables;
use sha2::{Digest, Sha256};

use crate::error::RunError;

use tokio::sync::mpsc;

use crate::plan::{PipelinePlan, plan_output};
use crate::stream::{BatchResult, ChannelStream};

/// How far a run has read: rows, and bytes of its source files out of their total (known when
/// every source is a file).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadProgress {
    pub rows: u64,
    pub bytes: u64,
    pub total_bytes: Option<u64>,
}

#[derive(Default, Clone)]
pub struct RunOptions {
    /// Called as batches are read (for progress bars).
    pub progress: Option<Arc<dyn Fn(ReadProgress) + Send + Sync>>,
    /// How long to wait for another refresh of the same table to finish.
    pub lock_wait: std::time::Duration,
    /// The source files, already expanded and fetched (by the decision to run); else the run
    /// expands and fetches them itself.
    pub sources: Option<crate::incremental::Sources>,
    /// `--full`: an incremental source is read whole and replaces the table.
    pub full: bool,
    /// The lake tables the pipeline reads, loaded for its wave; else the run loads them.
    pub tables: Option<Arc<LakeTables>>,
    /// What the pipeline reads, from the project's dependency graph; else parsed from its SQL.
    pub reads: Option<Vec<String>>,
}

#[derive(Debug, Clone)]
pub struct RunReport {
    pub pipeline: String,
    pub run_id: String,
    pub ok: bool,
    pub rows_read: u64,
    pub rows_written: u64,
    pub rows_rejected: u64,
    pub rows_filtered: u64,
    pub table_version: Option<u64>,
    pub error: Option<Arc<RunError>>,
    /// The first rejects, for the terminal; all of them are in `_ops.rejects`.
    pub rejects_sample: Vec<Reject>,
    pub seconds: f64,
    pub files: Vec<(String, FileStats)>,
    /// Versions of the lake tables the pipeline's SQL read.
    pub dependencies: BTreeMap<String, u64>,
    /// Results of the pipeline's checks on the new version.
    pub checks: Vec<crate::checks::CheckResult>,
    /// Source files left out, with why (not fetched, or not readable), when
    /// `max_failed_sources` allows it; they are in `_ops.rejects` too.
    pub sources_failed: Vec<(String, String)>,
}

/// What the reader thread sends: batches go to the plan, rejects are kept here.
struct ChannelSink {
    tx: mpsc::Sender<BatchResult>,
    rejects: Vec<Reject>,
    rows: Arc<AtomicU64>,
    /// Bytes of the source files read so far (the files' `bytes_read`), and their total.
    bytes: Arc<AtomicU64>,
    total_bytes: Option<u64>,
    progress: Option<Arc<dyn Fn(ReadProgress) + Send + Sync>>,
    /// Set when the writer failed: reading stops.
    cancel: Arc<AtomicBool>,
    /// The plan stopped reading early (a LIMIT, say): the rest is read and counted, not sent.
    closed: bool,
}

const WRITER_STOPPED: &str = "the writer stopped";

/// Commit metadata key of an incremental source's cursor.
pub const CURSOR_KEY: &str = "opencoll.cursor";

impl Sink for ChannelSink {
    fn batch(&mut self, batch: RecordBatch) -> Result<(), ExtractError> {
        let n = self
            .rows
            .fetch_add(batch.num_rows() as u64, Ordering::Relaxed)
            + batch.num_rows() as u64;
        if let Some(p) = &self.progress {
            p(ReadProgress {
                rows: n,
                bytes: self.bytes.load(Ordering::Relaxed),
                total_bytes: self.total_bytes,
            });
        }
        if self.cancel.load(Ordering::Relaxed) {
            return Err(ExtractError::new("", None, WRITER_STOPPED));
        }
        if !self.closed && self.tx.blocking_send(Ok(batch)).is_err() {
            self.closed = true;
        }
        Ok(())
    }
    fn reject(&mut self, reject: Reject) -> Result<(), ExtractError> {
        self.rejects.push(reject);
        Ok(())
    }
}

/// What the reader thread returns: the files read, the rejected rows, the files left out
/// (tolerated failures) and the error that stopped it.
type ReaderOutput = (
    Vec<(String, FileStats)>,
    Vec<Reject>,
    Vec<(String, String)>,
    Option<ExtractError>,
);

/// Holds one file's batches and rejects until the file is read whole.
#[derive(Default)]
struct HeldSink {
    batches: Vec<RecordBatch>,
    rejects: Vec<Reject>,
}

impl Sink for HeldSink {
    fn batch(&mut self, batch: RecordBatch) -> Result<(), ExtractError> {
        self.batches.push(batch);
        Ok(())
    }
    fn reject(&mut self, reject: Reject) -> Result<(), ExtractError> {
        self.rejects.push(reject);
        Ok(())
    }
}

impl HeldSink {
    fn release(self, to: &mut dyn Sink) -> Result<(), ExtractError> {
        for b in self.batches {
            to.batch(b)?;
        }
        for r in self.rejects {
            to.reject(r)?;
        }
        Ok(())
    }
}

/// Runs `pf` into `lake`: one commit on success, nothing visible on failure. Always records the
/// run in `_ops.runs` (and rejected rows in `_ops.rejects`).
pub async fn run_pipeline(
    project_root: &std::path::Path,
    lake: &Lake,
    pf: &PipelineFile,
    opts: &RunOptions,
) -> RunReport {
    let started = Utc::now();
    let clock = Instant::now();
    let run_id = uuid::Uuid::now_v7().to_string();
    let name = pf.pipeline.name.value.clone();
    let mut report = RunReport {
        pipeline: name.clone(),
        run_id: run_id.clone(),
        ok: false,
        rows_read: 0,
        rows_written: 0,
        rows_rejected: 0,
        rows_filtered: 0,
        table_version: None,
        error: None,
        rejects_sample: Vec::new(),
        seconds: 0.0,
        files: Vec::new(),
        dependencies: BTreeMap::new(),
        checks: Vec::new(),
        sources_failed: Vec::new(),
    };

    let (lock, result) = match lake.lock(&name, &run_id, opts.lock_wait).await {
        Ok(l) => {
            let r = execute(project_root, lake, pf, opts, &run_id, &mut report).await;
            (Some(l), r)
        }
        Err(e) => (None, Err(RunError::Lake(e))),
    };
    let error = result.err();
    report.ok = error.is_none();
    if !report.ok {
        // Nothing was committed: the rows the writer had taken are not in the table.
        report.rows_written = 0;
        report.rows_filtered = 0;
    }
    report.seconds = clock.elapsed().as_secs_f64();

    let sources = serde_json::Value::Array(
        report
            .files
            .iter()
            // the time the file had when it was opened: one written since is read again
            .map(|(f, s)| {
                serde_json::json!({"file": f, "sha256": s.sha256, "bytes": s.bytes, "mtime": s.mtime, "rows": s.rows_read})
            })
            .collect(),
    )
    .to_string();
    let mut h = Sha256::new();
    for (f, s) in &report.files {
        h.update(f.as_bytes());
        h.update(s.sha256.as_bytes());
    }
    let source_sha256 = hex::encode(h.finalize());
    let definition = crate::incremental::definition_sha256(pf);
    record(
        lake,
        &mut report,
        started,
        sources,
        source_sha256,
        definition,
        error,
    )
    .await;
    if let Some(l) = lock {
        l.release().await;
    }
    report
}

/// Writes the outcome of a run (a pipeline's or a materialized view's) to `_ops.runs` and sets
/// the report's error: the run's own, or the failure to record it (then the run counts as
/// failed, since the next refresh could not know what it did).
pub(crate) async fn record(
    lake: &Lake,
    report: &mut RunReport,
    started: chrono::DateTime<Utc>,
    sources: String,
    source_sha256: String,
    definition_sha256: String,
    mut error: Option<RunError>,
) {
    let record = RunRecord {
        run_id: report.run_id.clone(),
        pipeline: report.pipeline.clone(),
        started_at: started,
        finished_at: Utc::now(),
        status: if report.ok { "success" } else { "failed" }.to_string(),
        rows_read: report.rows_read,
        rows_written: report.rows_written,
        rows_rejected: report.rows_rejected,
        rows_filtered: report.rows_filtered,
        sources,
        source_sha256,
        definition_sha256,
        dependencies: serde_json::to_string(&report.dependencies).unwrap_or_default(),
        table_version: report.table_version,
        error: error.as_ref().map(ToString::to_string),
    };
    if let Err(e) = record_run(lake, &record).await {
        error = Some(RunError::NotRecorded {
            run: error.map(Box::new),
            source: e,
        });
        report.ok = false;
    }
    report.error = error.map(Arc::new);
}

async fn execute(
    root: &std::path::Path,
    lake: &Lake,
    pf: &PipelineFile,
    opts: &RunOptions,
    run_id: &str,
    report: &mut RunReport,
) -> Result<(), RunError> {
    let p = &pf.pipeline;
    let name = p.name.value.as_str();
    let plan = PipelinePlan::new(pf).map_err(RunError::Spec)?;
    let reads: Vec<String> = match &opts.reads {
        Some(r) => r.clone(),
        None => crate::graph::reads(pf).into_iter().collect(),
    };
    let tables = match &opts.tables {
        Some(t) => t.clone(),
        None => Arc::new(
            LakeTables::load(lake, reads.iter().map(String::as_str))
                .await
                .map_err(RunError::session)?,
        ),
    };
    let (mut files, failed) = match &opts.sources {
        Some(s) => (s.files.clone(), s.failed.clone()),
        None => {
            let queried = crate::vars::resolve(p, &tables).await?;
            let mut f = expand_sources(p, root, &queried);
            let failed = crate::fetch::materialize(root, &mut f, p.source.fetch.as_ref()).await;
            (f, failed)
        }
    };
    for e in failed {
        report
            .sources_failed
            .push((e.url.clone(), format!("{}: {}", e.what, e.message)));
        if report.sources_failed.len() as u64 > p.max_failed_sources {
            return Err(RunError::Fetch(e));
        }
    }
    report.dependencies =
        crate::incremental::dependency_versions(reads.iter().map(String::as_str), &tables);

    // An incremental source reads past the cursor its table's last version committed, and
    // appends; `--full` (or no cursor yet) reads everything and replaces the table.
    let mut spec = plan.spec.clone();
    let mut mode = write_mode(p);
    if let Some(db) = spec.database.as_mut()
        && db.cursor.is_some()
        && !opts.full
    {
        db.since = lake
            .latest_commit_value(name, CURSOR_KEY)
            .await?
            .and_then(|v| v.as_str().map(str::to_string));
        if db.since.is_some() {
            mode = WriteMode::Append;
        }
    }
    let appending = mode == WriteMode::Append;

    // The reader runs on a blocking thread; a small channel bounds memory.
    let (tx, rx) = mpsc::channel::<BatchResult>(4);
    let rows = Arc::new(AtomicU64::new(0));
    let progress = opts.progress.clone();
    let bytes = Arc::new(AtomicU64::new(0));
    for f in &mut files {
        f.bytes_read = Some(bytes.clone());
    }
    // (a database source's path is the project folder: no total then)
    let total_bytes = files
        .iter()
        .map(|f| {
            std::fs::metadata(&f.path)
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.len())
        })
        .sum::<Option<u64>>();
    let cancel = Arc::new(AtomicBool::new(false));
    let cancel_reader = cancel.clone();
    let tolerated = p.max_failed_sources;
    let failed_before = report.sources_failed.len() as u64;
    let reader = tokio::task::spawn_blocking(move || -> ReaderOutput {
        let mut sink = ChannelSink {
            tx,
            rejects: Vec::new(),
            rows,
            bytes,
            total_bytes,
            progress,
            cancel: cancel_reader,
            closed: false,
        };
        let mut stats = Vec::new();
        let mut skipped = Vec::new();
        for f in &files {
            // With failures tolerated, a file's rows are held until it is read whole, so that
            // a page that fails half-way leaves nothing behind.
            let read = if tolerated > failed_before {
                let mut held = HeldSink::default();
                read_file(&spec, f, &mut held).and_then(|s| held.release(&mut sink).map(|_| s))
            } else {
                read_file(&spec, f, &mut sink)
            };
            match read {
                Ok(s) => stats.push((f.display.clone(), s)),
                Err(e)
                    if e.message != WRITER_STOPPED
                        && failed_before + (skipped.len() as u64) < tolerated =>
                {
                    skipped.push((f.display.clone(), e.to_string()));
                }
                Err(e) => {
                    let _ = sink
                        .tx
                        .blocking_send(Err(DataFusionError::Execution(e.to_string())));
                    return (stats, sink.rejects, skipped, Some(e));
                }
            }
        }
        (stats, sink.rejects, skipped, None)
    });

    let outcome = write_output(lake, pf, &plan, &tables, mode, rx).await;
    if outcome.is_err() {
        cancel.store(true, Ordering::Relaxed);
    }
    let (stats, rejects, skipped, read_error) =
        reader.await.map_err(|e| RunError::Reader(e.to_string()))?;
    report.rows_read = stats.iter().map(|(_, s)| s.rows_read).sum();
    report.rows_rejected = rejects.len() as u64;
    report.files = stats;
    report.rejects_sample = rejects.iter().take(5).cloned().collect();
    report.sources_failed.extend(skipped);
    if !rejects.is_empty() || !report.sources_failed.is_empty() {
        // A source left out is recorded as a reject of line 0: the whole file.
        let records: Vec<RejectRecord> = report
            .sources_failed
            .iter()
            .map(|(file, reason)| RejectRecord {
                file: file.clone(),
                line: 0,
                column: None,
                value: None,
                reason: format!("source left out: {reason}"),
            })
            .chain(rejects.iter().map(|r| RejectRecord {
                file: r.file.clone(),
                line: r.line,
                column: r.column.clone(),
                value: r.value.clone(),
                reason: r.reason.clone(),
            }))
            .collect();
        record_rejects(lake, run_id, name, &records)
            .await
            .map_err(|source| RunError::Record {
                what: "rejected rows",
                source,
            })?;
    }

    // A read error caused whatever followed; otherwise the writer's own error is the one to show.
    let writer = match (read_error, outcome) {
        (Some(e), outcome) if e.message != WRITER_STOPPED => {
            if let Ok(w) = outcome {
                w.abort();
            }
            return Err(RunError::Source(e));
        }
        (_, Err(e)) => return Err(e),
        (_, Ok(w)) => w,
    };
    report.rows_written = writer.rows();
    let conformed = report.rows_read - report.rows_rejected;
    report.rows_filtered = conformed.saturating_sub(report.rows_written);
    if report.rows_rejected > p.max_rejects {
        writer.abort();
        let first = report
            .rejects_sample
            .first()
            .map(|r| {
                format!(
                    "; first: {}:{}: {}{}",
                    r.file,
                    r.line,
                    r.column
                        .as_deref()
                        .map(|c| format!("column {c}: "))
                        .unwrap_or_default(),
                    r.reason
                )
            })
            .unwrap_or_default();
        return Err(RunError::Rejects {
            count: report.rows_rejected,
            max: p.max_rejects,
            first,
            run_id: run_id.to_string(),
        });
    }
    if appending && report.rows_written == 0 {
        // nothing past the cursor: no empty version
        writer.abort();
        report.table_version = tables.version(name);
        return Ok(());
    }
    let mut writer = writer;
    if !p.checks.is_empty() {
        // Checks see the table as this run would leave it, before anything is committed.
        let results = match check_candidate(lake, pf, &tables, &mut writer, mode).await {
            Ok(r) => r,
            Err(e) => {
                writer.abort();
                return Err(RunError::Checks(e));
            }
        };
        let records: Vec<CheckRecord> = results.iter().map(check_record).collect();
        record_checks(lake, run_id, Utc::now(), &records)
            .await
            .map_err(|source| RunError::Record {
                what: "check results",
                source,
            })?;
        report.checks = results;
        let failed: Vec<String> = report
            .checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .map(|c| c.summary())
            .collect();
        if !failed.is_empty() {
            writer.abort();
            return Err(RunError::ChecksFailed(failed));
        }
    }
    let mut meta = HashMap::from([
        (
            oc_lake::RUN_ID_KEY.to_string(),
            serde_json::Value::String(run_id.to_string()),
        ),
        (
            "opencoll.pipeline".to_string(),
            serde_json::Value::String(name.to_string()),
        ),
    ]);
    // Footnotes and notes read around workbook tables travel with the version they describe.
    let notes: serde_json::Map<String, serde_json::Value> = report
        .files
        .iter()
        .filter(|(_, s)| !s.notes.is_empty())
        .map(|(f, s)| (f.clone(), serde_json::json!(s.notes)))
        .collect();
    if !notes.is_empty() {
        meta.insert("opencoll.notes".into(), serde_json::Value::Object(notes));
    }
    if let Some(cursor) = report
        .files
        .iter()
        .rev()
        .find_map(|(_, s)| s.cursor.clone())
    {
        meta.insert(CURSOR_KEY.into(), serde_json::Value::String(cursor));
    }
    let version = writer.commit(meta).await?;
    report.table_version = Some(version);
    if appending {
        // One file per incremental refresh: compacted every so often (the run holds the
        // table's lock). The run records the compaction's version, the one it left the table
        // at, so the next refresh does not take the compaction for someone else's change.
        if let Some(v) = lake.compact_if_due(name, version).await {
            report.table_version = Some(v);
        }
    }
    Ok(())
}

/// Plans the pipeline over the reader's batches and streams the output into a new table version.
async fn write_output(
    lake: &Lake,
    pf: &PipelineFile,
    plan: &PipelinePlan,
    tables: &LakeTables,
    mode: WriteMode,
    rx: mpsc::Receiver<BatchResult>,
) -> Result<TableWrite, RunError> {
    let p = &pf.pipeline;
    let name = p.name.value.as_str();
    let sql = |e: &datafusion::error::DataFusionError| RunError::sql("", e);
    let (schema, mut stream): (SchemaRef, datafusion::execution::SendableRecordBatchStream) =
        if plan.needs_sql {
            let ctx = tables.context().map_err(RunError::session)?;
            keep_file_order(&ctx);
            let input = StreamingTable::try_new(
                plan.input_schema.clone(),
                vec![Arc::new(ChannelStream::new(plan.input_schema.clone(), rx))],
            )
            .map_err(|e| sql(&e))?;
            let df = plan_output(&ctx, pf, Arc::new(input))
                .await
                .map_err(|(site, e)| {
                    RunError::sql_plan(format!("{}: {}: {e}", pf.path.display(), site.what))
                })?;
            let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
            let stream = df.execute_stream().await.map_err(|e| sql(&e))?;
            // Computed on a task of their own, at most two batches ahead of the writer: the
            // computed columns of one batch are evaluated while the previous one is sorted
            // and encoded, as with the repartition `keep_file_order` turns off, but in order.
            (schema, spawn_buffered(stream, 2))
        } else {
            let schema = plan.input_schema.clone();
            let s =
                futures::stream::unfold(
                    rx,
                    |mut rx| async move { rx.recv().await.map(|b| (b, rx)) },
                );
            (
                schema.clone(),
                Box::pin(
                    datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(schema, s),
                ),
            )
        };
    let on_change = match p.on_schema_change {
        oc_spec::OnSchemaChange::Fail => oc_lake::SchemaChange::Fail,
        oc_spec::OnSchemaChange::Evolve => oc_lake::SchemaChange::Evolve,
    };
    let writer = TableWrite::begin(lake, name, schema, &p.target.partition_by, mode, on_change)
        .await?
        .with_cluster_by(&p.target.cluster_by)?;
    write_all(writer, &mut stream, sql).await
}

/// The source's rows stream in as one partition, in file order. For a computed column,
/// DataFusion would deal its batches round-robin to one partition per core and merge them
/// back in whatever order the threads finish: the table's row order (and, clustered, which
/// rows share a row group) depended on thread timing, and so did the refresh's memory (a
/// 20M-row clustered refresh peaked at 580–896 MiB from run to run, against 423–447 MiB in
/// one partition: bench/README.md). `write_output` keeps the overlap. Set here, not
/// as a session default an environment variable could change: the order is what a
/// pipeline's table is. (A transform's aggregation or join still repartitions by hash; its
/// partial aggregation then runs on one thread.)
fn keep_file_order(ctx: &datafusion::prelude::SessionContext) {
    let state = ctx.state_ref();
    let mut state = state.write();
    state
        .config_mut()
        .options_mut()
        .optimizer
        .enable_round_robin_repartition = false;
}

/// Streams every batch into the new version; on an error the version is abandoned (nothing
/// committed) and the error returned, a query's through `sql`.
pub(crate) async fn write_all(
    mut writer: TableWrite,
    stream: &mut datafusion::execution::SendableRecordBatchStream,
    sql: impl Fn(&datafusion::error::DataFusionError) -> RunError,
) -> Result<TableWrite, RunError> {
    while let Some(batch) = stream.next().await {
        let written = match batch {
            Ok(b) => writer.write(b).await.map_err(RunError::from),
            Err(e) => Err(sql(&e)),
        };
        if let Err(e) = written {
            writer.abort();
            return Err(e);
        }
    }
    Ok(writer)
}

fn write_mode(p: &oc_spec::Pipeline) -> WriteMode {
    match p.target.mode {
        oc_spec::WriteMode::Replace => WriteMode::Replace,
        oc_spec::WriteMode::ReplacePartitions => WriteMode::ReplacePartitions,
    }
}

pub fn check_record(c: &crate::checks::CheckResult) -> CheckRecord {
    CheckRecord {
        dataset: c.dataset.clone(),
        check: c.name.clone(),
        kind: c.kind.clone(),
        severity: match c.severity {
            oc_spec::Severity::Error => "error".into(),
            oc_spec::Severity::Warn => "warn".into(),
        },
        status: c.status.as_str().into(),
        failing_rows: c.failing,
        total_rows: c.total,
        sample: format!("[{}]", c.sample.join(",")),
        error: c.error.clone(),
    }
}

/// Runs the pipeline's checks on the table as this run would leave it.
async fn check_candidate(
    lake: &Lake,
    pf: &PipelineFile,
    tables: &LakeTables,
    writer: &mut TableWrite,
    mode: WriteMode,
) -> Result<Vec<crate::checks::CheckResult>, String> {
    let name = pf.pipeline.name.value.as_str();
    let ctx = tables.context().map_err(|e| e.to_string())?;
    crate::candidate::register(&ctx, lake, name, writer, mode).await?;
    Ok(
        crate::checks::run_checks(&ctx, name, crate::candidate::CANDIDATE, &pf.pipeline.checks)
            .await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::physical_plan::displayable;
    use datafusion::prelude::{SessionConfig, SessionContext};

    /// A computed column over the reader's one ordered partition, as `write_output` plans it:
    /// with `keep_file_order`, no repartition (which merged batches in any order). Without it,
    /// DataFusion's plan has one, so this fails if the setting stops reaching the planner.
    #[tokio::test]
    async fn computed_columns_are_planned_in_one_ordered_partition() {
        let plan = |keep: bool| async move {
            let config = SessionConfig::new().with_target_partitions(4);
            let ctx = SessionContext::new_with_config(config);
            if keep {
                keep_file_order(&ctx);
            }
            let schema = Arc::new(Schema::new(vec![
                Field::new("n", DataType::Int64, false),
                Field::new("code", DataType::Utf8, true),
            ]));
            let (_tx, rx) = mpsc::channel::<BatchResult>(1);
            let stream = Arc::new(ChannelStream::new(schema.clone(), rx));
            let input = StreamingTable::try_new(schema, vec![stream]).unwrap();
            ctx.register_table("input", Arc::new(input)).unwrap();
            let df = ctx
                .sql("SELECT *, substr(code, 1, 2) AS dep FROM input WHERE n % 2 = 0")
                .await
                .unwrap();
            let physical = df.create_physical_plan().await.unwrap();
            displayable(physical.as_ref()).indent(true).to_string()
        };
        let kept = plan(true).await;
        assert!(!kept.contains("RepartitionExec"), "{kept}");
        let default = plan(false).await;
        assert!(
            default.contains("RepartitionExec: partitioning=RoundRobinBatch(4)"),
            "{default}"
        );
    }
}
