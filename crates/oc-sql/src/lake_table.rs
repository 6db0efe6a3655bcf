//! A lake table as DataFusion reads it: the files of one Delta version (paths, sizes, partition
//! values, row counts), scanned by DataFusion's stock Parquet scan.
//!
//! Every query of the lake goes through it, locally and on a cluster. delta-rs' own provider
//! wraps the Parquet scan in a `DeltaScanExec`, which DataFusion's optimizer cannot see
//! through: the columns a filter needs stay in the scan's output (bench q1 at 20M rows decoded
//! `compte` for the 39 % of rows the filter keeps, only to drop it above) and no codec can
//! serialise it (delta-rs issue 4171), so a cluster could not run it. Here the scan is a plain
//! `DataSourceExec(ParquetSource)`: the filter is pushed into the Parquet reader and the
//! projection after it, as for any Parquet table, and datafusion-proto ships it as is. Tables
//! a plain scan would read wrongly (deletion vectors, column mapping, files outside the
//! table's folder, partition values it cannot type) are refused by [`LakeTable::from_delta`];
//! locally, the caller falls back to delta-rs' provider for those.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::stats::Precision;
use datafusion::common::{DFSchema, ScalarValue, Statistics};
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::listing::helpers::expr_applicable_for_cols;
use datafusion::datasource::physical_plan::parquet::transform_schema_to_view;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use deltalake::DeltaTable;
use futures::TryStreamExt;
use object_store::path::Path as ObjPath;
use serde::{Deserialize, Serialize};
use url::Url;

/// Why a Delta table cannot be read as a [`LakeTable`].
#[derive(Debug, thiserror::Error)]
pub enum LakeTableError {
    #[error("table {table}: {message}")]
    Table { table: String, message: String },
    /// A Delta feature a plain Parquet scan would read wrongly.
    #[error("table {table} uses {feature}, which a plain Parquet scan cannot read")]
    Unsupported { table: String, feature: String },
}

/// One active data file of the table's version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LakeFile {
    /// Location in the object store, from the store's root (`home/u/lake/t/x.parquet`).
    pub path: String,
    pub size: u64,
    /// One value per partition column (in [`LakeTableSpec::partition_cols`] order), as the
    /// Delta log writes them; `None` is SQL NULL.
    pub partition_values: Vec<Option<String>>,
    /// Rows in the file, from the log's statistics when it has them.
    pub rows: Option<usize>,
    /// Last modification, milliseconds since 1970 (the log's `modificationTime`): with the
    /// size, what DataFusion's footer cache checks a cached footer against.
    #[serde(default)]
    pub modified_ms: i64,
}

/// Everything a scheduler needs to plan a scan of the table (the schema travels beside it in
/// the plan).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LakeTableSpec {
    pub name: String,
    pub version: Option<u64>,
    /// The object store's URL: `file://` or `s3://bucket`.
    pub store: String,
    pub partition_cols: Vec<String>,
    pub files: Vec<LakeFile>,
}

#[derive(Debug)]
pub struct LakeTable {
    spec: LakeTableSpec,
    schema: SchemaRef,
    /// The partition values of each file of `spec.files`, typed as the table's columns.
    partition_values: Vec<Vec<ScalarValue>>,
    /// Partition filters answered here, exactly (see `supports_filters_pushdown`).
    exact_partition_filters: bool,
}

impl LakeTable {
    /// The files of `table`'s loaded version. Refuses what a plain Parquet scan would read
    /// wrongly: deletion vectors (rows that must be skipped) and column mapping (Parquet column
    /// names that differ from the table's).
    ///
    /// `local` is for a query planned and run in this process: strings and binaries typed
    /// `Utf8View`/`BinaryView`, what the Parquet reader hands out under DataFusion's default
    /// `schema_force_view_types` (another table type costs a cast of every value), and
    /// partition filters answered exactly here, so that no filter is left above the scan. A
    /// cluster's table (`local` false) keeps plain strings and leaves partition filters above
    /// the scan too (its files are still chosen here): the plans Ballista 55 was tested with.
    /// With an exact partition filter, some of its stages differed by one operator between
    /// the scheduler and the executors (a view of the sample lake: "task metrics array size 15
    /// does not equal the stage metrics array size 16"), and the job never ended.
    pub async fn from_delta(
        name: &str,
        table: &DeltaTable,
        local: bool,
    ) -> Result<LakeTable, LakeTableError> {
        let delta = |e: deltalake::DeltaTableError| LakeTableError::Table {
            table: name.to_string(),
            message: e.to_string(),
        };
        let refuse = |what: &str| LakeTableError::Unsupported {
            table: name.to_string(),
            feature: what.to_string(),
        };
        let snapshot = table.snapshot().map_err(delta)?;
        if let Some(mode) = snapshot.snapshot().table_properties().column_mapping_mode
            && !format!("{mode:?}").eq_ignore_ascii_case("none")
        {
            return Err(refuse("column mapping"));
        }
        let mut schema = snapshot.snapshot().arrow_schema();
        if local {
            schema = Arc::new(transform_schema_to_view(&schema));
        }
        let partition_cols = snapshot.metadata().partition_columns().to_vec();
        let root = table.table_url().clone();
        let store = store_url(&root);
        let base = ObjPath::from_url_path(root.path()).map_err(|e| LakeTableError::Table {
            table: name.to_string(),
            message: format!("table location {root}: {e}"),
        })?;
        let views: Vec<_> = table
            .get_active_add_actions_by_partitions(&[])
            .try_collect()
            .await
            .map_err(delta)?;
        let mut files = Vec::with_capacity(views.len());
        for f in views {
            if f.deletion_vector_descriptor().is_some() {
                return Err(refuse("deletion vectors"));
            }
            // A file outside the table's folder (an absolute URL: a shallow clone, another
            // writer) may be in another store; delta-rs' provider reads those.
            if Url::parse(&f.path()).is_ok() {
                return Err(refuse("files outside the table's folder"));
            }
            let rel = f.object_store_path();
            let path: ObjPath = base.parts().chain(rel.parts()).collect();
            let values = f.partition_values_map();
            files.push(LakeFile {
                path: path.to_string(),
                size: u64::try_from(f.size()).unwrap_or(0),
                partition_values: partition_cols
                    .iter()
                    .map(|c| values.get(c).cloned().flatten())
                    .collect(),
                rows: f.num_records(),
                modified_ms: f.modification_time(),
            });
        }
        let spec = LakeTableSpec {
            name: name.to_string(),
            version: table.version(),
            store,
            partition_cols,
            files,
        };
        if let Err(e) = typed_partition_values(&spec, &schema) {
            return Err(refuse(&format!("partition values it cannot type ({e})")));
        }
        let mut table = LakeTable::new(spec, schema).map_err(|e| LakeTableError::Table {
            table: name.to_string(),
            message: e.to_string(),
        })?;
        table.exact_partition_filters = local;
        Ok(table)
    }

    /// A table from its spec and schema (on the scheduler, from a plan).
    pub fn new(spec: LakeTableSpec, schema: SchemaRef) -> Result<LakeTable> {
        for c in &spec.partition_cols {
            schema.field_with_name(c)?;
        }
        if let Some(f) = spec
            .files
            .iter()
            .find(|f| f.partition_values.len() != spec.partition_cols.len())
        {
            return Err(DataFusionError::Plan(format!(
                "table {}: file {} has {} partition values for {} partition columns",
                spec.name,
                f.path,
                f.partition_values.len(),
                spec.partition_cols.len()
            )));
        }
        let partition_values = typed_partition_values(&spec, &schema)?;
        Ok(LakeTable {
            spec,
            schema,
            partition_values,
            exact_partition_filters: false,
        })
    }

    pub fn spec(&self) -> &LakeTableSpec {
        &self.spec
    }

    /// The scan's column order: the files' columns, then the partition columns (what
    /// DataFusion's file scans produce), as indices of the table's columns.
    fn scan_order(&self) -> Vec<usize> {
        let is_part = |f: &Field| self.spec.partition_cols.iter().any(|c| c == f.name());
        let fields = self.schema.fields();
        let data = (0..fields.len()).filter(|i| !is_part(&fields[*i]));
        let parts = self
            .spec
            .partition_cols
            .iter()
            .filter_map(|c| self.schema.index_of(c).ok());
        data.chain(parts).collect()
    }

    /// File `i` of the spec, as the scan reads it.
    fn partitioned_file(&self, i: usize) -> Result<PartitionedFile> {
        let f = &self.spec.files[i];
        let mut file = PartitionedFile::new("", f.size);
        // `path` is already an object-store path, encoded as it is stored; `new(path)` would
        // encode its `%` again (a partition value such as `Île-de-France` is written as
        // `region=%C3%8Ele-de-France`, and read back as `%25C3…`: file not found).
        file.object_meta.location = ObjPath::parse(&f.path).map_err(|e| {
            DataFusionError::Plan(format!("table {}: file {}: {e}", self.spec.name, f.path))
        })?;
        if let Some(t) = chrono::DateTime::from_timestamp_millis(f.modified_ms) {
            file.object_meta.last_modified = t;
        }
        file.partition_values = self.partition_values[i].clone();
        Ok(file)
    }
}

/// Each file's partition values typed as the table's columns. As delta-rs reads them, an
/// empty value is NULL for a column that is not a string (the Delta log may hold `""` for a
/// NULL; a cast of `""` to a number or a date would fail).
fn typed_partition_values(spec: &LakeTableSpec, schema: &Schema) -> Result<Vec<Vec<ScalarValue>>> {
    let types = spec
        .partition_cols
        .iter()
        .map(|c| Ok(schema.field_with_name(c)?.data_type().clone()))
        .collect::<Result<Vec<_>>>()?;
    spec.files
        .iter()
        .map(|f| {
            types
                .iter()
                .zip(&f.partition_values)
                .map(|(dt, v)| {
                    let text_type = matches!(
                        dt,
                        DataType::Utf8
                            | DataType::LargeUtf8
                            | DataType::Utf8View
                            | DataType::Binary
                            | DataType::LargeBinary
                            | DataType::BinaryView
                    );
                    match v {
                        Some(s) if !s.is_empty() || text_type => {
                            ScalarValue::try_from_string(s.clone(), dt).map_err(|e| {
                                DataFusionError::Plan(format!(
                                    "table {}: file {}: partition value {s:?} is not a {dt}: {e}",
                                    spec.name, f.path
                                ))
                            })
                        }
                        _ => ScalarValue::try_from(dt),
                    }
                })
                .collect()
        })
        .collect()
}

/// `file://` for local paths, `scheme://bucket` otherwise.
fn store_url(root: &Url) -> String {
    match root.host_str() {
        Some(host) if root.scheme() != "file" => format!("{}://{host}", root.scheme()),
        _ => format!("{}://", root.scheme()),
    }
}

/// Files spread over `n` groups of about the same number of bytes (largest first, each to the
/// lightest group), so every partition of the scan has a similar share of the work.
fn balance(files: Vec<PartitionedFile>, n: usize) -> Vec<FileGroup> {
    let n = n.clamp(1, files.len().max(1));
    let mut files = files;
    files.sort_by_key(|f| std::cmp::Reverse(f.object_meta.size));
    let mut groups: Vec<(u64, Vec<PartitionedFile>)> = vec![(0, Vec::new()); n];
    for f in files {
        let lightest = groups
            .iter_mut()
            .min_by_key(|(bytes, _)| *bytes)
            .expect("n >= 1");
        lightest.0 += f.object_meta.size;
        lightest.1.push(f);
    }
    groups
        .into_iter()
        .filter(|(_, g)| !g.is_empty())
        .map(|(_, g)| FileGroup::new(g))
        .collect()
}

#[async_trait]
impl datafusion::catalog::TableProvider for LakeTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// A filter on partition columns only is applied here, to the files' partition values
    /// (exact: the files it rejects are not scanned, and nothing is left to check). Any other
    /// filter is offered to the Parquet scan (row groups and pages pruned by statistics, rows
    /// by the reader's filter) and DataFusion keeps it above the scan unless the scan takes it
    /// whole.
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| {
                if self.exact_partition_filters && self.on_partitions(f) {
                    TableProviderFilterPushDown::Exact
                } else {
                    TableProviderFilterPushDown::Inexact
                }
            })
            .collect())
    }

    fn statistics(&self) -> Option<Statistics> {
        Some(self.statistics(&self.spec.files.iter().collect::<Vec<_>>()))
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let order = self.scan_order();
        // Table column i is column position[i] of the scan.
        let mut position = vec![0; order.len()];
        for (scan_idx, table_idx) in order.iter().enumerate() {
            position[*table_idx] = scan_idx;
        }
        let wanted: Vec<usize> = match projection {
            Some(p) => p.iter().map(|i| position[*i]).collect(),
            None => (0..self.schema.fields().len())
                .map(|i| position[i])
                .collect(),
        };
        let partition_filters: Vec<Expr> = filters
            .iter()
            .filter(|f| self.on_partitions(f))
            .cloned()
            .collect();
        let kept = self.files_matching(state, &partition_filters)?;
        let kept_files: Vec<&LakeFile> = kept.iter().map(|i| &self.spec.files[*i]).collect();
        if kept.is_empty() {
            let projected = match projection {
                Some(p) => Arc::new(self.schema.project(p)?),
                None => self.schema.clone(),
            };
            return Ok(Arc::new(EmptyExec::new(projected)));
        }
        let is_part = |f: &&Arc<Field>| self.spec.partition_cols.iter().any(|c| c == f.name());
        let file_schema = Arc::new(Schema::new(
            self.schema
                .fields()
                .iter()
                .filter(|f| !is_part(f))
                .cloned()
                .collect::<Vec<_>>(),
        ));
        let table_schema = TableSchema::builder(file_schema)
            .with_table_partition_cols(self.partition_fields()?)
            .build();
        let files = kept
            .iter()
            .map(|i| self.partitioned_file(*i))
            .collect::<Result<Vec<_>>>()?;
        let groups = balance(files, state.config().target_partitions());
        let format = ParquetFormat::default().with_options(state.table_options().parquet.clone());
        let source = format.file_source(table_schema);
        let store = ObjectStoreUrl::parse(&self.spec.store)?;
        let config = FileScanConfigBuilder::new(store, source)
            .with_file_groups(groups)
            // Of the files scanned, not of the table: a count answered from statistics
            // must not include the files the partition filters left out.
            .with_statistics(self.statistics(&kept_files))
            .with_projection_indices(Some(wanted))?
            .with_limit(limit)
            .build();
        format.create_physical_plan(state, config).await
    }
}

impl LakeTable {
    /// The table's partition columns, in the Delta log's order.
    fn partition_fields(&self) -> Result<Vec<Arc<Field>>> {
        self.spec
            .partition_cols
            .iter()
            .map(|c| Ok(Arc::new(self.schema.field_with_name(c)?.clone())))
            .collect()
    }

    /// Whether `filter` reads partition columns only (and nothing volatile), so that the
    /// partition values of a file decide it.
    fn on_partitions(&self, filter: &Expr) -> bool {
        let cols: Vec<&str> = self
            .spec
            .partition_cols
            .iter()
            .map(String::as_str)
            .collect();
        !cols.is_empty() && expr_applicable_for_cols(&cols, filter)
    }

    /// The files (indices of `spec.files`) whose partition values pass every filter of
    /// `filters` (all on partition columns), evaluated on one row per file. A NULL outcome
    /// rejects the file, as SQL's WHERE rejects a row.
    fn files_matching(&self, state: &dyn Session, filters: &[Expr]) -> Result<Vec<usize>> {
        let all = 0..self.spec.files.len();
        let Some(filter) = conjunction(filters.iter().cloned()) else {
            return Ok(all.collect());
        };
        if self.spec.files.is_empty() {
            return Ok(Vec::new());
        }
        let schema = Arc::new(Schema::new(self.partition_fields()?));
        let columns = (0..self.spec.partition_cols.len())
            .map(|c| ScalarValue::iter_to_array(self.partition_values.iter().map(|v| v[c].clone())))
            .collect::<Result<Vec<ArrayRef>>>()?;
        let batch = RecordBatch::try_new(schema.clone(), columns)?;
        let df_schema = DFSchema::try_from(schema)?;
        let keep = state
            .create_physical_expr(filter, &df_schema)?
            .evaluate(&batch)?
            .into_array(batch.num_rows())?;
        let keep = keep.as_boolean_opt().ok_or_else(|| {
            DataFusionError::Internal(format!(
                "table {}: a partition filter gave {}, not booleans",
                self.spec.name,
                keep.data_type()
            ))
        })?;
        Ok(all
            .filter(|i| keep.is_valid(*i) && keep.value(*i))
            .collect())
    }

    /// Row count of `files` when every one of them has it in the log; nothing else is claimed.
    fn statistics(&self, files: &[&LakeFile]) -> Statistics {
        let mut stats = Statistics::new_unknown(&self.schema);
        let rows: Option<usize> = files.iter().map(|f| f.rows).sum();
        if let Some(rows) = rows {
            stats.num_rows = Precision::Exact(rows);
        }
        stats.total_byte_size = Precision::Inexact(files.iter().map(|f| f.size as usize).sum());
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, size: u64) -> PartitionedFile {
        PartitionedFile::new(path.to_string(), size)
    }

    #[test]
    fn files_are_balanced_by_bytes() {
        let groups = balance(
            vec![file("a", 100), file("b", 60), file("c", 50), file("d", 10)],
            2,
        );
        let bytes: Vec<u64> = groups
            .iter()
            .map(|g| g.iter().map(|f| f.object_meta.size).sum())
            .collect();
        assert_eq!(bytes, vec![110, 110]);
        // Never more groups than files, never none.
        assert_eq!(balance(vec![file("a", 1)], 8).len(), 1);
        assert!(balance(Vec::new(), 8).is_empty());
    }

    #[test]
    fn store_urls() {
        let u = |s: &str| store_url(&Url::parse(s).unwrap());
        assert_eq!(u("file:///home/u/lake/t/"), "file://");
        assert_eq!(u("s3://bucket/lake/t/"), "s3://bucket");
    }

    /// Partition values are typed once, as delta-rs types them: `""` is NULL unless the
    /// column is a string; a value that is not of the column's type is the table's error.
    #[test]
    fn partition_values_are_typed_with_empty_as_null_for_non_strings() {
        use arrow::datatypes::DataType;
        let schema = Schema::new(vec![
            Field::new("exercice", DataType::Int16, true),
            Field::new("region", DataType::Utf8View, true),
            Field::new("n", DataType::Int64, true),
        ]);
        let file = |values: [Option<&str>; 2]| LakeFile {
            path: "t/x.parquet".into(),
            size: 1,
            partition_values: values.iter().map(|v| v.map(str::to_string)).collect(),
            rows: Some(1),
            modified_ms: 0,
        };
        let spec = |files| LakeTableSpec {
            name: "d.t".into(),
            version: Some(1),
            store: "file://".into(),
            partition_cols: vec!["exercice".into(), "region".into()],
            files,
        };
        let typed = typed_partition_values(
            &spec(vec![
                file([Some("2024"), Some("Île-de-France")]),
                file([Some(""), Some("")]),
                file([None, None]),
            ]),
            &schema,
        )
        .unwrap();
        assert_eq!(
            typed,
            vec![
                vec![
                    ScalarValue::Int16(Some(2024)),
                    ScalarValue::Utf8View(Some("Île-de-France".into()))
                ],
                vec![
                    ScalarValue::Int16(None),
                    ScalarValue::Utf8View(Some(String::new()))
                ],
                vec![ScalarValue::Int16(None), ScalarValue::Utf8View(None)],
            ]
        );
        let bad = typed_partition_values(&spec(vec![file([Some("2O24"), None])]), &schema);
        let message = bad.unwrap_err().to_string();
        assert!(
            message.contains("t/x.parquet") && message.contains("\"2O24\""),
            "{message}"
        );
        // Refused when the table is made, not at its first query.
        let err = LakeTable::new(
            spec(vec![file([Some("2O24"), None])]),
            Arc::new(schema.clone()),
        );
        assert!(err.is_err());
    }

    /// A table partitioned by an exercice (one file with a NULL one) and a region whose name
    /// needs percent-encoding in paths, read through `LakeSession` as every query reads it.
    async fn partitioned_lake() -> (tempfile::TempDir, crate::LakeSession) {
        use arrow::array::{Decimal128Array, Int16Array, StringArray};
        use arrow::datatypes::DataType;
        use oc_lake::{Lake, SchemaChange, TableWrite, WriteMode};
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("exercice", DataType::Int16, true),
            Field::new("compte", DataType::Utf8, false),
            Field::new("region", DataType::Utf8, false),
            Field::new("montant", DataType::Decimal128(18, 2), false),
        ]));
        let rows: [(Option<i16>, &str, &str, i128); 6] = [
            (Some(2023), "6011", "Île-de-France", 100),
            (Some(2023), "7011", "Île-de-France", 200),
            (Some(2023), "6011", "Bretagne", 300),
            (Some(2024), "6011", "Bretagne", 400),
            (Some(2024), "1641", "Île-de-France", 500),
            (None, "6011", "Bretagne", 600),
        ];
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int16Array::from_iter(rows.iter().map(|r| r.0))),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))),
                Arc::new(
                    Decimal128Array::from_iter_values(rows.iter().map(|r| r.3))
                        .with_precision_and_scale(18, 2)
                        .unwrap(),
                ),
            ],
        )
        .unwrap();
        let mut w = TableWrite::begin(
            &lake,
            "d.t",
            schema,
            &["exercice".to_string(), "region".to_string()],
            WriteMode::Replace,
            SchemaChange::Fail,
        )
        .await
        .unwrap();
        w.write(batch).await.unwrap();
        w.commit(Default::default()).await.unwrap();
        let session = crate::LakeSession::open(&lake, &[]).await.unwrap();
        (dir, session)
    }

    /// The result's rows, each cell as printed (NULL as an empty string).
    async fn rows(session: &crate::LakeSession, sql: &str) -> Vec<Vec<String>> {
        let batches = session.query(sql).await.unwrap().collect().await.unwrap();
        let text = arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string();
        text.lines()
            .skip(3)
            .filter(|l| l.starts_with('|'))
            .map(|l| {
                l.trim_matches('|')
                    .split('|')
                    .map(|c| c.trim().to_string())
                    .collect()
            })
            .collect()
    }

    #[tokio::test]
    async fn lake_tables_are_read_as_plain_parquet_scans_in_the_tables_column_order() {
        let (_dir, s) = partitioned_lake().await;
        // The Delta schema's order (partition columns where the table has them), strings as
        // views, every row with its partition values.
        let types = "SELECT arrow_typeof(exercice), arrow_typeof(compte) FROM d.t LIMIT 1";
        assert_eq!(rows(&s, types).await, vec![vec!["Int16", "Utf8View"]]);
        assert_eq!(
            rows(&s, "SELECT * FROM d.t ORDER BY montant").await,
            vec![
                vec!["2023", "6011", "Île-de-France", "1.00"],
                vec!["2023", "7011", "Île-de-France", "2.00"],
                vec!["2023", "6011", "Bretagne", "3.00"],
                vec!["2024", "6011", "Bretagne", "4.00"],
                vec!["2024", "1641", "Île-de-France", "5.00"],
                vec!["", "6011", "Bretagne", "6.00"],
            ]
        );
        // A projection in another order than the table's, partition column last.
        assert_eq!(
            rows(&s, "SELECT montant, region FROM d.t WHERE compte = '1641'").await,
            vec![vec!["5.00", "Île-de-France"]]
        );
        assert!(
            s.ctx
                .table_provider("d.t")
                .await
                .unwrap()
                .downcast_ref::<LakeTable>()
                .is_some()
        );
    }

    /// Partition filters are answered from the partition values (files left out, the filter
    /// not evaluated again), so the row counts of the statistics must be those of the files
    /// kept: `COUNT(*)` is answered from them.
    #[tokio::test]
    async fn partition_filters_leave_files_out_and_counts_stay_exact() {
        let (_dir, s) = partitioned_lake().await;
        for (filter, count) in [
            ("exercice = 2024", 2),
            ("exercice = 2023 AND region = 'Île-de-France'", 2),
            ("exercice IS NULL", 1),
            ("exercice > 2023 OR exercice IS NULL", 3),
            ("region <> 'Bretagne'", 3),
            ("exercice = 1999", 0),
            // NULL is not true: the file of the NULL exercice is left out.
            ("exercice <> 2023", 2),
        ] {
            let out = rows(&s, &format!("SELECT COUNT(*) AS n FROM d.t WHERE {filter}")).await;
            assert_eq!(out, vec![vec![count.to_string()]], "{filter}");
            // The same count from the rows themselves, not from statistics.
            let sum = format!("SELECT COUNT(montant) FROM d.t WHERE {filter}");
            assert_eq!(rows(&s, &sum).await, out, "{filter}");
        }
        let plan = rows(
            &s,
            "EXPLAIN SELECT montant FROM d.t WHERE exercice = 2024 AND compte LIKE '6%'",
        )
        .await
        .concat()
        .join("\n");
        let scan = plan
            .lines()
            .find(|l| l.contains("DataSourceExec"))
            .unwrap_or_else(|| panic!("{plan}"));
        // Only the two files of 2024 are scanned; the filter on `compte` is the Parquet
        // reader's, and `compte` is not carried above it.
        assert!(
            !scan.contains("exercice=2023") && !scan.contains("__HIVE_DEFAULT"),
            "{plan}"
        );
        assert_eq!(scan.matches("exercice=2024").count(), 2, "{plan}");
        assert!(scan.contains("projection=[montant]"), "{plan}");
        assert!(scan.contains("predicate=compte"), "{plan}");
        assert!(!plan.contains("FilterExec"), "{plan}");
    }
}
