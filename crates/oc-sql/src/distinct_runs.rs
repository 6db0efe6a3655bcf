//! A physical optimizer rule: below a partial aggregation that only collects distinct keys
//! (`COUNT(DISTINCT code_insee)`, `SELECT DISTINCT …`), the rows that repeat the key of the
//! row before them are dropped first.
//!
//! Lake files are written sorted (by code, or by the `cluster_by` columns), so the keys come
//! in runs: bench q4 (`COUNT(DISTINCT code_insee)` per exercice) hashes 20 M rows into 53 K
//! groups, about 370 rows per run, and the hashing was most of its time (`EXPLAIN ANALYZE`:
//! 189 ms of CPU in the partial aggregation of 20 M string keys). Comparing a row with the
//! one before costs a fraction of a hash lookup.
//!
//! Dropping a row whose key equals the previous row's never loses a key: the first row of
//! each run stays. The aggregation above still removes duplicates, so the filter only has to
//! be cheap, not complete: each batch keeps its first row, and when the rows kept are more
//! than half of those seen (keys in no order), the filter stops comparing and passes batches
//! through.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{BooleanArray, BooleanBufferBuilder};
use arrow::datatypes::{DataType, Field, FieldRef, Schema};
use arrow::record_batch::RecordBatch;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::ColumnarValue;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::execution_plan::{ChildrenPropertiesMode, ReplaceChildrenOptions};
use datafusion::physical_plan::filter::FilterExec;

use crate::runs::{Judge, differs_from_previous, keys_only};

/// The rule's name, by which sessions that serialize plans leave it out.
pub const RULE_NAME: &str = "distinct_runs";

#[derive(Debug, Default)]
pub struct DistinctRuns;

crate::runs::node_rule!(DistinctRuns, RULE_NAME, rewrite);

/// The aggregation over a filter of run starts, when it aggregates rows into keys only.
fn rewrite(node: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some((agg, keys)) = keys_only(node) else {
        return Ok(None);
    };
    let keys: Vec<Arc<dyn PhysicalExpr>> = keys
        .into_iter()
        .map(|c| Arc::new(c) as Arc<dyn PhysicalExpr>)
        .collect();
    let input = Arc::clone(agg.input());
    if input
        .downcast_ref::<FilterExec>()
        .is_some_and(|f| f.predicate().is::<RunStarts>())
    {
        return Ok(None);
    }
    let filter = FilterExec::try_new(Arc::new(RunStarts::new(keys)), input)?;
    Ok(Some(Arc::clone(node).replace_children(
        vec![Arc::new(filter)],
        ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
    )?))
}

/// True on the rows whose key differs from the previous row's (NULL equal to NULL, as in
/// grouping), and on each batch's first row; true on every row once the keys proved not to
/// come in runs.
#[derive(Debug)]
pub struct RunStarts {
    keys: Vec<Arc<dyn PhysicalExpr>>,
    judge: Judge,
}

impl RunStarts {
    fn new(keys: Vec<Arc<dyn PhysicalExpr>>) -> Self {
        Self {
            keys,
            judge: Judge::default(),
        }
    }

    fn starts(&self, batch: &RecordBatch) -> Result<BooleanArray> {
        let n = batch.num_rows();
        let keys = self
            .keys
            .iter()
            .map(|k| k.evaluate(batch)?.into_array(n))
            .collect::<Result<Vec<_>>>()?;
        let differs = differs_from_previous(&keys)?;
        let mut starts = BooleanBufferBuilder::new(n);
        starts.append(true);
        match differs {
            // `distinct` answers true or false, never NULL.
            Some(d) => starts.append_buffer(d.values()),
            None => starts.append_n(n - 1, false),
        }
        Ok(BooleanArray::new(starts.finish(), None))
    }
}

impl PartialEq for RunStarts {
    fn eq(&self, other: &Self) -> bool {
        self.keys == other.keys
    }
}

impl Eq for RunStarts {}

impl Hash for RunStarts {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.keys.hash(state);
    }
}

impl fmt::Display for RunStarts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "run_starts(")?;
        for (i, k) in self.keys.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{k}")?;
        }
        write!(f, ")")
    }
}

impl PhysicalExpr for RunStarts {
    fn return_field(&self, _input_schema: &Schema) -> Result<FieldRef> {
        Ok(Arc::new(Field::new("run_starts", DataType::Boolean, false)))
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<ColumnarValue> {
        let n = batch.num_rows() as u64;
        if self.judge.off() || n < 2 {
            return Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))));
        }
        let starts = self.starts(batch)?;
        self.judge.record(n, starts.true_count() as u64);
        Ok(ColumnarValue::Array(Arc::new(starts)))
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        self.keys.iter().collect()
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn PhysicalExpr>>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        Ok(Arc::new(Self::new(children)))
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }

    // Its value depends on the row before: no rule may move it (filter pushdown leaves
    // volatile predicates where they are). The rule runs last anyway (session.rs).
    fn is_volatile_node(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::JUDGE_AFTER;
    use crate::session::rule_tests;
    use arrow::array::{ArrayRef, Int64Array, StringArray};
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;

    /// `rows` rows of (exercice, code) in batches of 1,000, as two partitions: in runs of
    /// about 37 rows (a NULL code among them), or scattered.
    fn table(rows: usize, in_runs: bool) -> MemTable {
        let code = |i: usize| -> Option<String> {
            let k = if in_runs { i / 37 } else { (i * 7919) % 997 };
            (k % 11 != 3).then(|| format!("{:05}", k % 997))
        };
        let batches: Vec<RecordBatch> = (0..rows)
            .step_by(1000)
            .map(|start| {
                let end = (start + 1000).min(rows);
                let exercice: Vec<i64> =
                    (start..end).map(|i| 2020 + (i * 3 / rows) as i64).collect();
                let codes: Vec<Option<String>> = (start..end).map(code).collect();
                RecordBatch::try_from_iter([
                    ("exercice", Arc::new(Int64Array::from(exercice)) as ArrayRef),
                    ("code", Arc::new(StringArray::from(codes)) as ArrayRef),
                ])
                .unwrap()
            })
            .collect();
        let schema = batches[0].schema();
        let half = batches.len() / 2;
        MemTable::try_new(
            schema,
            vec![batches[..half].to_vec(), batches[half..].to_vec()],
        )
        .unwrap()
    }

    fn context(t: MemTable, with_rule: bool) -> SessionContext {
        let ctx = rule_tests::context((!with_rule).then_some(RULE_NAME), &[]);
        ctx.register_table("t", Arc::new(t)).unwrap();
        ctx
    }

    async fn run(ctx: &SessionContext, sql: &str) -> String {
        rule_tests::rows(ctx, sql).await
    }

    #[tokio::test]
    async fn same_distinct_keys_as_datafusion() {
        // 200,000 rows: past the point where the filter judges the order of the keys, so
        // that scattered keys turn it off within the query.
        for in_runs in [true, false] {
            let ours = context(table(200_000, in_runs), true);
            let theirs = context(table(200_000, in_runs), false);
            for sql in [
                "SELECT exercice, COUNT(DISTINCT code) AS n FROM t GROUP BY exercice ORDER BY exercice",
                "SELECT DISTINCT code FROM t ORDER BY code",
                "SELECT COUNT(*) FROM (SELECT DISTINCT exercice, code FROM t)",
                "SELECT code FROM t GROUP BY code ORDER BY code NULLS FIRST",
            ] {
                assert_eq!(run(&ours, sql).await, run(&theirs, sql).await, "{sql}");
                let plan = run(&ours, &format!("EXPLAIN {sql}")).await;
                assert!(plan.contains("FilterExec: run_starts("), "{plan}");
            }
            // No filter: an aggregate function needs every row; `DISTINCT … LIMIT` stops
            // reading early, which coalesced filter output would delay; arrow's `distinct`
            // does not compare lists.
            for sql in [
                "SELECT code, COUNT(*) FROM t GROUP BY code",
                "SELECT DISTINCT code FROM t LIMIT 3",
                "SELECT code FROM t GROUP BY code ORDER BY code LIMIT 5",
                "SELECT DISTINCT make_array(code) FROM t",
            ] {
                let plan = run(&ours, &format!("EXPLAIN {sql}")).await;
                assert!(!plan.contains("run_starts"), "{plan}");
                if !sql.contains("LIMIT") {
                    let count = format!("SELECT COUNT(*) FROM ({sql})");
                    assert_eq!(run(&ours, &count).await, run(&theirs, &count).await);
                }
            }
        }
    }

    /// Its filter is right only directly below the aggregation: no rule may run after it.
    #[test]
    fn runs_last() {
        let state = crate::session::new_context().state();
        assert_eq!(
            state.physical_optimizers().last().map(|r| r.name()),
            Some(RULE_NAME)
        );
    }

    /// In runs, the filter keeps a run's first row (and each batch's); out of order, it
    /// stops comparing once it has seen that most rows start a run.
    #[test]
    fn keeps_run_starts_and_gives_up_on_scattered_keys() {
        let batch = |i: usize, in_runs: bool| -> RecordBatch {
            let k = |j: usize| if in_runs { j / 100 } else { (j * 7919) % 997 };
            let codes: Vec<Option<String>> = (i * 1000..(i + 1) * 1000)
                .map(|j| (k(j) % 5 != 0).then(|| k(j).to_string()))
                .collect();
            RecordBatch::try_from_iter([("code", Arc::new(StringArray::from(codes)) as ArrayRef)])
                .unwrap()
        };
        let schema = batch(0, true).schema();
        let starts = |e: &RunStarts, b: &RecordBatch| -> Option<usize> {
            match e.evaluate(b).unwrap() {
                ColumnarValue::Array(a) => Some(
                    a.as_any()
                        .downcast_ref::<BooleanArray>()
                        .unwrap()
                        .true_count(),
                ),
                ColumnarValue::Scalar(_) => None,
            }
        };
        let runs = RunStarts::new(vec![
            datafusion::physical_expr::expressions::col("code", &schema).unwrap(),
        ]);
        for i in 0..100 {
            // 10 runs of 100 rows per batch (NULL runs too), each starting at a batch's
            // row 0 or a multiple of 100.
            assert_eq!(starts(&runs, &batch(i, true)), Some(10), "batch {i}");
        }
        assert!(!runs.judge.off());
        let scattered = RunStarts::new(vec![
            datafusion::physical_expr::expressions::col("code", &schema).unwrap(),
        ]);
        let judged = (JUDGE_AFTER as usize).div_ceil(1000);
        for i in 0..judged {
            assert!(starts(&scattered, &batch(i, false)).unwrap() > 900);
        }
        assert!(scattered.judge.off());
        assert_eq!(starts(&scattered, &batch(judged, false)), None);
        // One row (and none): kept, without comparing.
        let fresh = RunStarts::new(vec![
            datafusion::physical_expr::expressions::col("code", &schema).unwrap(),
        ]);
        assert_eq!(starts(&fresh, &batch(0, true).slice(5, 1)), None);
        assert_eq!(starts(&fresh, &batch(0, true).slice(5, 0)), None);
    }
}
