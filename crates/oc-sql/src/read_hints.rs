//! Parquet readers that read some of a file's columns as another Arrow type than the file's
//! own `ARROW:schema` says, by handing the reader an `ARROW:schema` that says so: the way the
//! plan rules ask arrow-rs for a string column as a dictionary (dictionary_filters/) or for a
//! `Decimal128` column stored as INT64 as the `Decimal64` it is on disk (decimal64_sums.rs).
//! arrow-rs takes the type asked for where its readers support it for that Parquet column
//! (some it accepts as a hint and then refuses to read: a rule's [`ReadHints`] checks the
//! column's storage); DataFusion's scan then sees the file as of that type.
//!
//! Such a reader factory is not serializable: a session that ships physical plans leaves the
//! rules that use it out (`session::serializable_physical_rules`).

use std::fmt::Debug;
use std::ops::Range;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};
use bytes::Bytes;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::ParquetFileReaderFactory;
use datafusion::error::Result;
use datafusion::parquet::arrow::arrow_reader::ArrowReaderOptions;
use datafusion::parquet::arrow::async_reader::AsyncFileReader;
use datafusion::parquet::arrow::{
    ARROW_SCHEMA_META_KEY, encode_arrow_schema, parquet_to_arrow_schema,
};
use datafusion::parquet::file::metadata::{
    FileMetaData, KeyValue, ParquetMetaData, ParquetMetaDataBuilder,
};
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use futures::FutureExt;
use futures::future::BoxFuture;

/// A rule's choice of type for the top-level columns of each file it reads.
pub(crate) trait ReadHints: Debug + Send + Sync + 'static {
    /// The type to read `field` (as the file's own schema types it) as, or None to leave it.
    fn hint(&self, metadata: &ParquetMetaData, field: &Field) -> Option<DataType>;
}

/// Readers of `inner` whose metadata carries the types `hints` chooses.
#[derive(Debug)]
pub(crate) struct HintedReaderFactory {
    pub(crate) inner: Arc<dyn ParquetFileReaderFactory>,
    pub(crate) hints: Arc<dyn ReadHints>,
}

/// Whether `factory` already reads with hints of type `H` (a rule wraps a scan's factory once;
/// a factory cannot be downcast, its `Debug` names what it wraps).
pub(crate) fn reads_with<H: ReadHints>(factory: &Arc<dyn ParquetFileReaderFactory>) -> bool {
    let name = std::any::type_name::<H>();
    let name = name.rsplit("::").next().unwrap_or(name);
    format!("{factory:?}").contains(&format!("hints: {name}"))
}

impl ParquetFileReaderFactory for HintedReaderFactory {
    fn create_reader(
        &self,
        partition_index: usize,
        partitioned_file: PartitionedFile,
        metadata_size_hint: Option<usize>,
        metrics: &ExecutionPlanMetricsSet,
    ) -> Result<Box<dyn AsyncFileReader + Send>> {
        Ok(Box::new(HintedReader {
            inner: self.inner.create_reader(
                partition_index,
                partitioned_file,
                metadata_size_hint,
                metrics,
            )?,
            hints: Arc::clone(&self.hints),
        }))
    }
}

struct HintedReader {
    inner: Box<dyn AsyncFileReader + Send>,
    hints: Arc<dyn ReadHints>,
}

impl AsyncFileReader for HintedReader {
    fn get_bytes(
        &mut self,
        range: Range<u64>,
    ) -> BoxFuture<'_, datafusion::parquet::errors::Result<Bytes>> {
        self.inner.get_bytes(range)
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, datafusion::parquet::errors::Result<Vec<Bytes>>> {
        self.inner.get_byte_ranges(ranges)
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, datafusion::parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let metadata = self.inner.get_metadata(options).await?;
            // An optimisation never fails a read: the reader reports such a file's faults.
            Ok(with_hints(Arc::clone(&metadata), self.hints.as_ref()).unwrap_or(metadata))
        }
        .boxed()
    }
}

/// `metadata` with an `ARROW:schema` that types each top-level column as `hints` chooses; the
/// same metadata when it chooses nothing.
pub(crate) fn with_hints(
    metadata: Arc<ParquetMetaData>,
    hints: &dyn ReadHints,
) -> datafusion::parquet::errors::Result<Arc<ParquetMetaData>> {
    let file = metadata.file_metadata();
    let schema = parquet_to_arrow_schema(file.schema_descr(), file.key_value_metadata())?;
    let mut changed = false;
    let fields: Vec<Arc<Field>> = schema
        .fields()
        .iter()
        .map(|field| match hints.hint(&metadata, field) {
            Some(t) if &t != field.data_type() => {
                changed = true;
                Arc::new(field.as_ref().clone().with_data_type(t))
            }
            _ => Arc::clone(field),
        })
        .collect();
    if !changed {
        return Ok(metadata);
    }
    let schema = Schema::new_with_metadata(fields, schema.metadata().clone());
    let mut kv: Vec<KeyValue> = file
        .key_value_metadata()
        .map(|kv| {
            kv.iter()
                .filter(|e| e.key != ARROW_SCHEMA_META_KEY)
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    kv.push(KeyValue::new(
        ARROW_SCHEMA_META_KEY.to_string(),
        encode_arrow_schema(&schema),
    ));
    let file = FileMetaData::new(
        file.version(),
        file.num_rows(),
        file.created_by().map(str::to_string),
        Some(kv),
        file.schema_descr_ptr(),
        file.column_orders().cloned(),
    );
    // (Without parquet's `encryption` feature, which this build does not enable, there is no
    // file decryptor to carry over.)
    Ok(Arc::new(
        ParquetMetaDataBuilder::new(file)
            .set_row_groups(metadata.row_groups().to_vec())
            .set_column_index(metadata.column_index().cloned())
            .set_offset_index(metadata.offset_index().cloned())
            .build(),
    ))
}

/// The leaf index of the top-level primitive column `name`.
pub(crate) fn leaf_of(metadata: &ParquetMetaData, name: &str) -> Option<usize> {
    metadata
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.path().parts() == [name])
}
