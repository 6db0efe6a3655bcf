//! `opencoll restore`: a table brought back to an earlier version by a new commit (Delta's
//! RESTORE: time travel stays possible both ways), recorded in `_ops.runs` as a copy of the
//! run that had committed that version, so the next refresh judges the table as that run
//! left it (it skips it when definition, sources and inputs are those of that run).

use std::time::Duration;

use chrono::{DateTime, Utc};
use oc_lake::ops::{RUNS, RunRecord, record_run};
use oc_lake::{Lake, LakeError};
use oc_sql::LakeTables;

#[derive(Debug, Clone, Copy)]
pub enum RestoreTarget {
    Version(u64),
    /// The newest version committed at or before this time.
    Timestamp(DateTime<Utc>),
}

#[derive(Debug, Clone)]
pub struct Restored {
    pub table: String,
    /// The version the table was at.
    pub from: u64,
    /// The version brought back.
    pub restored: u64,
    /// The new version (a commit with the restored version's files).
    pub version: u64,
    pub run_id: String,
    /// The run whose record was copied, if `_ops.runs` has the one that committed `restored`.
    pub copied_run: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("no table {0} in the lake")]
    NoTable(String),
    #[error(
        "{0} is the lake's record of its runs and checks, which a restore would cut short (every pipeline would then be refreshed again as never run): it is not restored"
    )]
    OpsTable(String),
    #[error("{table}: {message}")]
    NoVersion { table: String, message: String },
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error(transparent)]
    Sql(#[from] oc_sql::SqlError),
}

/// Restores `table` to `target`, under the table's lock (never beside a refresh of it).
pub async fn restore(
    lake: &Lake,
    table: &str,
    target: RestoreTarget,
) -> Result<Restored, RestoreError> {
    if oc_lake::ops::is_ops_table(table) {
        return Err(RestoreError::OpsTable(table.to_string()));
    }
    let run_id = format!("restore-{}", uuid::Uuid::now_v7());
    let lock = lake.lock(table, &run_id, Duration::ZERO).await?;
    let started = Utc::now();
    let result = restore_locked(lake, table, target, &run_id, started).await;
    lock.release().await;
    result
}

async fn restore_locked(
    lake: &Lake,
    table: &str,
    target: RestoreTarget,
    run_id: &str,
    started: DateTime<Utc>,
) -> Result<Restored, RestoreError> {
    let no_version = |message: String| RestoreError::NoVersion {
        table: table.to_string(),
        message,
    };
    let at = |t| lake.version_at(table, t);
    let Some((from, at_time)) = at(match target {
        RestoreTarget::Timestamp(t) => t,
        RestoreTarget::Version(_) => Utc::now(),
    })
    .await?
    else {
        return Err(RestoreError::NoTable(table.to_string()));
    };
    let version = match target {
        RestoreTarget::Version(v) => v,
        RestoreTarget::Timestamp(t) => at_time
            .ok_or_else(|| no_version(format!("no version was committed at or before {t}")))?,
    };
    if version >= from {
        return Err(no_version(format!(
            "version {version} is not an earlier version (the table is at version {from})"
        )));
    }
    let new_version = lake.restore(table, version).await.map_err(|e| {
        // delta-rs checks that the version's files are all there before it commits
        if e.to_string().contains("missing file") {
            no_version(format!(
                "version {version} can no longer be restored: `opencoll vacuum` has removed its files (it keeps those of the versions within its --retain period)"
            ))
        } else {
            e.into()
        }
    })?;
    // The run that committed the restored version (a refresh, or an earlier restore).
    let runs = LakeTables::load(lake, [RUNS]).await?.context()?;
    let runs = oc_sql::ops::successful_runs(&runs, Some(table)).await?;
    let copied = runs
        .iter()
        .rev()
        .find(|r| r.table_version == Some(version as i64));
    let record = RunRecord {
        run_id: run_id.to_string(),
        pipeline: table.to_string(),
        started_at: started,
        finished_at: Utc::now(),
        status: "success".into(),
        rows_read: copied.map_or(0, |r| r.rows_read as u64),
        rows_written: copied.map_or(0, |r| r.rows_written as u64),
        rows_rejected: copied.map_or(0, |r| r.rows_rejected as u64),
        rows_filtered: copied.map_or(0, |r| r.rows_filtered as u64),
        sources: copied.map_or("[]".into(), |r| r.sources.clone()),
        source_sha256: String::new(),
        // Without the run that made it, the next refresh runs the pipeline again.
        definition_sha256: copied.map_or(String::new(), |r| r.definition_sha256.clone()),
        dependencies: copied.map_or("{}".into(), |r| r.dependencies.clone()),
        table_version: Some(new_version),
        error: None,
    };
    record_run(lake, &record).await?;
    Ok(Restored {
        table: table.to_string(),
        from,
        restored: version,
        version: new_version,
        run_id: run_id.to_string(),
        copied_run: copied.map(|r| r.run_id.clone()),
    })
}
