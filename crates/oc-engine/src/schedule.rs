//! `opencoll serve --schedule`: runs each pipeline when its `schedule:` (cron, UTC) is due,
//! through the same wave loop as `refresh` (skipping what did not change), retrying transient
//! failures with backoff, and stopping cleanly on SIGTERM/Ctrl-C once the run in progress has
//! committed or rolled back. Cron and retries are all this module adds.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use oc_lake::Lake;
use oc_spec::Project;
use oc_sql::LakeTables;
use tokio::sync::watch;

use crate::error::RefreshError;
use crate::graph::DependencyGraph;
use crate::incremental::{Decision, last_successful_runs};
use crate::refresh::{Event, Observer, RefreshOptions, run_wave};

pub struct ScheduleOptions {
    /// Attempts after a transient failure (source unreadable, table locked).
    pub retries: u32,
    /// First backoff; doubled at each attempt.
    pub backoff: Duration,
}

/// Prints one line per decision to skip and per finished run, with the reason it ran.
#[derive(Default)]
struct Lines {
    reason: Mutex<String>,
}

impl Observer for Lines {
    fn on(&self, event: Event<'_>) {
        match event {
            Event::Decided {
                pipeline,
                decision: Decision::Skip { reason },
            } => println!("{} skip    {pipeline}: {reason}", Utc::now().to_rfc3339()),
            Event::Decided { decision, .. } => {
                if let Ok(mut r) = self.reason.lock() {
                    *r = decision.reason().to_string();
                }
            }
            Event::Finished { report: r } => {
                let status = if r.ok { "ok     " } else { "FAILED " };
                let why = self.reason.lock().map(|r| r.clone()).unwrap_or_default();
                println!(
                    "{} {status} {} ({why}): {} read, {} written, {} rejected{}",
                    Utc::now().to_rfc3339(),
                    r.pipeline,
                    r.rows_read,
                    r.rows_written,
                    r.rows_rejected,
                    r.error
                        .as_ref()
                        .map(|e| format!(" — {e}"))
                        .unwrap_or_default()
                );
            }
            _ => {}
        }
    }
}

/// Runs until `shutdown` resolves. Prints one line per run.
pub async fn serve(
    project: &Project,
    lake: &Lake,
    opts: ScheduleOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RefreshError> {
    let graph = DependencyGraph::of(project);
    let ordered = graph.ordered(project, &mut oc_spec::Diagnostics::default());
    let scheduled: Vec<_> = ordered
        .into_iter()
        .filter_map(|pf| {
            let s = pf.pipeline.schedule.as_ref()?;
            s.value.parse::<croner::Cron>().ok().map(|c| (pf, c))
        })
        .collect();
    if scheduled.is_empty() {
        return Err(RefreshError::NothingScheduled);
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
    let observer: Arc<dyn Observer> = Arc::new(Lines::default());
    let refresh = RefreshOptions::default();
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
        let last =
            last_successful_runs(&LakeTables::load(lake, [oc_lake::ops::RUNS]).await?).await?;
        for (pf, cron) in &scheduled {
            let name = &pf.pipeline.name.value;
            if next[name].is_none_or(|t| t > now) {
                continue;
            }
            next.insert(name.clone(), next_after(cron, now));
            let mut delay = opts.backoff;
            let mut attempt = 0;
            loop {
                let s = run_wave(project, lake, &graph, &[*pf], &last, &refresh, &observer).await?;
                let Some(r) = s.runs.first() else { break };
                let transient = r.error.as_ref().is_some_and(|e| e.is_transient());
                if r.ok || !transient || attempt >= opts.retries || *stop_rx.borrow() {
                    break;
                }
                attempt += 1;
                let e = r
                    .error
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                tracing::warn!(
                    "{name} failed ({e}); retry {attempt}/{} in {delay:?}",
                    opts.retries
                );
                println!(
                    "{} retry   {name} in {delay:?} ({e})",
                    Utc::now().to_rfc3339()
                );
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            if *stop_rx.borrow() {
                println!("stopping after the run in progress");
                return Ok(());
            }
        }
    }
}
