//! Writing one run's output to a table: Parquet files are streamed to storage as batches
//! arrive, and one Delta commit at the end makes them visible (with the removal of the files
//! they replace). Until that commit, readers see the previous version; if the run fails, the
//! new files are never referenced.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use deltalake::kernel::scalars::ScalarExt;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, StructType};
use deltalake::operations::create::CreateBuilder;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::{DeltaTable, TableProperty};
use futures::TryStreamExt;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use crate::cluster::{Clusterer, Group};
use crate::store::{Lake, LakeError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// The run's rows become the whole table.
    Replace,
    /// Partitions present in the run's rows are replaced; the others are kept.
    ReplacePartitions,
    /// Rows are added (operational tables).
    Append,
}

/// Rows per row group of the lake's files (and per sorted group of a clustered table).
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Target size of the Parquet files a run writes.
const TARGET_FILE_BYTES: u64 = 128 * 1024 * 1024;

/// Every refresh is a commit: a checkpoint every 10 (Delta's default is 100) keeps what
/// loading a table reads small as scheduled refreshes pile up (a table at version 46 without
/// one cost 0.15 s per refresh instead of 0.04 s).
const CHECKPOINT_EVERY: u64 = 10;

pub struct TableWrite {
    name: String,
    url: String,
    table: Option<DeltaTable>,
    writer: RecordBatchWriter,
    schema: SchemaRef,
    partition_by: Vec<String>,
    /// Partition values written by this run (as Delta writes them: text, NULL as None).
    partitions: BTreeSet<Vec<Option<String>>>,
    rows: u64,
    /// Files flushed before the commit (to be checked), added by the commit.
    staged: Vec<deltalake::kernel::Add>,
    mode: WriteMode,
    /// The table's schema gains columns with this commit.
    evolved: bool,
    /// Sorts each row group's rows (`target.cluster_by`).
    cluster: Option<Clusterer>,
}

/// What to do when a run's columns differ from the rows the table keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SchemaChange {
    #[default]
    Fail,
    /// Add new columns (nullable); missing ones are written as NULL; retyped ones still fail.
    Evolve,
}

/// Old vs new columns, for messages.
pub struct SchemaDiff {
    pub added: Vec<String>,
    pub missing: Vec<String>,
    pub retyped: Vec<String>,
}

impl SchemaDiff {
    pub fn new(old: &SchemaRef, new: &SchemaRef) -> Self {
        let mut d = SchemaDiff {
            added: vec![],
            missing: vec![],
            retyped: vec![],
        };
        for f in new.fields() {
            match old.field_with_name(f.name()) {
                Err(_) => d.added.push(format!("{} {}", f.name(), f.data_type())),
                Ok(o) if o.data_type() != f.data_type() => d.retyped.push(format!(
                    "{} {} → {}",
                    f.name(),
                    o.data_type(),
                    f.data_type()
                )),
                Ok(_) => {}
            }
        }
        for f in old.fields() {
            if new.field_with_name(f.name()).is_err() {
                d.missing.push(format!("{} {}", f.name(), f.data_type()));
            }
        }
        d
    }
}

impl SchemaDiff {
    /// Retyped columns whose change is not a lossless widening.
    pub fn narrowed(&self, old: &SchemaRef, new: &SchemaRef) -> Vec<String> {
        new.fields()
            .iter()
            .filter_map(|f| {
                let o = old.field_with_name(f.name()).ok()?;
                (o.data_type() != f.data_type() && !is_widening(o.data_type(), f.data_type()))
                    .then(|| f.name().clone())
            })
            .collect()
    }
}

/// Type changes that keep every old value exactly.
pub fn is_widening(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    match (from, to) {
        (Int8, Int16 | Int32 | Int64) | (Int16, Int32 | Int64) | (Int32, Int64) => true,
        (Float32, Float64) => true,
        (Decimal128(p1, s1), Decimal128(p2, s2)) => s1 == s2 && p2 > p1,
        _ => false,
    }
}

impl std::fmt::Display for SchemaDiff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |v: &Vec<String>| {
            if v.is_empty() {
                "-".to_string()
            } else {
                v.join(", ")
            }
        };
        write!(
            f,
            "  added:   {}\n  missing: {}\n  retyped: {}",
            list(&self.added),
            list(&self.missing),
            list(&self.retyped)
        )
    }
}

/// Parquet settings of the lake's files.
/// - Row groups of 128 Ki rows (DuckDB writes 122,880): finer min/max pruning, a file split
///   over more cores, and less memory while writing than 1 Mi rows (bench q1 at 20M rows
///   0.46 → 0.38 s, ingest 24.2 → 23.4 s, RSS 406 → 369 MB).
/// - Dictionary encoding for codes and labels (few distinct values) but not for amounts and
///   measures: nearly every value differs, so the writer hashed each one only to fall back to
///   plain pages after the first megabyte, and readers decoded a mix of both (ingest at 20M
///   rows 27.1 → 24.2 s; bench q6 0.98 → 0.84 s).
/// - Amounts (decimal up to 18 digits, stored as 64-bit integers) delta-encoded: half the
///   bytes of plain values before zstd, so less to decompress (bench at 20M rows: q1 0.38 →
///   0.32 s, q5 0.56 → 0.45 s, q6 0.84 → 0.69 s, ingest 21.5 → 19.5 s), for files 17 %
///   larger (zstd packs plain amounts tighter). DuckDB, Polars, pyarrow and Spark read it.
pub fn writer_properties(schema: &Schema) -> WriterProperties {
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).expect("valid level"),
        ))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS));
    for f in schema.fields() {
        let column = || ColumnPath::from(f.name().as_str());
        match f.data_type() {
            DataType::Decimal128(precision, _) => {
                props = props.set_column_dictionary_enabled(column(), false);
                if *precision <= 18 {
                    props = props.set_column_encoding(column(), Encoding::DELTA_BINARY_PACKED);
                }
            }
            DataType::Float32 | DataType::Float64 => {
                props = props.set_column_dictionary_enabled(column(), false);
            }
            _ => {}
        }
    }
    props.build()
}

impl TableWrite {
    /// Starts writing `name` with `schema`. Nothing is visible until [`TableWrite::commit`].
    pub async fn begin(
        lake: &Lake,
        name: &str,
        schema: SchemaRef,
        partition_by: &[String],
        mode: WriteMode,
        on_change: SchemaChange,
    ) -> Result<TableWrite, LakeError> {
        let mut schema = delta_schema_of(&schema);
        let mut evolved = false;
        let table_err = |message: String| LakeError::Table {
            table: name.to_string(),
            message,
        };
        for p in partition_by {
            if schema.field_with_name(p).is_err() {
                return Err(table_err(format!(
                    "partition column `{p}` is not in the output"
                )));
            }
        }
        let table = lake.load(name).await?;
        if let Some(t) = &table {
            let existing: Vec<String> = t
                .snapshot()
                .map_err(|e| LakeError::Delta {
                    table: name.to_string(),
                    source: e,
                })?
                .metadata()
                .partition_columns()
                .to_vec();
            if existing != partition_by {
                return Err(table_err(format!(
                    "the table is partitioned by [{}] but the pipeline says [{}]; remove the table's folder ({}) to rebuild it",
                    existing.join(", "),
                    partition_by.join(", "),
                    lake.table_url(name)
                )));
            }
            // Rows of the current version are kept (partitions not rewritten, appends): the
            // output's columns must match them, or evolve them when the pipeline allows it.
            let current = t
                .snapshot()
                .map_err(|e| LakeError::Delta {
                    table: name.to_string(),
                    source: e,
                })?
                .snapshot()
                .arrow_schema();
            let current = delta_schema_of(&current);
            if mode != WriteMode::Replace && !same_columns(&current, &schema) {
                let diff = SchemaDiff::new(&current, &schema);
                match on_change {
                    SchemaChange::Fail => {
                        return Err(table_err(format!(
                            "the output's columns differ from the table's (on_schema_change: fail):\n{diff}\n  set `on_schema_change: evolve` to add the new columns, or `mode: replace` to rebuild the table"
                        )));
                    }
                    SchemaChange::Evolve if !diff.narrowed(&current, &schema).is_empty() => {
                        return Err(table_err(format!(
                            "retyped columns cannot evolve (only new nullable columns and widenings int16 → int32 → int64, float32 → float64, decimal(p,s) → decimal(p',s) with p' > p):\n{diff}\n  use `mode: replace` to rebuild the table"
                        )));
                    }
                    SchemaChange::Evolve => {
                        // The table's columns in their order, then the new ones; columns the
                        // output lacks are written as NULL.
                        // Widened columns take their new type (older files are read through a cast).
                        let mut fields: Vec<Field> = current
                            .fields()
                            .iter()
                            .map(|f| match schema.field_with_name(f.name()) {
                                Ok(n) if n.data_type() != f.data_type() => {
                                    f.as_ref().clone().with_data_type(n.data_type().clone())
                                }
                                _ => f.as_ref().clone(),
                            })
                            .collect();
                        fields.extend(
                            schema
                                .fields()
                                .iter()
                                .filter(|f| current.field_with_name(f.name()).is_err())
                                .map(|f| f.as_ref().clone().with_nullable(true)),
                        );
                        schema = Arc::new(Schema::new(fields));
                        evolved = true;
                    }
                }
            }
        }
        let url = lake.table_url(name);
        if lake.is_local() {
            std::fs::create_dir_all(url.to_file_path().expect("file url"))
                .map_err(|e| table_err(format!("cannot create the folder: {e}")))?;
        }
        let writer = RecordBatchWriter::try_new(
            url.as_str(),
            schema.clone(),
            Some(partition_by.to_vec()),
            Some(lake.storage_options().clone()),
        )
        .map_err(|e| LakeError::Delta {
            table: name.to_string(),
            source: e,
        })?
        .with_writer_properties(writer_properties(&schema))
        .with_target_file_size(TARGET_FILE_BYTES);
        Ok(TableWrite {
            name: name.to_string(),
            url: url.to_string(),
            table,
            writer,
            schema,
            partition_by: partition_by.to_vec(),
            partitions: BTreeSet::new(),
            rows: 0,
            staged: Vec::new(),
            mode,
            evolved,
            cluster: None,
        })
    }

    /// Sorts the rows of each row group by `columns` (see [`crate::cluster`]).
    pub fn with_cluster_by(mut self, columns: &[String]) -> Result<Self, LakeError> {
        if columns.is_empty() {
            return Ok(self);
        }
        if let Some(c) = columns
            .iter()
            .find(|c| self.schema.field_with_name(c).is_err())
        {
            return Err(LakeError::Table {
                table: self.name.clone(),
                message: format!("cluster column `{c}` is not in the output"),
            });
        }
        let c = Clusterer::try_new(
            self.schema.clone(),
            columns,
            &self.partition_by,
            ROW_GROUP_ROWS,
        )
        .map_err(|e| LakeError::Table {
            table: self.name.clone(),
            message: format!("cannot cluster by [{}]: {e}", columns.join(", ")),
        })?;
        self.cluster = Some(c);
        Ok(self)
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    fn delta_err(&self, e: deltalake::DeltaTableError) -> LakeError {
        LakeError::Delta {
            table: self.name.clone(),
            source: e,
        }
    }

    pub async fn write(&mut self, batch: RecordBatch) -> Result<(), LakeError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let batch = if batch.schema() == self.schema {
            batch
        } else {
            conform_batch(&batch, &self.schema).map_err(|e| self.arrow_err(e))?
        };
        self.rows += batch.num_rows() as u64;
        let Some(c) = &mut self.cluster else {
            return self.write_partitions(batch).await;
        };
        let groups = c.push(batch).map_err(|e| self.arrow_err(e))?;
        for g in groups {
            self.sort_and_write(g).await?;
        }
        Ok(())
    }

    /// Sorts `group` and writes it. (Sorting on a blocking thread beside the encoding of the
    /// previous group was measured slower: allocations moved between threads cost more
    /// system time than the overlap saved.)
    async fn sort_and_write(&mut self, group: Group) -> Result<(), LakeError> {
        let Some(c) = &self.cluster else {
            return Ok(());
        };
        let sorted = c.sort(group).map_err(|e| self.arrow_err(e))?;
        self.write_partitions(sorted).await
    }

    /// Hands rows to the Delta writer one partition at a time, as slices of runs of equal
    /// partition values (one per source file, usually): its own split copies every column of
    /// every batch (20M-row ingest 20.6 → 18.6 s without it).
    async fn write_partitions(&mut self, batch: RecordBatch) -> Result<(), LakeError> {
        if self.partition_by.is_empty() {
            return self
                .writer
                .write(batch)
                .await
                .map_err(|e| self.delta_err(e));
        }
        let cols = self
            .partition_by
            .iter()
            .map(|p| {
                let i = batch.schema().index_of(p)?;
                Ok(batch.column(i).clone())
            })
            .collect::<Result<Vec<_>, arrow::error::ArrowError>>()
            .map_err(|e| self.arrow_err(e))?;
        let runs = arrow::compute::partition(&cols).map_err(|e| self.arrow_err(e))?;
        for run in runs.ranges() {
            // The values as Delta's own split reads them (its `Scalar`, inferred here).
            let values = self
                .partition_by
                .iter()
                .zip(&cols)
                .map(|(name, col)| {
                    ScalarExt::from_array(col.as_ref(), run.start)
                        .map(|v| (name.clone(), v))
                        .ok_or_else(|| LakeError::Table {
                            table: self.name.clone(),
                            message: format!(
                                "partition column `{name}`: unsupported type {}",
                                col.data_type()
                            ),
                        })
                })
                .collect::<Result<_, LakeError>>()?;
            let rows = batch.slice(run.start, run.end - run.start);
            self.writer
                .write_partition(rows, &values, deltalake::writer::WriteMode::Default)
                .await
                .map_err(|e| self.delta_err(e))?;
        }
        Ok(())
    }

    /// Writes the rows a clustered table still holds back, then finishes the open files.
    async fn flush(&mut self) -> Result<Vec<deltalake::kernel::Add>, LakeError> {
        if let Some(c) = &mut self.cluster {
            for g in c.finish() {
                self.sort_and_write(g).await?;
            }
        }
        self.writer.flush().await.map_err(|e| self.delta_err(e))
    }

    fn arrow_err(&self, e: arrow::error::ArrowError) -> LakeError {
        LakeError::Table {
            table: self.name.clone(),
            message: e.to_string(),
        }
    }

    /// Makes the written files the table's new version, in one atomic commit. Returns it.
    pub async fn commit(
        mut self,
        app_metadata: HashMap<String, serde_json::Value>,
    ) -> Result<u64, LakeError> {
        let mode = self.mode;
        let mut adds = std::mem::take(&mut self.staged);
        adds.extend(self.flush().await?);
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
                .await
                .map_err(|e| self.delta_err(e))?;
            return Ok(t.version().unwrap_or(0) as u64);
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
        let finalized = CommitBuilder::from(props)
            .with_actions(actions)
            .build(Some(snapshot), table.log_store(), op)
            .await
            .map_err(|e| self.delta_err(e))?;
        let version = finalized.version();
        if (version + 1) % CHECKPOINT_EVERY == 0 {
            self.checkpoint(table, version).await;
        }
        Ok(version)
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

    fn writer_url(&self) -> String {
        self.url.clone()
    }
}

/// The schema as Delta stores it: views and large variants of strings and binaries become
/// plain ones, timestamps are microseconds (UTC when zoned). Comparing and writing in this
/// form keeps a table's schema stable whatever DataFusion produced.
pub fn delta_schema_of(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            Field::new(f.name(), delta_type(f.data_type()), true)
                .with_metadata(f.metadata().clone())
        })
        .collect();
    Arc::new(Schema::new(fields))
}

fn delta_type(t: &DataType) -> DataType {
    match t {
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        DataType::BinaryView | DataType::LargeBinary => DataType::Binary,
        DataType::Timestamp(_, Some(_)) => {
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        }
        DataType::Timestamp(_, None) => DataType::Timestamp(TimeUnit::Microsecond, None),
        DataType::Dictionary(_, v) => delta_type(v),
        other => other.clone(),
    }
}

fn conform_batch(
    batch: &RecordBatch,
    schema: &SchemaRef,
) -> Result<RecordBatch, arrow::error::ArrowError> {
    let cols = schema
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            Some(c) if c.data_type() == f.data_type() => Ok(c.clone()),
            Some(c) => cast(c, f.data_type()),
            None => Ok(arrow::array::new_null_array(
                f.data_type(),
                batch.num_rows(),
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(schema.clone(), cols)
}

fn same_columns(a: &SchemaRef, b: &SchemaRef) -> bool {
    a.fields().len() == b.fields().len()
        && a.fields()
            .iter()
            .zip(b.fields())
            .all(|(x, y)| x.name() == y.name() && x.data_type() == y.data_type())
}

pub fn describe(s: &SchemaRef) -> String {
    s.fields()
        .iter()
        .map(|f| format!("{} {}", f.name(), f.data_type()))
        .collect::<Vec<_>>()
        .join(", ")
}

use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;

/// A file written by this run and not yet committed.
#[derive(Debug, Clone)]
pub struct StagedFile {
    pub url: url::Url,
    pub partition_values: HashMap<String, Option<String>>,
}

impl TableWrite {
    /// Finishes the files written so far (still invisible to readers) so that they can be
    /// checked before [`TableWrite::commit`].
    pub async fn stage(&mut self) -> Result<Vec<StagedFile>, LakeError> {
        let adds = self.flush().await?;
        self.staged.extend(adds);
        let base = url::Url::parse(&self.url).map_err(|e| LakeError::Table {
            table: self.name.clone(),
            message: e.to_string(),
        })?;
        self.staged
            .iter()
            .map(|a| {
                // Delta paths are relative and percent-encoded, as URLs are.
                let url = base.join(&a.path).map_err(|e| LakeError::Table {
                    table: self.name.clone(),
                    message: e.to_string(),
                })?;
                Ok(StagedFile {
                    url,
                    partition_values: a.partition_values.clone(),
                })
            })
            .collect()
    }

    pub fn partition_by(&self) -> &[String] {
        &self.partition_by
    }

    /// Whether the table existed before this run.
    pub fn table_exists(&self) -> bool {
        self.table.is_some()
    }

    /// Gives up the run: files written so far are never referenced by the table.
    pub fn abort(mut self) {
        self.writer.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Decimal128Array, Int16Array, StringArray};
    use parquet::file::reader::{FileReader, SerializedFileReader};

    /// One run writing `batch` to table `name`; the committed version.
    async fn write_once(lake: &Lake, name: &str, batch: RecordBatch, mode: WriteMode) -> u64 {
        let mut w = TableWrite::begin(
            lake,
            name,
            batch.schema(),
            &[],
            mode,
            crate::SchemaChange::Fail,
        )
        .await
        .unwrap();
        w.write(batch).await.unwrap();
        w.commit(HashMap::new()).await.unwrap()
    }

    /// The layout the queries rely on: 128 Ki-row groups, dictionary pages for codes,
    /// delta-encoded amounts, and every value read back.
    #[tokio::test]
    async fn lake_files_have_small_row_groups_and_delta_encoded_amounts() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("exercice", DataType::Int16, false),
            Field::new("ndept", DataType::Utf8, false),
            Field::new("montant", DataType::Decimal128(18, 2), false),
        ]));
        let rows = 300_000;
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int16Array::from(vec![2024; rows])),
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|i| format!("{:03}", i % 101)),
                )),
                Arc::new(
                    Decimal128Array::from_iter_values((0..rows).map(|i| i as i128 * 7919 - 5))
                        .with_precision_and_scale(18, 2)
                        .unwrap(),
                ),
            ],
        )
        .unwrap();
        write_once(&lake, "t.layout", batch, WriteMode::Replace).await;

        let table_dir = lake.table_url("t.layout").to_file_path().unwrap();
        let files: Vec<_> = std::fs::read_dir(&table_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        let reader = SerializedFileReader::new(std::fs::File::open(&files[0]).unwrap()).unwrap();
        let meta = reader.metadata();
        let groups: Vec<i64> = meta.row_groups().iter().map(|g| g.num_rows()).collect();
        assert_eq!(groups, vec![131_072, 131_072, 37_856]);
        for g in meta.row_groups() {
            let encodings = |i: usize| g.column(i).encodings().collect::<Vec<_>>();
            assert!(encodings(1).contains(&Encoding::RLE_DICTIONARY), "ndept");
            assert!(!encodings(2).contains(&Encoding::RLE_DICTIONARY), "montant");
            assert!(
                !encodings(2).contains(&Encoding::PLAIN_DICTIONARY),
                "montant"
            );
            assert!(
                encodings(2).contains(&Encoding::DELTA_BINARY_PACKED),
                "montant"
            );
        }
        // Every amount read back.
        let mut sum = 0i128;
        let mut n = 0;
        let file = std::fs::File::open(&files[0]).unwrap();
        let batches =
            parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(file, 65536).unwrap();
        for b in batches {
            let b = b.unwrap();
            let m = b
                .column(2)
                .as_any()
                .downcast_ref::<Decimal128Array>()
                .unwrap();
            sum += m.iter().map(|v| v.unwrap()).sum::<i128>();
            n += b.num_rows();
        }
        assert_eq!(n, rows);
        assert_eq!(sum, (0..rows as i128).map(|i| i * 7919 - 5).sum::<i128>());
    }

    /// Refreshes pile up commits: a checkpoint every 10 keeps loading the table cheap
    /// (delta-rs writes it with the 10th commit, version 9).
    #[tokio::test]
    async fn tables_are_checkpointed_every_ten_commits() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int16, false)]));
        for i in 0..11 {
            let batch =
                RecordBatch::try_new(schema.clone(), vec![Arc::new(Int16Array::from(vec![i]))])
                    .unwrap();
            let version = write_once(&lake, "t.log", batch, WriteMode::Append).await;
            assert_eq!(version, i as u64);
        }
        let log = lake
            .table_url("t.log")
            .to_file_path()
            .unwrap()
            .join("_delta_log");
        let checkpoints: Vec<String> = std::fs::read_dir(&log)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".checkpoint."))
            .collect();
        assert_eq!(checkpoints, vec!["00000000000000000009.checkpoint.parquet"]);
        // The table loads from the checkpoint: the commits it covers are not needed.
        for v in 0..9 {
            std::fs::remove_file(log.join(format!("{v:020}.json"))).unwrap();
        }
        let table = lake.load("t.log").await.unwrap().unwrap();
        assert_eq!(table.version(), Some(10));
        let files: Vec<_> = table
            .get_active_add_actions_by_partitions(&[])
            .try_collect()
            .await
            .unwrap();
        assert_eq!(files.len(), 11);
    }
}
