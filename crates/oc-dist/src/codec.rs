//! What Ballista's codecs do not know of ours: lake tables in logical plans (client →
//! scheduler) and our SQL functions (by name, to nodes whose registries lack them). Everything
//! else goes to Ballista's own codecs.

use std::sync::{Arc, LazyLock};

use arrow::datatypes::SchemaRef;
use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SessionState, SessionStateBuilder, TaskContext};
use datafusion::logical_expr::{AggregateUDF, Extension, LogicalPlan, ScalarUDF, WindowUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};

use oc_sql::{LakeTable, LakeTableSpec};

/// Marks our table encoding, so any other provider's bytes go to Ballista's codec.
const LAKE_TABLE: &[u8] = b"opencoll.lake-table.v1\n";

/// The logical codec of clients and schedulers.
#[derive(Debug, Default)]
pub struct LakeLogicalCodec {
    inner: BallistaLogicalExtensionCodec,
}

/// DataFusion's built-in functions: a node's registry may hold fewer (Ballista's executors
/// know the core functions but not the array ones, `array_distinct` say).
static BUILT_IN: LazyLock<SessionState> =
    LazyLock::new(|| SessionStateBuilder::new().with_default_features().build());

/// Our function named `name`, or a built-in one.
fn our_udf(name: &str) -> Option<Arc<ScalarUDF>> {
    oc_sql::udf::by_name(name)
        .map(Arc::new)
        .or_else(|| BUILT_IN.scalar_functions().get(name).cloned())
}

fn built_in_udaf(name: &str) -> Option<Arc<AggregateUDF>> {
    BUILT_IN.aggregate_functions().get(name).cloned()
}

fn built_in_udwf(name: &str) -> Option<Arc<WindowUDF>> {
    BUILT_IN.window_functions().get(name).cloned()
}

/// Ours are stateless: their name says it all, so nothing is written for them.
fn encode_udf(
    udf: &ScalarUDF,
    buf: &mut Vec<u8>,
    other: impl FnOnce(&ScalarUDF, &mut Vec<u8>) -> Result<()>,
) -> Result<()> {
    if oc_sql::udf::by_name(udf.name()).is_some() {
        return Ok(());
    }
    other(udf, buf)
}

impl LogicalExtensionCodec for LakeLogicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> Result<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        let Some(json) = buf.strip_prefix(LAKE_TABLE) else {
            return self
                .inner
                .try_decode_table_provider(buf, table_ref, schema, ctx);
        };
        let spec: LakeTableSpec = serde_json::from_slice(json).map_err(|e| {
            DataFusionError::Internal(format!("lake table {table_ref} in a plan: {e}"))
        })?;
        Ok(Arc::new(LakeTable::new(spec, schema)?))
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        let Some(table) = node.downcast_ref::<LakeTable>() else {
            return self.inner.try_encode_table_provider(table_ref, node, buf);
        };
        buf.extend_from_slice(LAKE_TABLE);
        serde_json::to_writer(&mut *buf, table.spec())
            .map_err(|e| DataFusionError::Internal(format!("lake table {table_ref}: {e}")))
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> Result<()> {
        self.inner.try_encode_file_format(buf, node)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        our_udf(name).map_or_else(|| self.inner.try_decode_udf(name, buf), Ok)
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        encode_udf(node, buf, |n, b| self.inner.try_encode_udf(n, b))
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
        built_in_udaf(name).map_or_else(|| self.inner.try_decode_udaf(name, buf), Ok)
    }

    fn try_decode_udwf(&self, name: &str, buf: &[u8]) -> Result<Arc<WindowUDF>> {
        built_in_udwf(name).map_or_else(|| self.inner.try_decode_udwf(name, buf), Ok)
    }
}

/// The physical codec of schedulers and executors.
#[derive(Debug, Default)]
pub struct LakePhysicalCodec {
    inner: BallistaPhysicalExtensionCodec,
}

impl PhysicalExtensionCodec for LakePhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.inner.try_decode(buf, inputs, ctx, proto_converter)
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        self.inner.try_encode(node, buf, proto_converter)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        our_udf(name).map_or_else(|| self.inner.try_decode_udf(name, buf), Ok)
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        encode_udf(node, buf, |n, b| self.inner.try_encode_udf(n, b))
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
        built_in_udaf(name).map_or_else(|| self.inner.try_decode_udaf(name, buf), Ok)
    }

    fn try_decode_udwf(&self, name: &str, buf: &[u8]) -> Result<Arc<WindowUDF>> {
        built_in_udwf(name).map_or_else(|| self.inner.try_decode_udwf(name, buf), Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{DataType, Field, Schema};
    use oc_sql::lake_table::LakeFile;

    #[test]
    fn a_lake_table_travels_whole_and_functions_by_name() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("code", DataType::Utf8, false),
            Field::new("montant", DataType::Decimal128(18, 2), true),
            Field::new("exercice", DataType::Int16, false),
        ]));
        let spec = LakeTableSpec {
            name: "finances.t".into(),
            version: Some(3),
            store: "s3://lake".into(),
            partition_cols: vec!["exercice".into()],
            files: vec![LakeFile {
                path: "opencoll/finances/t/exercice=2024/part-0.parquet".into(),
                size: 1234,
                partition_values: vec![Some("2024".into())],
                rows: Some(10),
                modified_ms: 0,
            }],
        };
        let table: Arc<dyn TableProvider> =
            Arc::new(LakeTable::new(spec.clone(), schema.clone()).unwrap());
        let codec = LakeLogicalCodec::default();
        let name = TableReference::partial("finances", "t");
        let mut buf = Vec::new();
        codec
            .try_encode_table_provider(&name, table, &mut buf)
            .unwrap();
        let ctx = TaskContext::default();
        let back = codec
            .try_decode_table_provider(&buf, &name, schema.clone(), &ctx)
            .unwrap();
        assert_eq!(back.downcast_ref::<LakeTable>().unwrap().spec(), &spec);
        // Damaged bytes are an error, not a panic.
        let cut = &buf[..buf.len() - 5];
        assert!(
            codec
                .try_decode_table_provider(cut, &name, schema, &ctx)
                .is_err()
        );

        // Our functions and DataFusion's array ones are found by name on any node.
        let physical = LakePhysicalCodec::default();
        for f in ["insee_from_dgfip", "dep_from_dgfip", "array_distinct"] {
            assert_eq!(physical.try_decode_udf(f, &[]).unwrap().name(), f);
            assert_eq!(codec.try_decode_udf(f, &[]).unwrap().name(), f);
        }
        assert!(physical.try_decode_udf("no_such_function", &[]).is_err());
        assert_eq!(
            physical.try_decode_udaf("array_agg", &[]).unwrap().name(),
            "array_agg"
        );
        // Ours are named, not serialised.
        let mut buf = Vec::new();
        let f = oc_sql::udf::by_name("dep_from_dgfip").unwrap();
        physical.try_encode_udf(&f, &mut buf).unwrap();
        assert!(buf.is_empty());
    }
}
