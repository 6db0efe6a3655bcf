//! `opencoll publish`: writes a release, showing each dataset as it is written. On a terminal,
//! a bar per dataset (rows written of the table's rows, with the speed and the time left; a
//! spinner with rows for a view, whose rows are known only once computed); elsewhere a line
//! per dataset; with `--json`, one JSON object per event for schedulers.

use std::sync::Mutex;

use anyhow::Result;
use oc_engine::publish::{PublishEvent, PublishObserver};
use serde_json::json;

use crate::events::emit;

/// Bars on a terminal, lines elsewhere.
struct Printer {
    tty: bool,
    bar: Mutex<Option<indicatif::ProgressBar>>,
}

impl PublishObserver for Printer {
    fn on(&self, event: PublishEvent<'_>) {
        let mut bar = self.bar.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            PublishEvent::Started { dataset, rows } if self.tty => {
                let b = match rows {
                    Some(n) => indicatif::ProgressBar::new(n).with_style(crate::style(
                        "{msg} [{bar:24}] {pos}/{len} rows ({per_sec}, ETA {eta})",
                    )),
                    None => indicatif::ProgressBar::new_spinner()
                        .with_style(crate::style("{spinner} {msg} {pos} rows ({per_sec})")),
                };
                b.set_message(dataset.to_string());
                b.enable_steady_tick(std::time::Duration::from_millis(120));
                *bar = Some(b);
            }
            PublishEvent::Started { dataset, .. } => eprintln!("publishing {dataset}…"),
            PublishEvent::Progress { rows, .. } => {
                if let Some(b) = bar.as_ref() {
                    b.set_position(rows);
                }
            }
            PublishEvent::Written {
                dataset,
                rows,
                bytes,
                seconds,
            } => {
                if let Some(b) = bar.take() {
                    b.finish_and_clear();
                }
                println!(
                    "published {dataset}: {rows} rows ({}, {seconds:.1} s)",
                    indicatif::HumanBytes(bytes)
                );
            }
        }
    }
}

/// One JSON object per event (`at` in UTC, RFC 3339); progress at most once a second.
struct JsonLines {
    last: Mutex<std::time::Instant>,
}

impl PublishObserver for JsonLines {
    fn on(&self, event: PublishEvent<'_>) {
        match event {
            PublishEvent::Started { dataset, rows } => {
                emit(json!({"event": "started", "dataset": dataset, "rows_total": rows}))
            }
            PublishEvent::Progress { dataset, rows } => {
                let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
                if last.elapsed().as_secs_f64() >= 1.0 {
                    *last = std::time::Instant::now();
                    emit(json!({"event": "progress", "dataset": dataset, "rows_written": rows}));
                }
            }
            PublishEvent::Written {
                dataset,
                rows,
                bytes,
                seconds,
            } => emit(json!({
                "event": "written", "dataset": dataset, "rows": rows, "bytes": bytes, "seconds": seconds,
            })),
        }
    }
}

pub async fn run(
    project: &oc_spec::Project,
    lake: &oc_lake::Lake,
    session: &oc_sql::LakeSession,
    release: Option<String>,
    json: bool,
) -> Result<()> {
    let observer: Box<dyn PublishObserver> = if json {
        Box::new(JsonLines {
            last: Mutex::new(std::time::Instant::now()),
        })
    } else {
        Box::new(Printer {
            tty: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            bar: Mutex::new(None),
        })
    };
    let result = oc_engine::publish::publish(project, lake, session, release, &*observer).await;
    let r = match result {
        Ok(r) => r,
        Err(e) if json => {
            emit(json!({"event": "failed", "error": e.to_string()}));
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    if json {
        emit(json!({
            "event": "published", "release": r.name, "dir": r.dir.display().to_string(),
            "datasets": r.datasets.iter().map(|(d, n)| json!({"dataset": d, "rows": n})).collect::<Vec<_>>(),
        }));
    } else {
        println!(
            "release {} in {} (latest.json updated)",
            r.name,
            r.dir.display()
        );
    }
    Ok(())
}
