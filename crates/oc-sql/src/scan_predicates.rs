//! A physical optimizer rule: no conjunct twice in a Parquet scan's predicate. delta-rs'
//! provider (still used for the tables `LakeTable` cannot read) puts the filters it is given
//! in its scan's predicate and answers filter pushdown as inexact, so DataFusion keeps a filter
//! above the scan, and its physical filter pushdown then adds the same conjuncts to the
//! predicate the scan already carries (`compte = '1641' AND cbudg = '1' AND compte = '1641'
//! AND cbudg = '1'`). `LakeTable`'s scans carry no predicate of their own.
//! With `pushdown_filters`, each conjunct is a row filter that decodes its columns again:
//! 40 M values decoded for a 10 M-row scan of bench q2 (bench/README.md). The fix written
//! for DataFusion itself is in `patches/datafusion-datasource-parquet-55.2.0/`.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::config::ConfigOptions;
use datafusion::datasource::physical_plan::{FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::utils::{conjunction, split_conjunction};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;

#[derive(Debug, Default)]
pub struct DedupScanPredicates;

impl PhysicalOptimizerRule for DedupScanPredicates {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| Ok(dedup(&node).map_or(Transformed::no(node), Transformed::yes)))
            .data()
    }

    fn name(&self) -> &str {
        "dedup_scan_predicates"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The same scan with each conjunct of its predicate once, or None when nothing repeats.
fn dedup(node: &Arc<dyn ExecutionPlan>) -> Option<Arc<dyn ExecutionPlan>> {
    let scan = node.downcast_ref::<DataSourceExec>()?;
    let (config, parquet) = scan.downcast_to_file_source::<ParquetSource>()?;
    let predicate = datafusion::datasource::physical_plan::FileSource::filter(parquet)?;
    let parts = split_conjunction(&predicate);
    let mut kept: Vec<Arc<dyn PhysicalExpr>> = Vec::with_capacity(parts.len());
    for p in &parts {
        if !kept.iter().any(|k| k.as_ref() == p.as_ref()) {
            kept.push(Arc::clone(p));
        }
    }
    if kept.len() == parts.len() {
        return None;
    }
    let source = Arc::new(parquet.with_predicate(conjunction(kept)));
    let config = FileScanConfigBuilder::from(config.clone())
        .with_source(source)
        .build();
    Some(DataSourceExec::from_data_source(config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::datasource::object_store::ObjectStoreUrl;
    use datafusion::logical_expr::Operator;
    use datafusion::physical_expr::expressions::{BinaryExpr, col, lit};
    use datafusion::physical_plan::displayable;

    #[test]
    fn each_conjunct_once_and_other_plans_untouched() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Int64, true),
        ]));
        let cmp = |c: &str, op, v: i64| -> Arc<dyn PhysicalExpr> {
            Arc::new(BinaryExpr::new(col(c, &schema).unwrap(), op, lit(v)))
        };
        let scan = |predicate: Arc<dyn PhysicalExpr>| -> Arc<dyn ExecutionPlan> {
            let source =
                Arc::new(ParquetSource::new(Arc::clone(&schema)).with_predicate(predicate));
            let config =
                FileScanConfigBuilder::new(ObjectStoreUrl::local_filesystem(), source).build();
            DataSourceExec::from_data_source(config)
        };
        let shown = |p: &Arc<dyn ExecutionPlan>| displayable(p.as_ref()).one_line().to_string();
        let doubled = scan(conjunction(vec![
            cmp("a", Operator::Eq, 1),
            cmp("b", Operator::Gt, 2),
            cmp("a", Operator::Eq, 1),
            cmp("b", Operator::Gt, 2),
        ]));
        let out = DedupScanPredicates
            .optimize(doubled, &ConfigOptions::default())
            .unwrap();
        assert!(
            shown(&out).contains("predicate=a@0 = 1 AND b@1 > 2,"),
            "{}",
            shown(&out)
        );
        // Nothing repeated: the same plan, not a rebuilt one.
        let single = scan(conjunction(vec![
            cmp("a", Operator::Eq, 1),
            cmp("a", Operator::Eq, 2),
        ]));
        let out = DedupScanPredicates
            .optimize(Arc::clone(&single), &ConfigOptions::default())
            .unwrap();
        assert!(Arc::ptr_eq(&out, &single));
    }
}
