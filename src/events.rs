//! `refresh --json` / `plan --json`: the engine's events as JSON lines on standard output, one
//! object per event, for schedulers and orchestration (the DESL's). Every object has `event`
//! and `at` (UTC, RFC 3339); the fields of each kind are listed in docs/catalog-and-cli.md.
//! Progress is reported at most once a second per pipeline.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use oc_engine::{Decision, Event, Observer, RefreshSummary};
use serde_json::{Value, json};

pub struct JsonLines;

/// Prints one event with its time (`at`); `publish --json` prints its events the same way.
pub(crate) fn emit(mut v: Value) {
    v["at"] = Value::String(chrono::Utc::now().to_rfc3339());
    println!("{v}");
}

/// Last progress line per pipeline (throttling).
static LAST_PROGRESS: Mutex<Option<HashMap<String, Instant>>> = Mutex::new(None);

impl Observer for JsonLines {
    fn on(&self, event: Event<'_>) {
        match event {
            Event::Decided { pipeline, decision } => emit(json!({
                "event": "decided",
                "pipeline": pipeline,
                "action": match decision { Decision::Run { .. } => "run", Decision::Skip { .. } => "skip" },
                "reason": decision.reason(),
            })),
            Event::WaveStarted { pipelines } => {
                emit(json!({"event": "wave", "pipelines": pipelines}))
            }
            Event::Started { pipeline } => emit(json!({"event": "started", "pipeline": pipeline})),
            Event::Progress { pipeline, read } => {
                let mut last = LAST_PROGRESS.lock().unwrap_or_else(|p| p.into_inner());
                let last = last.get_or_insert_with(HashMap::new);
                let due = last
                    .get(pipeline)
                    .is_none_or(|t| t.elapsed().as_secs_f64() >= 1.0);
                if due {
                    last.insert(pipeline.to_string(), Instant::now());
                    emit(json!({
                        "event": "progress",
                        "pipeline": pipeline,
                        "rows_read": read.rows,
                        "bytes_read": read.bytes,
                        "bytes_total": read.total_bytes,
                    }));
                }
            }
            Event::Finished { report } => {
                let checks: Vec<Value> = report
                    .checks
                    .iter()
                    .map(|c| json!({"name": c.name, "status": c.status.as_str(), "failing_rows": c.failing}))
                    .collect();
                let mut v = json!({
                    "event": if report.ok { "committed" } else { "failed" },
                    "pipeline": report.pipeline,
                    "run_id": report.run_id,
                    "rows_read": report.rows_read,
                    "rows_written": report.rows_written,
                    "rows_rejected": report.rows_rejected,
                    "rows_filtered": report.rows_filtered,
                    "table_version": report.table_version,
                    "seconds": (report.seconds * 1000.0).round() / 1000.0,
                    "checks": checks,
                    "sources_failed": report
                        .sources_failed
                        .iter()
                        .map(|(file, reason)| json!({"file": file, "reason": reason}))
                        .collect::<Vec<_>>(),
                });
                if let Some(e) = &report.error {
                    v["error"] = Value::String(e.to_string());
                    v["transient"] = Value::Bool(e.is_transient());
                }
                emit(v)
            }
            _ => {}
        }
    }
}

/// The last line: what ran, failed and was skipped.
pub fn summary(s: &RefreshSummary) {
    emit(json!({
        "event": "summary",
        "committed": s.runs.iter().filter(|r| r.ok).map(|r| r.pipeline.as_str()).collect::<Vec<_>>(),
        "failed": s.runs.iter().filter(|r| !r.ok).map(|r| r.pipeline.as_str()).collect::<Vec<_>>(),
        "skipped": s.skipped,
    }))
}
