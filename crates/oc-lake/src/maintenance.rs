//! Keeping a lake small: `vacuum` removes the files no version within the retention needs —
//! those replaced by later refreshes, and those a failed or killed run wrote and never
//! committed — and never a file the current version or a retained one reads; `compact`
//! rewrites a table's many small files into few (Delta's OPTIMIZE).

use std::time::Duration;

use crate::store::{Lake, LakeError};

/// What `vacuum` removed (or would remove, in a dry run) from one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vacuumed {
    pub table: String,
    /// Paths relative to the table's folder.
    pub files: Vec<String>,
}

/// What `compact` did to one table: how many files it replaced by how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Compacted {
    pub removed: u64,
    pub added: u64,
}

impl Lake {
    /// Rewrites the small files of `table` into files of up to Delta's target size, in the
    /// lake's Parquet layout, as a commit that changes no row (`dataChange: false`, Delta's
    /// OPTIMIZE): readers see the same rows at every version, and the replaced files stay until
    /// `vacuum`. For tables that grow by appends (the `_ops` tables get one file per run).
    /// Returns `None` for a table that is not in the lake.
    pub async fn compact(&self, table: &str) -> Result<Option<Compacted>, LakeError> {
        let Some(delta) = self.load(table).await? else {
            return Ok(None);
        };
        let err = |source| LakeError::delta(table, source);
        let schema = delta.snapshot().map_err(err)?.snapshot().arrow_schema();
        let (_, metrics) = delta
            .optimize()
            .with_type(deltalake::operations::optimize::OptimizeType::Compact)
            .with_writer_properties(crate::write::writer_properties(&schema))
            .await
            .map_err(err)?;
        Ok(Some(Compacted {
            removed: metrics.num_files_removed,
            added: metrics.num_files_added,
        }))
    }

    /// Removes the files of `table` that no version newer than `retain` references (with
    /// `dry_run`, only lists them). Holds the table's lock, so it never runs beside a refresh
    /// of the same table. Returns `None` for a table that is not in the lake.
    pub async fn vacuum(
        &self,
        table: &str,
        retain: chrono::Duration,
        dry_run: bool,
    ) -> Result<Option<Vacuumed>, LakeError> {
        let Some(delta) = self.load(table).await? else {
            return Ok(None);
        };
        let run = format!("vacuum-{}", std::process::id());
        let lock = self.lock(table, &run, Duration::ZERO).await?;
        let result = delta
            .vacuum()
            .with_retention_period(retain)
            // The retention is the user's choice here (the table's default is 7 days).
            .with_enforce_retention_duration(false)
            .with_dry_run(dry_run)
            // Full: also the files no commit ever referenced (a run that failed or was killed).
            .with_mode(deltalake::operations::vacuum::VacuumMode::Full)
            .await;
        lock.release().await;
        let (_, metrics) = result.map_err(|source| LakeError::delta(table, source))?;
        let mut files = metrics.files_deleted;
        files.sort();
        Ok(Some(Vacuumed {
            table: table.to_string(),
            files,
        }))
    }
}

impl Lake {
    /// The version `table` is at, and the newest version committed at or before `at` (None
    /// when none was). `None` overall for a table that is not in the lake.
    pub async fn version_at(
        &self,
        table: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<(u64, Option<u64>)>, LakeError> {
        let Some((current, commits)) = self.commits(table, None).await? else {
            return Ok(None);
        };
        // Newest first: the i-th commit is version `current - i`.
        let found = commits
            .iter()
            .enumerate()
            .find(|(_, c)| c.timestamp.is_some_and(|ms| ms <= at.timestamp_millis()))
            .map(|(i, _)| current.saturating_sub(i as u64));
        Ok(Some((current, found)))
    }

    /// The value of `key` in the metadata of `table`'s latest commit (what a run committed
    /// with its version, such as an incremental cursor). None when the table or the key is
    /// missing, so a restored or hand-made version starts over.
    pub async fn latest_commit_value(
        &self,
        table: &str,
        key: &str,
    ) -> Result<Option<serde_json::Value>, LakeError> {
        let Some((_, latest)) = self.commits(table, Some(1)).await? else {
            return Ok(None);
        };
        Ok(latest.first().and_then(|c| c.info.get(key).cloned()))
    }

    /// The table's current version and its commits, newest first (at most `limit`).
    async fn commits(
        &self,
        table: &str,
        limit: Option<usize>,
    ) -> Result<Option<(u64, Vec<deltalake::kernel::CommitInfo>)>, LakeError> {
        use futures::TryStreamExt;
        let Some(delta) = self.load(table).await? else {
            return Ok(None);
        };
        let current = delta.version().unwrap_or(0);
        let commits = delta
            .history(limit)
            .try_collect()
            .await
            .map_err(|source| LakeError::delta(table, source))?;
        Ok(Some((current, commits)))
    }

    /// Commits, as a new version of `table`, the files of its earlier `version` (Delta's
    /// RESTORE). The caller holds the table's lock. Returns the new version.
    pub async fn restore(&self, table: &str, version: u64) -> Result<u64, LakeError> {
        let err = |source| LakeError::delta(table, source);
        let delta = self.load(table).await?.ok_or_else(|| LakeError::Table {
            table: table.to_string(),
            message: "not in the lake".into(),
        })?;
        let (restored, _) = delta
            .restore()
            .with_version_to_restore(version)
            .await
            .map_err(err)?;
        Ok(restored.version().unwrap_or_default())
    }
}
