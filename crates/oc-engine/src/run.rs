//! One run of one pipeline.

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
use futures::StreamExt;
use oc_extract::{ExtractError, FileStats, Reject, Sink, SourceFile, expand_sources, read_file};
use oc_lake::ops::{
    CheckRecord, RejectRecord, RunRecord, record_checks, record_rejects, record_run,
};
use oc_lake::{Lake, TableWrite, WriteMode};
use oc_spec::project::PipelineFile;
use sha2::{Digest, Sha256};

use tokio::sync::mpsc;

use crate::plan::{PipelinePlan, plan_output};
use crate::stream::{BatchResult, ChannelStream};

#[derive(Default, Clone)]
pub struct RunOptions {
    /// Called with the number of rows read so far (for progress bars).
    pub progress: Option<Arc<dyn Fn(u64) + Send + Sync>>,
    /// How long to wait for another refresh of the same table to finish.
    pub lock_wait: std::time::Duration,
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
    pub error: Option<String>,
    /// The first rejects, for the terminal; all of them are in `_ops.rejects`.
    pub rejects_sample: Vec<Reject>,
    pub seconds: f64,
    pub files: Vec<(String, FileStats)>,
    /// Versions of the lake tables the pipeline's SQL read.
    pub dependencies: BTreeMap<String, u64>,
    /// Results of the pipeline's checks on the new version.
    pub checks: Vec<crate::checks::CheckResult>,
}

/// What the reader thread sends: batches go to the plan, rejects are kept here.
struct ChannelSink {
    tx: mpsc::Sender<BatchResult>,
    rejects: Vec<Reject>,
    rows: Arc<AtomicU64>,
    progress: Option<Arc<dyn Fn(u64) + Send + Sync>>,
    /// Set when the writer failed: reading stops.
    cancel: Arc<AtomicBool>,
    /// The plan stopped reading early (a LIMIT, say): the rest is read and counted, not sent.
    closed: bool,
}

const WRITER_STOPPED: &str = "the writer stopped";

impl Sink for ChannelSink {
    fn batch(&mut self, batch: RecordBatch) -> Result<(), ExtractError> {
        let n = self
            .rows
            .fetch_add(batch.num_rows() as u64, Ordering::Relaxed)
            + batch.num_rows() as u64;
        if let Some(p) = &self.progress {
            p(n);
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

type ReaderOutput = (Vec<(String, FileStats)>, Vec<Reject>, Option<ExtractError>);

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
    };

    let lock = lake.lock(&name, &run_id, opts.lock_wait).await;
    let result = match &lock {
        Ok(_) => execute(project_root, lake, pf, opts, &run_id, &mut report).await,
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = result {
        report.error = Some(e);
    } else {
        report.ok = true;
    }
    report.seconds = clock.elapsed().as_secs_f64();

    let sources = serde_json::Value::Array(
        report
            .files
            .iter()
            .map(|(f, s)| {
                let mtime = crate::incremental::mtime(&project_root.join(f));
                serde_json::json!({"file": f, "sha256": s.sha256, "bytes": s.bytes, "mtime": mtime, "rows": s.rows_read})
            })
            .collect(),
    )
    .to_string();
    let mut h = Sha256::new();
    for (f, s) in &report.files {
        h.update(f.as_bytes());
        h.update(s.sha256.as_bytes());
    }
    let record = RunRecord {
        run_id: run_id.clone(),
        pipeline: name.clone(),
        started_at: started,
        finished_at: Utc::now(),
        status: if report.ok { "success" } else { "failed" }.to_string(),
        rows_read: report.rows_read,
        rows_written: report.rows_written,
        rows_rejected: report.rows_rejected,
        rows_filtered: report.rows_filtered,
        sources,
        source_sha256: hex::encode(h.finalize()),
        definition_sha256: crate::incremental::definition_sha256(pf),
        dependencies: serde_json::to_string(&report.dependencies).unwrap_or_default(),
        table_version: report.table_version,
        error: report.error.clone(),
    };
    if let Err(e) = record_run(lake, &record).await {
        let msg = format!("could not record the run in _ops.runs: {e}");
        report.error = Some(match report.error.take() {
            Some(prev) => format!("{prev}; {msg}"),
            None => msg,
        });
        report.ok = false;
    }
    if let Ok(l) = lock {
        l.release().await;
    }
    report
}

async fn execute(
    root: &std::path::Path,
    lake: &Lake,
    pf: &PipelineFile,
    opts: &RunOptions,
    run_id: &str,
    report: &mut RunReport,
) -> Result<(), String> {
    let p = &pf.pipeline;
    let name = p.name.value.as_str();
    let plan = PipelinePlan::new(pf)?;
    let mut files: Vec<SourceFile> = expand_sources(p, root);
    crate::fetch::materialize(root, &mut files).await?;
    report.dependencies = crate::incremental::dependency_versions(lake, pf).await?;

    // The reader runs on a blocking thread; a small channel bounds memory.
    let (tx, rx) = mpsc::channel::<BatchResult>(4);
    let spec = plan.spec.clone();
    let rows = Arc::new(AtomicU64::new(0));
    let progress = opts.progress.clone();
    let cancel = Arc::new(AtomicBool::new(false));
    let cancel_reader = cancel.clone();
    let reader = tokio::task::spawn_blocking(move || -> ReaderOutput {
        let mut sink = ChannelSink {
            tx,
            rejects: Vec::new(),
            rows,
            progress,
            cancel: cancel_reader,
            closed: false,
        };
        let mut stats = Vec::new();
        for f in &files {
            match read_file(&spec, f, &mut sink) {
                Ok(s) => stats.push((f.display.clone(), s)),
                Err(e) => {
                    let _ = sink
                        .tx
                        .blocking_send(Err(DataFusionError::Execution(e.to_string())));
                    return (stats, sink.rejects, Some(e));
                }
            }
        }
        (stats, sink.rejects, None)
    });

    let outcome = write_output(lake, pf, &plan, rx).await;
    if outcome.is_err() {
        cancel.store(true, Ordering::Relaxed);
    }
    let (stats, rejects, read_error) = reader
        .await
        .map_err(|e| format!("the reader thread failed: {e}"))?;
    report.rows_read = stats.iter().map(|(_, s)| s.rows_read).sum();
    report.rows_rejected = rejects.len() as u64;
    report.files = stats;
    report.rejects_sample = rejects.iter().take(5).cloned().collect();
    if !rejects.is_empty() {
        let records: Vec<RejectRecord> = rejects
            .iter()
            .map(|r| RejectRecord {
                file: r.file.clone(),
                line: r.line,
                column: r.column.clone(),
                value: r.value.clone(),
                reason: r.reason.clone(),
            })
            .collect();
        record_rejects(lake, run_id, name, &records)
            .await
            .map_err(|e| format!("could not record rejected rows: {e}"))?;
    }

    // A read error caused whatever followed; otherwise the writer's own error is the one to show.
    let writer = match (read_error, outcome) {
        (Some(e), outcome) if e.message != WRITER_STOPPED => {
            if let Ok(w) = outcome {
                w.abort();
            }
            return Err(e.to_string());
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
        return Err(format!(
            "{} rows rejected, more than max_rejects = {}{first} (all in _ops.rejects, run {run_id})",
            report.rows_rejected, p.max_rejects
        ));
    }
    let mode = write_mode(p);
    let mut writer = writer;
    if !p.checks.is_empty() {
        // Checks see the table as this run would leave it, before anything is committed.
        let results = match check_candidate(lake, pf, &mut writer, mode).await {
            Ok(r) => r,
            Err(e) => {
                writer.abort();
                return Err(format!("could not run the checks: {e}"));
            }
        };
        let records: Vec<CheckRecord> = results.iter().map(check_record).collect();
        record_checks(lake, run_id, Utc::now(), &records)
            .await
            .map_err(|e| format!("could not record check results: {e}"))?;
        report.checks = results;
        let failed: Vec<String> = report
            .checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .map(|c| c.summary())
            .collect();
        if !failed.is_empty() {
            writer.abort();
            return Err(format!(
                "{} check(s) failed, nothing committed (the table keeps its previous version):\n          {}",
                failed.len(),
                failed.join("\n          ")
            ));
        }
    }
    let mut meta = HashMap::from([
        (
            "opencoll.run_id".to_string(),
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
    let version = writer.commit(meta).await.map_err(|e| e.to_string())?;
    report.table_version = Some(version);
    Ok(())
}

/// Plans the pipeline over the reader's batches and streams the output into a new table version.
async fn write_output(
    lake: &Lake,
    pf: &PipelineFile,
    plan: &PipelinePlan,
    rx: mpsc::Receiver<BatchResult>,
) -> Result<TableWrite, String> {
    let p = &pf.pipeline;
    let name = p.name.value.as_str();
    let (schema, mut stream): (SchemaRef, datafusion::execution::SendableRecordBatchStream) =
        if plan.needs_sql {
            let session = oc_sql::LakeSession::open(lake, &[])
                .await
                .map_err(|e| e.to_string())?;
            let input = StreamingTable::try_new(
                plan.input_schema.clone(),
                vec![Arc::new(ChannelStream::new(plan.input_schema.clone(), rx))],
            )
            .map_err(|e| e.to_string())?;
            let df = plan_output(&session.ctx, pf, Arc::new(input))
                .await
                .map_err(|(site, e)| format!("{}: {}: {e}", pf.path.display(), site.what))?;
            let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
            (
                schema,
                df.execute_stream().await.map_err(|e| e.to_string())?,
            )
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
    let mut writer = TableWrite::begin(
        lake,
        name,
        schema,
        &p.target.partition_by,
        write_mode(p),
        on_change,
    )
    .await
    .map_err(|e| e.to_string())?
    .with_cluster_by(&p.target.cluster_by)
    .map_err(|e| e.to_string())?;
    while let Some(batch) = stream.next().await {
        match batch {
            Ok(b) => {
                if let Err(e) = writer.write(b).await {
                    writer.abort();
                    return Err(e.to_string());
                }
            }
            Err(e) => {
                writer.abort();
                return Err(e.to_string());
            }
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

/// Registers the table as this run would leave it (the new files, plus for
/// `replace_partitions` the current rows of the partitions not rewritten) and runs the checks.
async fn check_candidate(
    lake: &Lake,
    pf: &PipelineFile,
    writer: &mut TableWrite,
    mode: WriteMode,
) -> Result<Vec<crate::checks::CheckResult>, String> {
    use datafusion::datasource::file_format::parquet::ParquetFormat;
    use datafusion::datasource::listing::{
        ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
    };

    let name = pf.pipeline.name.value.as_str();
    let staged = writer.stage().await.map_err(|e| e.to_string())?;
    let session = oc_sql::LakeSession::open(lake, &[])
        .await
        .map_err(|e| e.to_string())?;
    let ctx = &session.ctx;
    let schema = writer.schema();
    let parts: Vec<String> = writer.partition_by().to_vec();
    let file_schema = Arc::new(arrow::datatypes::Schema::new(
        schema
            .fields()
            .iter()
            .filter(|f| !parts.contains(f.name()))
            .cloned()
            .collect::<Vec<_>>(),
    ));
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let lit = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let mut selects = Vec::new();
    for (i, f) in staged.iter().enumerate() {
        let url = ListingTableUrl::parse(f.url.as_str()).map_err(|e| e.to_string())?;
        let opts = ListingOptions::new(Arc::new(ParquetFormat::default()));
        let cfg = ListingTableConfig::new(url)
            .with_listing_options(opts)
            .with_schema(file_schema.clone());
        let table = ListingTable::try_new(cfg).map_err(|e| e.to_string())?;
        let t = format!("__staged_{i}");
        ctx.register_table(t.as_str(), Arc::new(table))
            .map_err(|e| e.to_string())?;
        let cols: Vec<String> = schema
            .fields()
            .iter()
            .map(|fl| {
                if parts.contains(fl.name()) {
                    let v = f.partition_values.get(fl.name()).cloned().flatten();
                    let v = v.map(|v| lit(&v)).unwrap_or_else(|| "NULL".into());
                    format!(
                        "arrow_cast({v}, {}) AS {}",
                        lit(&fl.data_type().to_string()),
                        quote(fl.name())
                    )
                } else {
                    quote(fl.name())
                }
            })
            .collect();
        selects.push(format!("SELECT {} FROM {t}", cols.join(", ")));
    }
    if mode == WriteMode::ReplacePartitions && writer.table_exists() {
        let mut keys: Vec<String> = staged
            .iter()
            .map(|f| {
                parts
                    .iter()
                    .map(|p| match f.partition_values.get(p).cloned().flatten() {
                        Some(v) => format!("CAST({} AS VARCHAR) = {}", quote(p), lit(&v)),
                        None => format!("{} IS NULL", quote(p)),
                    })
                    .collect::<Vec<_>>()
                    .join(" AND ")
            })
            .collect();
        keys.sort();
        keys.dedup();
        let rewritten = if keys.is_empty() {
            "false".to_string()
        } else {
            keys.iter()
                .map(|k| format!("({k})"))
                .collect::<Vec<_>>()
                .join(" OR ")
        };
        let cols: Vec<String> = schema.fields().iter().map(|f| quote(f.name())).collect();
        selects.push(format!(
            "SELECT {} FROM {name} WHERE NOT ({rewritten})",
            cols.join(", ")
        ));
    }
    let candidate = "__candidate";
    let provider: Arc<dyn datafusion::catalog::TableProvider> = if selects.is_empty() {
        Arc::new(
            datafusion::datasource::MemTable::try_new(schema.clone(), vec![vec![]])
                .map_err(|e| e.to_string())?,
        )
    } else {
        // Planned now, so that the kept rows come from the current version of the table.
        ctx.sql(&selects.join(" UNION ALL "))
            .await
            .map_err(|e| e.to_string())?
            .into_view()
    };
    ctx.register_table(candidate, provider.clone())
        .map_err(|e| e.to_string())?;
    // A check that names the table itself (a relationship to its own rows) sees the new version.
    oc_sql::session::register(ctx, name, provider).map_err(|e| e.to_string())?;
    Ok(crate::checks::run_checks(ctx, name, candidate, &pf.pipeline.checks).await)
}
