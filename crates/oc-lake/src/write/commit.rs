//! One run's files made visible in one Delta commit, with the removal of the files they
//! replace, then a checkpoint every few commits.
//!
//! A commit whose answer was lost (the store wrote `_delta_log/N.json`, the client saw a 500 or
//! a reset, the retry found N taken) would otherwise be either a run reported failed whose
//! version is visible, or, for appends, delta-rs committing the same rows again at N+1 (its
//! conflict check sees our own commit as a concurrent blind append). So every commit carries a
//! fresh id (`COMMIT_ID_KEY`), delta-rs does not retry by itself, and a failed commit is looked
//! up by its id among the versions that followed: found, that version is this commit's. The
//! caller retries the others (the _ops appends do; data tables are locked, a conflict there is
//! another writer).

use std::collections::HashMap;

use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, StructType};
use deltalake::operations::create::CreateBuilder;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaTable, TableProperty};
use futures::TryStreamExt;

use crate::store::LakeError;

use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;

use super::{CHECKPOINT_EVERY, TableWrite, WriteMode, describe, same_columns};

/// The commit metadata that names the run which made a version.
pub const RUN_ID_KEY: &str = "opencoll.run_id";
/// The commit metadata that identifies one commit (a commit whose answer was lost is found by
/// it).
pub const COMMIT_ID_KEY: &str = "opencoll.commit_id";

impl TableWrite {
    /// Makes the written files the table's new version, in one atomic commit. Returns it.
    pub async fn commit(
        mut self,
        mut app_metadata: HashMap<String, serde_json::Value>,
    ) -> Result<u64, LakeError> {
        let mode = self.mode;
        let commit_id = uuid::Uuid::new_v4().to_string();
        app_metadata.insert(COMMIT_ID_KEY.into(), commit_id.clone().into());
        self.flush().await?;
        let adds = std::mem::take(&mut self.staged);
        // The partitions this run wrote, as Delta itself spells their values.
        for a in &adds {
            let key: Vec<Option<String>> = self
                .partition_by
                .iter()
                .map(|p| a.partition_values.get(p).cloned().flatten())
                .collect();
            self.partitions.insert(key);
        }
        let mut actions: Vec<Action> = adds.into_iter().map(Action::Add).collect();
        // Checkpoints are written after the commit, by us (`checkpoint`): in delta-rs' own
        // post-commit hook a failed checkpoint turns a commit that went through into an error.
        let props = CommitProperties::default()
            .with_metadata(app_metadata)
            .with_max_retries(0)
            .with_create_checkpoint(false);
        let delta_schema: StructType =
            (&*self.schema)
                .try_into_kernel()
                .map_err(|e: arrow::error::ArrowError| LakeError::Table {
                    table: self.name.clone(),
                    message: e.to_string(),
                })?;

        let Some(table) = self.table.take() else {
            // First version: the table is created by the same commit that adds its files.
            let url = self.writer_url();
            let t = CreateBuilder::new()
                .with_location(url)
                .with_table_name(self.name.clone())
                .with_columns(delta_schema.fields().cloned())
                .with_partition_columns(self.partition_by.clone())
                // For other Delta writers; ours follow CHECKPOINT_EVERY.
                .with_configuration_property(
                    TableProperty::CheckpointInterval,
                    Some(CHECKPOINT_EVERY.to_string()),
                )
                .with_actions(actions)
                .with_commit_properties(props)
                .await;
            return match t {
                Ok(t) => Ok(t.version().unwrap_or(0)),
                Err(e) => self.committed_anyway(None, &commit_id, e).await,
            };
        };

        let snapshot = table.snapshot().map_err(|e| self.delta_err(e))?;
        let mut save = SaveMode::Append;
        if mode != WriteMode::Append {
            save = SaveMode::Overwrite;
            let files: Vec<_> = table
                .get_active_add_actions_by_partitions(&[])
                .try_collect()
                .await
                .map_err(|e| self.delta_err(e))?;
            for f in files {
                let replace = match mode {
                    WriteMode::Replace => true,
                    WriteMode::ReplacePartitions => {
                        let values = f.partition_values_map();
                        let key: Vec<Option<String>> = self
                            .partition_by
                            .iter()
                            .map(|p| values.get(p).cloned().flatten())
                            .collect();
                        self.partitions.contains(&key)
                    }
                    WriteMode::Append => false,
                };
                if replace {
                    actions.push(Action::Remove(f.remove_action(true)));
                }
            }
        }
        // A changed schema replaces the table's metadata (only when the whole table is replaced).
        let current = snapshot.snapshot().arrow_schema();
        if !same_columns(&current, &self.schema) {
            if mode != WriteMode::Replace && !self.evolved {
                return Err(LakeError::Table {
                    table: self.name.clone(),
                    message: format!(
                        "the output's columns differ from the table's and mode is not `replace`:\n  table:  {}\n  output: {}",
                        describe(&current),
                        describe(&self.schema)
                    ),
                });
            }
            let meta = snapshot.metadata().clone();
            let meta = deltalake::kernel::MetadataExt::with_schema(meta, &delta_schema)
                .map_err(|e| self.delta_err(e.into()))?;
            actions.push(Action::Metadata(meta));
        }
        let partition_by = (!self.partition_by.is_empty()).then(|| self.partition_by.clone());
        let op = DeltaOperation::Write {
            mode: save,
            partition_by,
            predicate: None,
        };
        let base = snapshot.version();
        let finalized = CommitBuilder::from(props)
            .with_actions(actions)
            .build(Some(snapshot), table.log_store(), op)
            .await;
        let version = match finalized {
            Ok(f) => f.version(),
            Err(e) => {
                return self.committed_anyway(Some(base), &commit_id, e).await;
            }
        };
        if (version + 1) % CHECKPOINT_EVERY == 0 {
            self.checkpoint(table, version).await;
        }
        Ok(version)
    }

    /// After a failed commit: the version it made anyway (its answer lost), if one of the
    /// versions after `base` carries `commit_id`; else the commit's error.
    async fn committed_anyway(
        &self,
        base: Option<u64>,
        commit_id: &str,
        error: deltalake::DeltaTableError,
    ) -> Result<u64, LakeError> {
        let error = self.delta_err(error);
        let Ok(Some(table)) = self.lake.load(&self.name).await else {
            return Err(error);
        };
        let Some(current) = table.version() else {
            return Err(error);
        };
        let first = base.map_or(0, |b| b + 1);
        if current < first {
            return Err(error);
        }
        let newer = (current - first + 1) as usize;
        let Ok(commits) = table.history(Some(newer)).try_collect::<Vec<_>>().await else {
            return Err(error);
        };
        // Newest first: the i-th is version current - i.
        let ours = commits
            .iter()
            .position(|c| c.info.get(COMMIT_ID_KEY).and_then(|v| v.as_str()) == Some(commit_id));
        match ours {
            Some(i) => {
                let version = current - i as u64;
                tracing::info!(
                    "{}: the store's answer to the commit was lost ({error}); version {version} is this commit",
                    self.name
                );
                Ok(version)
            }
            None => Err(error),
        }
    }

    /// Writes the checkpoint of `version`. It only makes loading the table faster: if it
    /// fails, the commit stands and the next checkpoint will cover it.
    async fn checkpoint(&self, mut table: DeltaTable, version: u64) {
        let written = async {
            table.update_incremental(Some(version)).await?;
            deltalake::checkpoints::create_checkpoint(&table, None).await
        }
        .await;
        if let Err(e) = written {
            tracing::warn!(
                "{}: version {version} is committed, but its checkpoint could not be written: {e}",
                self.name
            );
        }
    }
}
