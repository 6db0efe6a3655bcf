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

/// What `compact` did to one table: how many files it replaced by how many, and the version
/// it committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Compacted {
    pub removed: u64,
    pub added: u64,
    pub version: u64,
}

/// Tables that grow by appends are compacted every this many versions (`compact_if_due`), so
/// they hold at most about this many small files. A service refreshing every few seconds made
/// thousands in `_ops.runs`, one more for every query and every reload to list and open: the
/// server's memory grew with them (docs/reliability.md, "Soak figures").
pub const COMPACT_EVERY: u64 = 50;

/// Whether an append committed as `version` is followed by a compaction.
pub fn compaction_due(version: u64) -> bool {
    version > 0 && version.is_multiple_of(COMPACT_EVERY)
}

impl Lake {
    /// Rewrites the small files of `table` into files of up to Delta's target size, in the
    /// lake's Parquet layout, as a commit that changes no row (`dataChange: false`, Delta's
    /// OPTIMIZE, bin-packing): readers see the same rows at every version, and the replaced
    /// files stay until `vacuum`. The files are streamed, never the table held in memory; a
    /// compacted file keeps its rows in the order of the files it packs, not in `cluster_by`
    /// order (the next full refresh clusters again). The values the latest commit carries for
    /// the next run (an incremental cursor, notes) are carried over, since runs read them from
    /// the latest commit; its run id is not (no run wrote this version). The caller holds the
    /// table's lock: two compactions of the same files would both commit (Delta does not see
    /// removes without data change as conflicts) and the rows would be there twice. `None`
    /// for a table not in the lake.
    pub async fn compact(&self, table: &str) -> Result<Option<Compacted>, LakeError> {
        use futures::TryStreamExt;
        let Some(delta) = self.load(table).await? else {
            return Ok(None);
        };
        let err = |source| LakeError::delta(table, source);
        let latest: Vec<deltalake::kernel::CommitInfo> =
            delta.history(Some(1)).try_collect().await.map_err(err)?;
        let carried: Vec<(String, serde_json::Value)> = latest
            .first()
            .map(|c| {
                c.info
                    .iter()
                    .filter(|(k, _)| {
                        k.starts_with("opencoll.")
                            && k.as_str() != crate::write::RUN_ID_KEY
                            && k.as_str() != crate::write::COMMIT_ID_KEY
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let schema = delta.snapshot().map_err(err)?.snapshot().arrow_schema();
        let (compacted, metrics) = delta
            .optimize()
            .with_type(deltalake::operations::optimize::OptimizeType::Compact)
            .with_writer_properties(crate::write::writer_properties(&schema))
            .with_commit_properties(
                deltalake::kernel::transaction::CommitProperties::default().with_metadata(carried),
            )
            .await
            .map_err(err)?;
        Ok(Some(Compacted {
            removed: metrics.num_files_removed,
            added: metrics.num_files_added,
            version: compacted.version().unwrap_or_default(),
        }))
    }

    /// After an append committed as `version`: compacts `table` every `COMPACT_EVERY`
    /// versions and returns the version the compaction committed. The caller holds the
    /// table's lock. A failure is logged, not returned: compaction only makes reading cheaper
    /// (when another writer's commit won, the rows are all there and the next compaction
    /// covers these files).
    pub async fn compact_if_due(&self, table: &str, version: u64) -> Option<u64> {
        if !compaction_due(version) {
            return None;
        }
        match self.compact(table).await {
            Ok(Some(c)) => {
                tracing::debug!("{table}: {} files compacted into {}", c.removed, c.added);
                Some(c.version)
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!("{table}: compaction skipped: {e}");
                None
            }
        }
    }

    /// Removes the files of `table` that no version newer than `retain` references (with
    /// `dry_run`, only lists them). Holds the table's lock, so it never runs beside a refresh
    /// of the same table, nor beside an append to an `_ops` table (which are short: those
    /// are waited for). The table is read under the lock: a version committed just before
    /// would otherwise be unknown to it, and its new files taken for a failed run's. Returns
    /// `None` for a table that is not in the lake.
    pub async fn vacuum(
        &self,
        table: &str,
        retain: chrono::Duration,
        dry_run: bool,
    ) -> Result<Option<Vacuumed>, LakeError> {
        let run = format!("vacuum-{}", std::process::id());
        let wait = if crate::ops::is_ops_table(table) {
            crate::ops::APPEND_LOCK_WAIT
        } else {
            Duration::ZERO
        };
        let lock = self.lock(table, &run, wait).await?;
        let delta = match self.load(table).await {
            Ok(Some(delta)) => delta,
            other => {
                lock.release().await;
                return other.map(|_| None);
            }
        };
        let root = delta.table_url().to_file_path().ok();
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
        // delta-rs names a file both ways when more than one of its steps finds it
        // (absolute and relative to the table): one entry per file.
        let mut files: Vec<String> = metrics
            .files_deleted
            .into_iter()
            .map(|f| match &root {
                Some(root) => std::path::Path::new(&f)
                    .strip_prefix(root)
                    .map_or(f.clone(), |rel| rel.to_string_lossy().into_owned()),
                None => f,
            })
            .collect();
        files.sort();
        files.dedup();
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

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use arrow::array::{AsArray, Int64Array, RecordBatch};
    use arrow::datatypes::Int64Type;

    use super::*;
    use crate::{SchemaChange, TableWrite, WriteMode};

    async fn append(lake: &Lake, values: Vec<i64>, cursor: &str) -> u64 {
        let batch = RecordBatch::try_from_iter([(
            "n",
            Arc::new(Int64Array::from(values)) as arrow::array::ArrayRef,
        )])
        .unwrap();
        let mut w = TableWrite::begin(
            lake,
            "t.appended",
            batch.schema(),
            &[],
            WriteMode::Append,
            SchemaChange::Fail,
        )
        .await
        .unwrap();
        w.write(batch).await.unwrap();
        let meta = HashMap::from([
            ("opencoll.cursor".to_string(), serde_json::json!(cursor)),
            (crate::RUN_ID_KEY.to_string(), serde_json::json!("run-1")),
        ]);
        w.commit(meta).await.unwrap()
    }

    /// Every row of the files `table`'s current version reads, read straight from the Parquet
    /// files; asserts there are `files` of them.
    pub(crate) async fn read_active_files(
        lake: &Lake,
        table: &str,
        files: usize,
    ) -> Vec<RecordBatch> {
        let delta = lake.load(table).await.unwrap().unwrap();
        let uris: Vec<String> = delta.get_file_uris().unwrap().collect();
        assert_eq!(uris.len(), files, "{uris:?}");
        let mut batches = Vec::new();
        for f in &uris {
            let path = url::Url::parse(f)
                .ok()
                .and_then(|u| u.to_file_path().ok())
                .unwrap_or_else(|| f.into());
            let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(
                std::fs::File::open(path).unwrap(),
                1024,
            )
            .unwrap();
            batches.extend(reader.map(Result::unwrap));
        }
        batches
    }

    /// Compaction keeps every row, in the order of the files it packs, and carries the
    /// incremental cursor of the latest commit (not its run id) to its own commit.
    #[tokio::test]
    async fn compaction_keeps_rows_and_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        append(&lake, vec![30, 10], "c1").await;
        append(&lake, vec![20, 5], "c2").await;
        let last = append(&lake, vec![25, 1], "c3").await;
        let c = lake.compact("t.appended").await.unwrap().unwrap();
        assert_eq!((c.removed, c.added, c.version), (3, 1, last + 1));
        let cursor = lake
            .latest_commit_value("t.appended", "opencoll.cursor")
            .await
            .unwrap();
        assert_eq!(cursor, Some(serde_json::json!("c3")));
        let run = lake
            .latest_commit_value("t.appended", crate::RUN_ID_KEY)
            .await
            .unwrap();
        assert_eq!(run, None);

        let mut values = Vec::new();
        for b in read_active_files(&lake, "t.appended", 1).await {
            let n = b.column(0).as_primitive::<Int64Type>();
            values.extend((0..n.len()).map(|i| n.value(i)));
        }
        values.sort();
        assert_eq!(values, vec![1, 5, 10, 20, 25, 30]);
    }

    #[tokio::test]
    async fn a_missing_table_is_not_compacted() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        assert_eq!(lake.compact("t.none").await.unwrap(), None);
        assert_eq!(lake.compact_if_due("t.none", COMPACT_EVERY).await, None);
        assert_eq!(lake.compact_if_due("t.none", 7).await, None);
    }
}
