//! A lake table that can travel: the files of one Delta version (paths, sizes, partition
//! values, row counts), read by DataFusion's stock Parquet scan.
//!
//! delta-rs's own provider plans a `DeltaScanExec` that no codec can serialise (delta-rs
//! issue 4171), so a cluster cannot run it. This provider is resolved from the Delta log once,
//! on the client; what the scheduler and executors receive is the file list and a plain
//! `DataSourceExec(ParquetSource)`, which datafusion-proto and Ballista already ship.

use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::stats::Precision;
use datafusion::common::{ScalarValue, Statistics};
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use deltalake::DeltaTable;
use futures::TryStreamExt;
use object_store::path::Path as ObjPath;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::DistError;

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
}

impl LakeTable {
    /// The files of `table`'s loaded version. Refuses what a plain Parquet scan would read
    /// wrongly: deletion vectors (rows that must be skipped) and column mapping (Parquet column
    /// names that differ from the table's).
    pub async fn from_delta(name: &str, table: &DeltaTable) -> Result<LakeTable, DistError> {
        let delta = |e: deltalake::DeltaTableError| DistError::Table {
            table: name.to_string(),
            message: e.to_string(),
        };
        let refuse = |what: &str| DistError::Unsupported {
            table: name.to_string(),
            feature: what.to_string(),
        };
        let snapshot = table.snapshot().map_err(delta)?;
        if let Some(mode) = snapshot.snapshot().table_properties().column_mapping_mode
            && !format!("{mode:?}").eq_ignore_ascii_case("none")
        {
            return Err(refuse("column mapping"));
        }
        let schema = snapshot.snapshot().arrow_schema();
        let partition_cols = snapshot.metadata().partition_columns().to_vec();
        let root = table.table_url().clone();
        let store = store_url(&root);
        let base = ObjPath::from_url_path(root.path()).map_err(|e| DistError::Table {
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
            });
        }
        let spec = LakeTableSpec {
            name: name.to_string(),
            version: table.version(),
            store,
            partition_cols,
            files,
        };
        LakeTable::new(spec, schema).map_err(|e| DistError::Table {
            table: name.to_string(),
            message: e.to_string(),
        })
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
        Ok(LakeTable { spec, schema })
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

    fn partitioned_file(&self, f: &LakeFile) -> Result<PartitionedFile> {
        let mut file = PartitionedFile::new(f.path.clone(), f.size);
        file.partition_values = self
            .spec
            .partition_cols
            .iter()
            .zip(&f.partition_values)
            .map(|(c, v)| {
                let dt = self.schema.field_with_name(c)?.data_type();
                match v {
                    None => ScalarValue::try_from(dt),
                    Some(s) => ScalarValue::try_from_string(s.clone(), dt),
                }
            })
            .collect::<Result<_>>()?;
        Ok(file)
    }
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

    /// Filters are offered to the Parquet scan (row groups and pages pruned by statistics,
    /// files by partition values) and evaluated again above it.
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    fn statistics(&self) -> Option<Statistics> {
        Some(self.statistics())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
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
        if self.spec.files.is_empty() {
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
        let partition_fields = self
            .spec
            .partition_cols
            .iter()
            .map(|c| Ok(Arc::new(self.schema.field_with_name(c)?.clone())))
            .collect::<Result<Vec<_>>>()?;
        let table_schema = TableSchema::builder(file_schema)
            .with_table_partition_cols(partition_fields)
            .build();
        let files = self
            .spec
            .files
            .iter()
            .map(|f| self.partitioned_file(f))
            .collect::<Result<Vec<_>>>()?;
        let groups = balance(files, state.config().target_partitions());
        let format = ParquetFormat::default().with_options(state.table_options().parquet.clone());
        let source = format.file_source(table_schema);
        let store = ObjectStoreUrl::parse(&self.spec.store)?;
        let config = FileScanConfigBuilder::new(store, source)
            .with_file_groups(groups)
            .with_statistics(self.statistics())
            .with_projection_indices(Some(wanted))?
            .with_limit(limit)
            .build();
        format.create_physical_plan(state, config).await
    }
}

impl LakeTable {
    /// Row count when every file's is in the log; nothing else is claimed.
    fn statistics(&self) -> Statistics {
        let mut stats = Statistics::new_unknown(&self.schema);
        let rows: Option<usize> = self.spec.files.iter().map(|f| f.rows).sum();
        if let Some(rows) = rows {
            stats.num_rows = Precision::Exact(rows);
        }
        stats.total_byte_size =
            Precision::Inexact(self.spec.files.iter().map(|f| f.size as usize).sum());
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
}
