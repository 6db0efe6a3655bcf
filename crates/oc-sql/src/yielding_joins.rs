//! Joins and unnests that yield: each batch they produce takes a unit of tokio's cooperative
//! budget, so the task running them gives the thread back every so often.
//!
//! Why: a join can produce thousands of batches from one batch of its input (`communes JOIN
//! balances ON true`: every row of a probe batch paired with 35,000 communes), and DataFusion
//! makes only its scans and exchanges cooperative. An aggregation above such a join takes
//! batch after batch without its task ever yielding, so a cancelled query (its deadline
//! passed, its client gone) kept both cores of a server busy for the minute its join took,
//! every other request waiting (issue 20). Wrapped, the task yields every so many batches,
//! where the query's cancellation takes effect.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::config::ConfigOptions;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::joins::{
    CrossJoinExec, HashJoinExec, NestedLoopJoinExec, SortMergeJoinExec, SymmetricHashJoinExec,
};
use datafusion::physical_plan::unnest::UnnestExec;

#[derive(Debug, Default)]
pub struct YieldingJoins;

fn multiplies_rows(plan: &dyn ExecutionPlan) -> bool {
    plan.is::<NestedLoopJoinExec>()
        || plan.is::<CrossJoinExec>()
        || plan.is::<HashJoinExec>()
        || plan.is::<SortMergeJoinExec>()
        || plan.is::<SymmetricHashJoinExec>()
        || plan.is::<UnnestExec>()
}

impl PhysicalOptimizerRule for YieldingJoins {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            if multiplies_rows(node.as_ref()) {
                Ok(Transformed::yes(
                    Arc::new(CooperativeExec::new(node)) as Arc<dyn ExecutionPlan>
                ))
            } else {
                Ok(Transformed::no(node))
            }
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "yielding_joins"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    /// CPU time (ms) of this process's threads named `name`.
    fn cpu_ms(name: &str) -> u64 {
        let ticks_per_ms = 10; // USER_HZ is 100 on Linux
        let mut total = 0;
        for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if comm.trim() != name {
                continue;
            }
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            // fields after the command's closing parenthesis: utime is the 12th, stime the 13th
            let rest = &stat[stat.rfind(')').unwrap() + 2..];
            let f: Vec<u64> = rest
                .split(' ')
                .skip(11)
                .take(2)
                .map(|v| v.parse().unwrap())
                .collect();
            total += (f[0] + f[1]) * ticks_per_ms;
        }
        total
    }

    /// A grouped count over a cross join of 20,000 × 2 million rows, cancelled after 300 ms:
    /// its threads are idle right after (without the rule, the aggregation went on taking
    /// the join's batches, a second of CPU in every second after the cancel).
    #[test]
    fn a_cancelled_cross_join_stops_at_once() {
        let name = "yj-test"; // (a thread's name is cut at 15 bytes)
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(name)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let ctx = crate::session::new_context();
            let df = ctx
                .sql(
                    "SELECT a.x % 10 AS k, count(*) FROM generate_series(1, 20000) a(x) \
                     JOIN generate_series(1, 2000000) b(y) ON true GROUP BY k",
                )
                .await
                .unwrap();
            let plan = df.create_physical_plan().await.unwrap();
            let shown = datafusion::physical_plan::displayable(plan.as_ref())
                .indent(false)
                .to_string();
            assert!(shown.contains("CooperativeExec"), "{shown}");
            let run = tokio::spawn(datafusion::physical_plan::collect(plan, ctx.task_ctx()));
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert!(!run.is_finished(), "the join should take seconds");
            run.abort();
            let _ = run.await;
            tokio::time::sleep(Duration::from_millis(200)).await;
            let before = cpu_ms(name);
            tokio::time::sleep(Duration::from_millis(1000)).await;
            let spent = cpu_ms(name) - before;
            assert!(
                spent < 200,
                "{spent} ms of CPU in the second after the cancel"
            );
        });
    }
}
