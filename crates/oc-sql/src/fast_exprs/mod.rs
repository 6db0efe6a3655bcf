//! A physical optimizer rule that evaluates two common shapes of expression faster than
//! DataFusion 55 does, with the same results (each module says why they are the same):
//! - [`decimal_arith`]: `+` and `-` of decimals of one scale (`debit - credit`);
//! - [`case_zip`]: `CASE WHEN p THEN <arithmetic> ELSE <literal> END`.
//!
//! Each keeps DataFusion's expression as its one child ([`faster`]), which it shows and
//! types as, and falls back to where its own way does not apply.
//!
//! They replace expressions where rows are computed: projections and the arguments of
//! aggregates. Both belong upstream (arrow-rs' decimal kernels, DataFusion's `CaseExpr`); the
//! measurements are in bench/README.md.

mod case_zip;
mod decimal_arith;
pub(crate) mod faster;

use std::sync::Arc;

use arrow::datatypes::Schema;
use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::config::ConfigOptions;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::projection::{ProjectionExec, ProjectionExpr};

/// The rule's name; its expressions have no datafusion-proto form, so a session whose physical
/// plans are serialized leaves it out (`session::serializable_physical_rules`).
pub(crate) const RULE_NAME: &str = "fast_exprs";

#[derive(Debug, Default)]
pub struct FastExprs;

impl PhysicalOptimizerRule for FastExprs {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(rewrite_node).data()
    }

    fn name(&self) -> &str {
        RULE_NAME
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The operands of `e` when it is a decimal `+` or `-` evaluated here ([`decimal_arith`]),
/// which takes each one as a `Decimal64` too.
pub(crate) fn decimal_operands(e: &Arc<dyn PhysicalExpr>) -> Option<[&Arc<dyn PhysicalExpr>; 2]> {
    e.downcast_ref::<decimal_arith::DecimalAddSub>()
        .map(|f| [&f.eval.left, &f.eval.right])
}

/// The plan nodes that compute expressions from their input's rows: projections, and the
/// arguments of aggregates that read rows (not the final step of a two-step aggregate).
fn rewrite_node(node: Arc<dyn ExecutionPlan>) -> Result<Transformed<Arc<dyn ExecutionPlan>>> {
    if let Some(agg) = node.downcast_ref::<AggregateExec>() {
        if matches!(
            agg.mode(),
            AggregateMode::Final | AggregateMode::FinalPartitioned
        ) {
            return Ok(Transformed::no(node));
        }
        let schema = agg.input().schema();
        let mut changed = false;
        let mut aggr = Vec::with_capacity(agg.aggr_expr().len());
        for a in agg.aggr_expr() {
            let all = a.all_expressions();
            let mut args = Vec::with_capacity(all.args.len());
            for arg in all.args {
                let t = rewrite_expr(arg, &schema)?;
                changed |= t.transformed;
                args.push(t.data);
            }
            match a.with_new_expressions(args, all.order_by_exprs) {
                Some(new) => aggr.push(Arc::new(new)),
                None => aggr.push(Arc::clone(a)),
            }
        }
        if !changed {
            return Ok(Transformed::no(node));
        }
        return Ok(Transformed::yes(Arc::new(agg.with_new_aggr_exprs(aggr))));
    }
    if let Some(proj) = node.downcast_ref::<ProjectionExec>() {
        let schema = proj.input().schema();
        let mut changed = false;
        let mut exprs = Vec::with_capacity(proj.expr().len());
        for p in proj.expr() {
            let t = rewrite_expr(Arc::clone(&p.expr), &schema)?;
            changed |= t.transformed;
            exprs.push(ProjectionExpr {
                expr: t.data,
                alias: p.alias.clone(),
            });
        }
        if !changed {
            return Ok(Transformed::no(node));
        }
        // The field and schema metadata of the plan's projection, as DataFusion sets them.
        let new = ProjectionExec::try_new_with_schema_metadata(
            exprs,
            Arc::clone(proj.input()),
            &proj.schema(),
        )?;
        return Ok(Transformed::yes(Arc::new(new)));
    }
    Ok(Transformed::no(node))
}

/// Bottom up, so that a `CASE` sees the arithmetic below it already rewritten.
fn rewrite_expr(
    expr: Arc<dyn PhysicalExpr>,
    schema: &Schema,
) -> Result<Transformed<Arc<dyn PhysicalExpr>>> {
    expr.transform_up(|e| {
        if let Some(d) = decimal_arith::try_new(&e, schema) {
            return Ok(Transformed::yes(Arc::new(d) as Arc<dyn PhysicalExpr>));
        }
        if let Some(z) = case_zip::try_new(&e, schema) {
            return Ok(Transformed::yes(Arc::new(z) as Arc<dyn PhysicalExpr>));
        }
        Ok(Transformed::no(e))
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::case_zip::ZipCase;
    use super::decimal_arith::DecimalAddSub;
    use super::*;
    use arrow::array::{ArrayRef, Decimal128Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field};
    use arrow::util::pretty::pretty_format_batches;
    use datafusion::common::tree_node::TreeNodeRecursion;
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;

    /// Batches of 8,192 rows of accounts and amounts in cents, each batch selecting a different
    /// share of rows for `compte LIKE '6%'`: all, none, one in 20 (DataFusion's path), about
    /// half at random (the zipped path); some codes and amounts NULL. Deterministic.
    /// `huge_at`: in the last batch, that row gets that code, a debit of nearly `i128::MAX`,
    /// and a NULL credit whose slot holds the same value.
    pub(super) fn balances(huge_at: Option<(usize, &str)>) -> MemTable {
        let schema = Arc::new(Schema::new(vec![
            Field::new("compte", DataType::Utf8, true),
            Field::new("debit", DataType::Decimal128(38, 2), true),
            Field::new("credit", DataType::Decimal128(38, 2), true),
        ]));
        let mut seed = 42u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut batches = Vec::new();
        for kind in 0..5 {
            let (mut codes, mut debit) = (Vec::new(), Vec::new());
            // credit's values and validity apart: a NULL slot may hold any value
            let (mut credit, mut credit_valid) = (Vec::new(), Vec::new());
            for i in 0..8192usize {
                let r = next();
                let six = match kind {
                    0 => true,
                    1 => false,
                    2 => i % 20 == 0,
                    _ => r % 2 == 0,
                };
                let code = if six {
                    "6061"
                } else {
                    ["7011", "1641", "4111"][r as usize % 3]
                };
                codes.push((r % 97 != 0).then_some(code));
                debit.push((r % 89 != 0).then_some((r % 10_000_000) as i128 - 2_000_000));
                credit.push((r >> 20) as i128 % 5_000_000);
                credit_valid.push(r % 83 != 0);
                if let Some((row, code)) = huge_at
                    && kind == 4
                    && i == row
                {
                    codes[i] = Some(code);
                    debit[i] = Some(i128::MAX - 1);
                    credit[i] = i128::MAX - 1;
                    credit_valid[i] = false;
                }
            }
            let credit = Decimal128Array::new(credit.into(), Some(credit_valid.into()));
            let columns: Vec<ArrayRef> = vec![
                Arc::new(StringArray::from(codes)),
                Arc::new(Decimal128Array::from(debit).with_data_type(DataType::Decimal128(38, 2))),
                Arc::new(credit.with_data_type(DataType::Decimal128(38, 2))),
            ];
            batches.push(RecordBatch::try_new(Arc::clone(&schema), columns).unwrap());
        }
        MemTable::try_new(schema, vec![batches]).unwrap()
    }

    /// The query's result in our session and in DataFusion's own, and the fast expressions
    /// in our plan.
    pub(super) async fn both(
        sql: &str,
        table: fn() -> MemTable,
    ) -> (Result<String>, Result<String>, Vec<&'static str>) {
        let run = |ctx: SessionContext| async move {
            ctx.register_table("t", Arc::new(table())).unwrap();
            let df = ctx.sql(sql).await.unwrap();
            let plan = df.create_physical_plan().await.unwrap();
            let mut found = Vec::new();
            plan.apply(|n| {
                let mut exprs: Vec<Arc<dyn PhysicalExpr>> = Vec::new();
                if let Some(agg) = n.downcast_ref::<AggregateExec>() {
                    exprs.extend(agg.aggr_expr().iter().flat_map(|a| a.expressions()));
                }
                if let Some(p) = n.downcast_ref::<ProjectionExec>() {
                    exprs.extend(p.expr().iter().map(|e| Arc::clone(&e.expr)));
                }
                // The sums of runs evaluate the aggregates' arguments (run_sums.rs).
                if let Some(r) = n.downcast_ref::<crate::run_sums::RunSumsExec>() {
                    exprs.extend(r.values().iter().cloned());
                }
                for e in exprs {
                    e.apply(|x| {
                        if x.is::<ZipCase>() {
                            found.push("ZipCase");
                        }
                        if x.is::<DecimalAddSub>() {
                            found.push("DecimalAddSub");
                        }
                        Ok(TreeNodeRecursion::Continue)
                    })?;
                }
                Ok(TreeNodeRecursion::Continue)
            })
            .unwrap();
            // the very plan looked at
            let result = datafusion::physical_plan::collect(plan, ctx.task_ctx())
                .await
                .and_then(|b| Ok(pretty_format_batches(&b)?.to_string()));
            (result, found)
        };
        let (ours, found) = run(crate::session::new_context()).await;
        let (theirs, _) = run(SessionContext::new()).await;
        (ours, theirs, found)
    }

    /// Both failed, on an overflow, with the same message.
    pub(super) fn same_overflow_error(ours: Result<String>, theirs: Result<String>) {
        let (ours, theirs) = (
            ours.unwrap_err().to_string(),
            theirs.unwrap_err().to_string(),
        );
        assert!(ours.contains("Overflow"), "{ours}");
        assert_eq!(ours, theirs);
    }

    /// A projection keeps the field metadata the plan gave it (DataFusion builds projections
    /// with the logical schema's metadata; a rebuilt one without it fails the schema check).
    #[tokio::test]
    async fn a_rewritten_projection_keeps_its_metadata() {
        use datafusion::common::metadata::FieldMetadata;
        use datafusion::prelude::col;
        let ctx = crate::session::new_context();
        ctx.register_table("t", Arc::new(balances(None))).unwrap();
        let meta = FieldMetadata::from(std::collections::HashMap::from([(
            "unit".to_string(),
            "EUR".to_string(),
        )]));
        let df = ctx
            .table("t")
            .await
            .unwrap()
            .select(vec![
                (col("debit") - col("credit")).alias_with_metadata("solde", Some(meta)),
            ])
            .unwrap();
        let plan = df.create_physical_plan().await.unwrap();
        let mut rewritten = false;
        plan.apply(|n| {
            if let Some(p) = n.downcast_ref::<ProjectionExec>() {
                rewritten |= p.expr().iter().any(|e| e.expr.is::<DecimalAddSub>());
            }
            Ok(TreeNodeRecursion::Continue)
        })
        .unwrap();
        assert!(rewritten);
        let field = plan.schema().field_with_name("solde").unwrap().clone();
        assert_eq!(
            field.metadata().get("unit").map(String::as_str),
            Some("EUR")
        );
    }
}
