//! `CASE WHEN p THEN e ELSE literal END` where `e` is arithmetic on columns
//! (`SUM(CASE WHEN compte LIKE '6%' THEN debit - credit ELSE 0 END)`, the shape of every
//! "expenses of class 6" figure). DataFusion 55 evaluates such a `CASE` by filtering the
//! batch's columns to the rows where `p` holds, evaluating `e` on them and merging the result
//! with the literal: filtering five columns costs more than the two subtractions. Here `e` is
//! evaluated on the whole batch and the literal put where `p` does not hold, a select per row.
//!
//! The result is the `CASE`'s, row for row: `e` is computed row by row from its own row only,
//! so its value on a selected row does not depend on the other rows. Only its failures could:
//! an overflow on a row that `p` leaves out must not fail the query, so when `e` fails on the
//! whole batch, it is evaluated again on the selected rows only, as DataFusion does. When `p`
//! selects few rows, filtering them first is the cheaper path and is taken too.
//!
//! bench q3 at 20M rows: the two `CASE` arguments of its sums were 0.57 s of CPU out of 1.4 s
//! (`aggregate_arguments_time` in `EXPLAIN ANALYZE`); bench/README.md has the A/B. The fix
//! belongs in DataFusion's `CaseExpr::expr_or_expr` (the same test on its `then` expression);
//! this rewrite (`fast_exprs`) is the local stand-in.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, PrimitiveArray, Scalar, downcast_primitive_array,
};
use arrow::buffer::{BooleanBuffer, NullBuffer, ScalarBuffer};
use arrow::compute::kernels::zip::zip;
use arrow::datatypes::{ArrowPrimitiveType, DataType, Schema};
use arrow::record_batch::RecordBatch;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, Operator};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{
    BinaryExpr, CaseExpr, CastExpr, Column, Literal, NegativeExpr,
};

use super::decimal_arith::DecimalAddSub;
use super::faster::{Evaluation, Faster};

/// Below one selected row in `FILTER_BELOW`, the selected rows are filtered first: copying a
/// few rows costs less than computing them all. The bound is a guess between those costs, not
/// a measured crossing point (bench q3 selects about 40 % of the rows of a batch).
const FILTER_BELOW: usize = 8;

/// Computed from its own row only, and cheap enough to compute for every row: columns,
/// literals, `+`, `-`, `*`, negation and casts to numbers.
fn row_arithmetic(e: &Arc<dyn PhysicalExpr>) -> bool {
    if e.is::<Column>() || e.is::<Literal>() {
        return true;
    }
    if let Some(b) = e.downcast_ref::<BinaryExpr>() {
        return matches!(
            b.op(),
            Operator::Plus | Operator::Minus | Operator::Multiply
        ) && row_arithmetic(b.left())
            && row_arithmetic(b.right());
    }
    if let Some(d) = e.downcast_ref::<DecimalAddSub>() {
        return row_arithmetic(&d.eval.left) && row_arithmetic(&d.eval.right);
    }
    if let Some(n) = e.downcast_ref::<NegativeExpr>() {
        return row_arithmetic(n.arg());
    }
    // The widening of a decimal difference to the `CASE`'s type (`ELSE 0` makes it wider).
    if let Some(c) = e.downcast_ref::<CastExpr>() {
        return c.cast_type().is_numeric() && row_arithmetic(c.expr());
    }
    false
}

/// `CASE WHEN … THEN <arithmetic> ELSE <literal> END`, evaluated as the module's documentation
/// says; the original is the `CaseExpr`.
pub(crate) type ZipCase = Faster<Zip>;

#[derive(Debug)]
pub(crate) struct Zip {
    when: Arc<dyn PhysicalExpr>,
    then: Arc<dyn PhysicalExpr>,
    /// The `CASE`'s type, known when the plan is made (a schema is needed for it).
    ty: DataType,
    /// The `ELSE` literal (NULL without one), cast to `ty` once.
    otherwise: ScalarValue,
}

impl Zip {
    fn of(e: &Arc<dyn PhysicalExpr>, ty: &DataType) -> Option<Self> {
        let case = e.downcast_ref::<CaseExpr>()?;
        let [(when, then)] = case.when_then_expr() else {
            return None;
        };
        if case.expr().is_some() || !row_arithmetic(then) {
            return None;
        }
        // No ELSE is ELSE NULL (DataFusion drops a literal NULL one).
        let otherwise = match case.else_expr() {
            Some(e) => e.downcast_ref::<Literal>()?.value().clone(),
            None => ScalarValue::Null,
        };
        Some(Self {
            when: Arc::clone(when),
            then: Arc::clone(then),
            ty: ty.clone(),
            otherwise: otherwise.cast_to(ty).ok()?,
        })
    }
}

pub(crate) fn try_new(e: &Arc<dyn PhysicalExpr>, schema: &Schema) -> Option<ZipCase> {
    Some(Faster {
        eval: Zip::of(e, &e.data_type(schema).ok()?)?,
        orig: Arc::clone(e),
    })
}

/// `then` where `mask` is set, `otherwise` elsewhere (arrow's `zip`, but for numbers a select
/// per row: its general path copies runs of rows, which are short here).
fn select(mask: &BooleanBuffer, then: &ArrayRef, otherwise: &ScalarValue) -> Result<ArrayRef> {
    if then.len() != mask.len() {
        return datafusion::common::internal_err!(
            "CASE: {} values for {} rows",
            then.len(),
            mask.len()
        );
    }
    let other = otherwise.to_array_of_size(1)?;
    downcast_primitive_array!(
        then => if let Some(other) = other.as_primitive_opt() {
            return Ok(select_primitive(mask, then, other));
        },
        _ => {}
    );
    Ok(zip(
        &BooleanArray::new(mask.clone(), None),
        then,
        &Scalar::new(other),
    )?)
}

fn select_primitive<T: ArrowPrimitiveType>(
    mask: &BooleanBuffer,
    then: &PrimitiveArray<T>,
    other: &PrimitiveArray<T>,
) -> ArrayRef {
    let fill = if other.is_valid(0) {
        other.value(0)
    } else {
        T::Native::default()
    };
    let values = then.values();
    let mut out = Vec::with_capacity(values.len());
    // 64 rows per mask word; the select compiles to a conditional move.
    for (w, word) in mask.bit_chunks().iter_padded().enumerate() {
        let start = w * 64;
        let rows = &values[start..values.len().min(start + 64)];
        out.extend(
            rows.iter()
                .enumerate()
                .map(|(i, v)| if word >> i & 1 == 1 { *v } else { fill }),
        );
    }
    // Valid where selected and `then` is valid, or not selected and the literal is valid.
    let nulls = match (then.nulls(), other.is_valid(0)) {
        (None, true) => None,
        (Some(t), true) => Some(NullBuffer::new(&!mask | t.inner())),
        (None, false) => Some(NullBuffer::new(mask.clone())),
        (Some(t), false) => Some(NullBuffer::new(mask & t.inner())),
    };
    Arc::new(
        PrimitiveArray::<T>::new(ScalarBuffer::from(out), nulls)
            .with_data_type(then.data_type().clone()),
    )
}

impl Evaluation for Zip {
    fn rebuild(&self, orig: &Arc<dyn PhysicalExpr>) -> Option<Self> {
        // A rewritten child keeps its type, so the `CASE` keeps its own.
        Self::of(orig, &self.ty)
    }

    fn evaluate(&self, case: &Arc<dyn PhysicalExpr>, batch: &RecordBatch) -> Result<ColumnarValue> {
        let n = batch.num_rows();
        let when = self.when.evaluate(batch)?.into_array(n)?;
        let Some(when) = when.as_boolean_opt() else {
            return case.evaluate(batch); // DataFusion's error
        };
        // NULL is not true: the literal goes there.
        let mask = match when.nulls() {
            Some(nulls) => when.values() & nulls.inner(),
            None => when.values().clone(),
        };
        if matches!(self.ty, DataType::Dictionary(..)) {
            // arrow's zip merges the two dictionaries, and panics when the keys run out;
            // DataFusion's own path does not merge them.
            return case.evaluate(batch);
        }
        let selected = mask.count_set_bits();
        if selected == 0 {
            return Ok(ColumnarValue::Scalar(self.otherwise.clone()));
        }
        if selected == n {
            return self.then.evaluate(batch);
        }
        let whole = if selected * FILTER_BELOW < n {
            None
        } else {
            // An error may come from a row that is not selected: then only the selected ones.
            self.then.evaluate(batch).and_then(|v| v.into_array(n)).ok()
        };
        let then = match whole {
            Some(then) => then,
            None => self
                .then
                .evaluate_selection(batch, &BooleanArray::new(mask.clone(), None))?
                .into_array(n)?,
        };
        Ok(ColumnarValue::Array(select(&mask, &then, &self.otherwise)?))
    }
}

#[cfg(test)]
mod tests {
    use crate::fast_exprs::tests::{balances, both, same_overflow_error};

    #[tokio::test]
    async fn same_results_as_datafusion_case() {
        for sql in [
            // bench q3's shape: widened by the ELSE, summed
            "SELECT SUM(CASE WHEN compte LIKE '6%' THEN (debit - credit) - (credit - debit) ELSE 0 END) AS s, \
             COUNT(*) AS n FROM t",
            // per row, with NULL codes and amounts, the literal NULL and negation
            "SELECT compte, CASE WHEN compte LIKE '6%' THEN -(debit * 2) + credit ELSE NULL END AS v \
             FROM t ORDER BY compte, debit, credit, v",
            "SELECT SUM(CASE WHEN compte LIKE '6%' THEN debit ELSE 1.5 END) AS s FROM t",
            // not a number: arrow's zip
            "SELECT compte, CASE WHEN debit > 0 THEN compte ELSE 'x' END AS c FROM t \
             ORDER BY compte, debit, credit, c",
            "SELECT compte, SUM(CASE WHEN compte <> '1641' THEN debit - credit ELSE -1 END) AS s \
             FROM t GROUP BY compte ORDER BY compte",
        ] {
            let (ours, theirs, found) = both(sql, || balances(None)).await;
            assert!(found.contains(&"ZipCase"), "not rewritten: {sql}");
            assert_eq!(ours.unwrap(), theirs.unwrap(), "{sql}");
        }
    }

    /// `debit + debit` overflows on one row: not selected, the `CASE` does not fail (the whole
    /// batch's evaluation fails and the selected rows are evaluated alone); selected, it fails
    /// as DataFusion's does.
    #[tokio::test]
    async fn an_overflow_fails_only_on_a_selected_row() {
        let sql =
            "SELECT SUM(CASE WHEN compte LIKE '6%' THEN debit + debit ELSE 0 END) AS s FROM t";
        let (ours, theirs, found) = both(sql, || balances(Some((5, "7011")))).await;
        assert!(found.contains(&"ZipCase"));
        assert_eq!(ours.unwrap(), theirs.unwrap());
        let (ours, theirs, _) = both(sql, || balances(Some((5, "6061")))).await;
        same_overflow_error(ours, theirs);
    }

    /// Division can fail on rows the `CASE` guards against (`WHEN x <> 0 THEN y / x`), and
    /// functions and an ELSE that is not a literal are left to DataFusion.
    #[tokio::test]
    async fn other_shapes_are_not_rewritten() {
        for sql in [
            "SELECT SUM(CASE WHEN credit <> 0 THEN debit / credit ELSE 0 END) AS s FROM t",
            "SELECT SUM(CASE WHEN compte LIKE '6%' THEN abs(debit) ELSE 0 END) AS s FROM t",
            "SELECT SUM(CASE WHEN compte LIKE '6%' THEN debit - credit ELSE credit END) AS s FROM t",
        ] {
            let (ours, theirs, found) = both(sql, || balances(None)).await;
            assert!(!found.contains(&"ZipCase"), "rewritten: {sql}");
            assert_eq!(ours.unwrap(), theirs.unwrap(), "{sql}");
        }
    }

    /// A `THEN` of dictionary type goes DataFusion's way: arrow's `zip` would merge the
    /// dictionaries, and 256 values with `UInt8` keys leave no key for the NULL of `ELSE`.
    #[tokio::test]
    async fn a_full_dictionary_goes_datafusions_way() {
        use arrow::array::{DictionaryArray, Int64Array, RecordBatch, StringArray};
        use arrow::datatypes::{DataType, Field, Schema, UInt8Type};
        use datafusion::datasource::MemTable;
        use std::sync::Arc;
        fn table() -> MemTable {
            let values: Vec<String> = (0..256).map(|i| format!("{i:05}")).collect();
            let keys: Vec<u8> = (0..=255).collect();
            let dict = DictionaryArray::<UInt8Type>::try_new(
                keys.into(),
                Arc::new(StringArray::from(values)),
            )
            .unwrap();
            let schema = Arc::new(Schema::new(vec![
                Field::new("k", DataType::Int64, false),
                Field::new("d", arrow::array::Array::data_type(&dict).clone(), false),
            ]));
            let k = Int64Array::from((0..256).collect::<Vec<i64>>());
            let batch =
                RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(k), Arc::new(dict)])
                    .unwrap();
            MemTable::try_new(schema, vec![vec![batch]]).unwrap()
        }
        // half of the rows selected, and few (filtered first)
        for sql in [
            "SELECT k, CASE WHEN k % 2 = 0 THEN d END AS c FROM t ORDER BY k",
            "SELECT k, CASE WHEN k % 50 = 0 THEN d END AS c FROM t ORDER BY k",
        ] {
            let (ours, theirs, found) = both(sql, table).await;
            assert!(found.contains(&"ZipCase"));
            assert_eq!(ours.unwrap(), theirs.unwrap(), "{sql}");
        }
    }
}
