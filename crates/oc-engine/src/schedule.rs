//! `opencoll serve --schedule`: runs each pipeline when its `schedule:` (cron, UTC) is due,
//! skipping what did not change, retrying transient failures with backoff, and stopping
//! cleanly on SIGTERM/Ctrl-C once the run in progress has committed or rolled back.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use oc_lake::Lake;
use oc_spec::Project;
use tokio::sync::watch;

use crate::incremental::{Decision, decide, last_successful_runs};
use crate::plan::order_pipelines;
use crate::run::{RunOptions, RunReport, run_pipeline};

pub struct ScheduleOptions {
    /// Attempts after a transient failure (source unreadable, table locked).
    pub retries: u32,
    /// First backoff; doubled at each attempt.
    pub backoff: Duration,
}

/// A failure worth retrying: not bad data (rejects, failed checks), which would fail again.
fn transient(r: &RunReport) -> bool {
    let e = r.error.as_deref().unwrap_or("");
    !(e.contains("rows rejected")
        || e.contains("check(s) failed")
        || e.contains("on_schema_change"))
}

/// Runs until `shutdown` resolves. Prints one line per run.
pub async fn serve(
    project: &Project,
    lake: &Lake,
    opts: ScheduleOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let mut diags = oc_spec::Diagnostics::default();
    let ordered = order_pipelines(project, &mut diags);
    let scheduled: Vec<_> = ordered
        .into_iter()
        .filter_map(|pf| {
            let s = pf.pipeline.schedule.as_ref()?;
            s.value.parse::<croner::Cron>().ok().map(|c| (pf, c))
        })
        .collect();
    if scheduled.is_empty() {
        return Err("no pipeline has a `schedule:`".into());
    }
    let (stop_tx, mut stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let next_after = |c: &croner::Cron, t: DateTime<Utc>| c.find_next_occurrence(&t, false).ok();
    let now = Utc::now();
    let mut next: HashMap<String, Option<DateTime<Utc>>> = scheduled
        .iter()
        .map(|(pf, c)| (pf.pipeline.name.value.clone(), next_after(c, now)))
        .collect();
    for (pf, _) in &scheduled {
        let at = next[&pf.pipeline.name.value]
            .map(|t| t.to_rfc3339())
            .unwrap_or_else(|| "never".into());
        println!("scheduled {}: next run {at}", pf.pipeline.name.value);
    }
    loop {
        let Some(due) = next.values().flatten().min().copied() else {
            return Ok(());
        };
        let wait = (due - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop_rx.changed() => {
                println!("stopping: no run in progress");
                return Ok(());
            }
        }
        let now = Utc::now();
        let last = last_successful_runs(lake).await?;
        for (pf, cron) in &scheduled {
            let name = &pf.pipeline.name.value;
            if next[name].is_none_or(|t| t > now) {
                continue;
            }
            next.insert(name.clone(), next_after(cron, now));
            match decide(&project.root, lake, pf, last.get(name), false).await {
                Decision::Skip(why) => {
                    println!("{} skip    {name}: {why}", Utc::now().to_rfc3339())
                }
                Decision::Run(why) => {
                    let r = run_with_retries(&project.root, lake, pf, &opts, &stop_rx).await;
                    let status = if r.ok { "ok     " } else { "FAILED " };
                    println!(
                        "{} {status} {name} ({why}): {} read, {} written, {} rejected{}",
                        Utc::now().to_rfc3339(),
                        r.rows_read,
                        r.rows_written,
                        r.rows_rejected,
                        r.error
                            .as_deref()
                            .map(|e| format!(" — {e}"))
                            .unwrap_or_default()
                    );
                }
            }
            if *stop_rx.borrow() {
                println!("stopping after the run in progress");
                return Ok(());
            }
        }
    }
}

async fn run_with_retries(
    root: &Path,
    lake: &Lake,
    pf: &oc_spec::project::PipelineFile,
    opts: &ScheduleOptions,
    stop: &watch::Receiver<bool>,
) -> RunReport {
    let mut delay = opts.backoff;
    let mut attempt = 0;
    loop {
        let r = run_pipeline(root, lake, pf, &RunOptions::default()).await;
        if r.ok || attempt >= opts.retries || !transient(&r) || *stop.borrow() {
            return r;
        }
        attempt += 1;
        tracing::warn!(
            "{} failed ({}); retry {attempt}/{} in {:?}",
            pf.pipeline.name.value,
            r.error.as_deref().unwrap_or(""),
            opts.retries,
            delay
        );
        println!(
            "{} retry   {} in {:?} ({})",
            Utc::now().to_rfc3339(),
            pf.pipeline.name.value,
            delay,
            r.error.as_deref().unwrap_or("")
        );
        tokio::time::sleep(delay).await;
        delay *= 2;
    }
}
