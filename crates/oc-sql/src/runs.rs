//! Runs of equal keys in a batch, shared by the plan rules that use them (distinct_runs.rs,
//! run_sums.rs): the lake's files are written sorted, so the keys of its aggregations come in
//! runs, and a rule can drop or sum a run before the hash table sees it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use arrow::array::{Array, ArrayRef, BooleanArray};
use arrow::compute::kernels::boolean::or;
use arrow::compute::kernels::cmp::distinct;
use arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::physical_expr::expressions::Column;
use std::sync::Arc;

use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};

/// Rows seen before judging whether the keys come in runs.
pub(crate) const JUDGE_AFTER: u64 = 1 << 16;

/// Whether arrow's `distinct` compares keys of type `t` (DataFusion groups by lists and
/// structs too; `distinct` refuses them).
fn comparable(t: &DataType) -> bool {
    match t {
        DataType::Dictionary(_, v) => {
            !v.is_nested() && !matches!(**v, DataType::Dictionary(..) | DataType::RunEndEncoded(..))
        }
        DataType::RunEndEncoded(..) => false,
        t => !t.is_nested(),
    }
}

/// The group keys of `agg` with their names, when they are what the run rules read: one
/// grouping (no grouping sets) of plain columns arrow's `distinct` compares, no limit (a
/// `DISTINCT … LIMIT` stops reading once it has enough keys, which a rule's coalesced output
/// would delay) and an input that ends (a rule holds rows back).
pub(crate) fn run_keys(agg: &AggregateExec) -> Option<Vec<(Column, String)>> {
    let input = agg.input();
    if !agg.group_expr().is_single()
        || agg.group_expr().is_empty()
        || agg.limit_options().is_some()
        || input.boundedness().is_unbounded()
    {
        return None;
    }
    let schema = input.schema();
    agg.group_expr()
        .expr()
        .iter()
        .map(|(e, name)| {
            let c = e.downcast_ref::<Column>()?;
            comparable(schema.field(c.index()).data_type()).then(|| (c.clone(), name.clone()))
        })
        .collect()
}

/// `impl PhysicalOptimizerRule for $rule`, named `$name`, that replaces each node of a plan by
/// `$rewrite`'s answer where it has one ([`rewrite_up`]), its output schema unchanged: the
/// rules that rewrite one node at a time.
macro_rules! node_rule {
    ($rule:ty, $name:expr, $rewrite:path) => {
        impl datafusion::physical_optimizer::PhysicalOptimizerRule for $rule {
            fn optimize(
                &self,
                plan: std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>,
                _config: &datafusion::config::ConfigOptions,
            ) -> datafusion::common::Result<
                std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>,
            > {
                $crate::runs::rewrite_up(plan, $rewrite)
            }

            fn name(&self) -> &str {
                $name
            }

            fn schema_check(&self) -> bool {
                true
            }
        }
    };
}
pub(crate) use node_rule;

/// `plan` with each node, from the leaves up, replaced by `rewrite`'s answer where it has one:
/// the body of the rules that rewrite one node at a time.
pub(crate) fn rewrite_up(
    plan: Arc<dyn ExecutionPlan>,
    rewrite: impl Fn(&Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>>,
) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        Ok(match rewrite(&node)? {
            Some(new) => Transformed::yes(new),
            None => Transformed::no(node),
        })
    })
    .data()
}

/// `node` as an aggregation of rows into keys only (`SELECT DISTINCT`, the inner aggregation
/// of a `COUNT(DISTINCT …)`), with its keys ([`run_keys`]): no aggregate function, in a mode
/// whose input is rows (not the partial states of another aggregation).
pub(crate) fn keys_only(node: &Arc<dyn ExecutionPlan>) -> Option<(&AggregateExec, Vec<Column>)> {
    let agg = node.downcast_ref::<AggregateExec>()?;
    if !matches!(
        agg.mode(),
        AggregateMode::Partial | AggregateMode::Single | AggregateMode::SinglePartitioned
    ) || !agg.aggr_expr().is_empty()
    {
        return None;
    }
    let keys = run_keys(agg)?.into_iter().map(|(c, _)| c).collect();
    Some((agg, keys))
}

/// For rows 1..n of a batch whose keys are `keys` (n ≥ 2 rows), whether the row's key differs
/// from the row before's (NULL equal to NULL, as in grouping); None without keys.
pub(crate) fn differs_from_previous(keys: &[ArrayRef]) -> Result<Option<BooleanArray>> {
    let mut differs: Option<BooleanArray> = None;
    for k in keys {
        let n = k.len();
        let d = distinct(&k.slice(1, n - 1), &k.slice(0, n - 1))?;
        differs = Some(match differs {
            Some(acc) => or(&acc, &d)?,
            None => d,
        });
    }
    Ok(differs)
}

/// Whether the keys come in runs, judged over the rows of all partitions: once more than half
/// of the rows seen start a run, they do not, and the rule's work is not worth doing.
#[derive(Debug, Default)]
pub(crate) struct Judge {
    seen: AtomicU64,
    starts: AtomicU64,
    off: AtomicBool,
}

impl Judge {
    /// Whether the keys proved not to come in runs.
    pub(crate) fn off(&self) -> bool {
        self.off.load(Ordering::Relaxed)
    }

    /// Counts a batch of `rows` rows of which `starts` start a run.
    pub(crate) fn record(&self, rows: u64, starts: u64) {
        let seen = self.seen.fetch_add(rows, Ordering::Relaxed) + rows;
        let started = self.starts.fetch_add(starts, Ordering::Relaxed) + starts;
        if seen >= JUDGE_AFTER && started * 2 > seen {
            self.off.store(true, Ordering::Relaxed);
        }
    }
}
