//! Rows of a long write counted as they flow, for progress bars: DataFusion's `COPY` plan runs
//! as usual with a pass-through node under its sink that adds each batch's rows to a counter
//! the caller reads while the write goes on.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::config::TableParquetOptions;
use datafusion::dataframe::DataFrame;
use datafusion::datasource::file_format::format_as_file_type;
use datafusion::datasource::file_format::parquet::ParquetFormatFactory;
use datafusion::error::Result;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::LogicalPlanBuilder;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::execution_plan::{ChildrenPropertiesMode, ReplaceChildrenOptions};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::StreamExt;

/// Passes its input through, counting rows.
#[derive(Debug)]
struct Counted {
    input: Arc<dyn ExecutionPlan>,
    rows: Arc<AtomicU64>,
}

impl DisplayAs for Counted {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "Counted")
    }
}

impl ExecutionPlan for Counted {
    fn name(&self) -> &'static str {
        "Counted"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(Counted {
            input: children.swap_remove(0),
            rows: self.rows.clone(),
        }))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let stream = self.input.execute(partition, context)?;
        let schema = stream.schema();
        let rows = self.rows.clone();
        let counted = stream.inspect(move |b| {
            if let Ok(b) = b {
                rows.fetch_add(b.num_rows() as u64, Ordering::Relaxed);
            }
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, counted)))
    }
}

/// `df.write_parquet(dir, partitioned by `partition_by`, options)`, adding the rows written
/// to `rows` as they go.
pub async fn write_parquet_counted(
    df: DataFrame,
    dir: &str,
    partition_by: Vec<String>,
    options: TableParquetOptions,
    rows: Arc<AtomicU64>,
) -> Result<()> {
    let (state, plan) = df.into_parts();
    let format = format_as_file_type(Arc::new(ParquetFormatFactory::new_with_options(options)));
    let copy = LogicalPlanBuilder::copy_to(plan, dir.into(), format, HashMap::new(), partition_by)?
        .build()?;
    let df = DataFrame::new(state, copy);
    let task = Arc::new(df.task_ctx());
    let sink = df.create_physical_plan().await?;
    // the sink writes what its one input gives: count there
    let sink = match sink.children().as_slice() {
        [input] => {
            let counted = Arc::new(Counted {
                input: Arc::clone(input),
                rows,
            });
            // (a pass-through: the sink's input keeps its properties)
            let keep = ReplaceChildrenOptions::new(ChildrenPropertiesMode::Keep);
            sink.clone().replace_children(vec![counted], keep)?
        }
        _ => sink,
    };
    datafusion::physical_plan::collect(sink, task).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    #[tokio::test]
    async fn the_rows_written_are_counted_and_written() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = SessionContext::new();
        let df = ctx
            .sql("SELECT value AS v, value % 3 AS part FROM generate_series(1, 10000)")
            .await
            .unwrap();
        let rows = Arc::new(AtomicU64::new(0));
        let out = format!("{}/", dir.path().display());
        write_parquet_counted(
            df,
            &out,
            vec!["part".into()],
            TableParquetOptions::default(),
            rows.clone(),
        )
        .await
        .unwrap();
        assert_eq!(rows.load(Ordering::Relaxed), 10_000);
        // hive-partitioned, every row there
        assert!(dir.path().join("part=0").is_dir());
        ctx.register_parquet("t", &out, Default::default())
            .await
            .unwrap();
        let n = ctx
            .sql("SELECT count(*) AS n, sum(v) AS s FROM t")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let text = arrow::util::pretty::pretty_format_batches(&n)
            .unwrap()
            .to_string();
        assert!(text.contains("| 10000 | 50005000 |"), "{text}");
    }
}
