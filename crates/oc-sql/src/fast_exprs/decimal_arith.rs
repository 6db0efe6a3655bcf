//! `a + b` and `a - b` of two `Decimal128` columns of one scale (`debit - credit`: every
//! balance figure). arrow-rs 59 adds decimals with a checked operation per value through
//! `try_binary`, one `Result` per value, which does not vectorise: 17 % of bench q3's CPU. Here
//! the values are added with wrapping arithmetic and the overflows counted on the side, with
//! no branch per value; if any value overflowed, DataFusion's own evaluation runs, which
//! fails as it would have (or succeeds, when the overflow was in a NULL slot, whose value
//! arrow skips). Without an overflow, the sums are those of the checked operation, and the
//! result has the type DataFusion gives the expression (one digit more, same scale): no value
//! is rescaled when the scales are equal, and arrow does not check the precision either.
//!
//! The fix belongs in arrow-arith (`numeric.rs`, `decimal_op`: the same loop for `Add` and
//! `Sub` of equal scales); this is the local stand-in.

use std::sync::Arc;

use arrow::array::{Array, AsArray, PrimitiveArray};
use arrow::buffer::{NullBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Decimal128Type, Schema};
use arrow::record_batch::RecordBatch;
use datafusion::common::Result;
use datafusion::logical_expr::{ColumnarValue, Operator};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{BinaryExpr, CastExpr, Column};

use super::faster::{Evaluation, Faster};

/// `a ± b` of decimals of one scale; the original is the `BinaryExpr`, evaluated when a value
/// overflows.
pub(crate) type DecimalAddSub = Faster<AddSub>;

#[derive(Debug)]
pub(crate) struct AddSub {
    pub(crate) left: Arc<dyn PhysicalExpr>,
    pub(crate) right: Arc<dyn PhysicalExpr>,
    subtract: bool,
    /// DataFusion's type for the result.
    out: DataType,
}

/// Always an array, never a scalar: a column or arithmetic on columns.
fn array_valued(e: &Arc<dyn PhysicalExpr>) -> bool {
    e.is::<Column>()
        || e.is::<DecimalAddSub>()
        || e.downcast_ref::<CastExpr>()
            .is_some_and(|c| array_valued(c.expr()))
}

/// `e` as `+` or `-`, and whether it subtracts.
fn add_or_sub(e: &Arc<dyn PhysicalExpr>) -> Option<(&BinaryExpr, bool)> {
    let b = e.downcast_ref::<BinaryExpr>()?;
    match b.op() {
        Operator::Plus => Some((b, false)),
        Operator::Minus => Some((b, true)),
        _ => None,
    }
}

pub(crate) fn try_new(e: &Arc<dyn PhysicalExpr>, schema: &Schema) -> Option<DecimalAddSub> {
    let (b, subtract) = add_or_sub(e)?;
    let (left, right) = (b.left(), b.right());
    if !array_valued(left) || !array_valued(right) {
        return None;
    }
    let (DataType::Decimal128(_, ls), DataType::Decimal128(_, rs)) =
        (left.data_type(schema).ok()?, right.data_type(schema).ok()?)
    else {
        return None;
    };
    let out = e.data_type(schema).ok()?;
    if ls != rs || !matches!(out, DataType::Decimal128(_, s) if s == ls) {
        return None;
    }
    Some(Faster {
        orig: Arc::clone(e),
        eval: AddSub {
            left: Arc::clone(left),
            right: Arc::clone(right),
            subtract,
            out,
        },
    })
}

/// `l ± r` per value with wrapping arithmetic; None if any value overflowed.
fn add_sub(l: &[i128], r: &[i128], subtract: bool) -> Option<Vec<i128>> {
    if subtract {
        each(l, r, i128::overflowing_sub)
    } else {
        each(l, r, i128::overflowing_add)
    }
}

/// `op` per pair of values (monomorphised for each `op`, so the loop has no call in it).
fn each(l: &[i128], r: &[i128], op: impl Fn(i128, i128) -> (i128, bool)) -> Option<Vec<i128>> {
    let mut overflowed = false;
    let out: Vec<i128> = l
        .iter()
        .zip(r)
        .map(|(a, b)| {
            let (v, o) = op(*a, *b);
            overflowed |= o;
            v
        })
        .collect();
    (!overflowed).then_some(out)
}

impl Evaluation for AddSub {
    fn rebuild(&self, orig: &Arc<dyn PhysicalExpr>) -> Option<Self> {
        // The schema is not known here: the types were checked when `self` was made, and a
        // rewritten operand keeps its type (checked again at evaluation).
        let (b, subtract) = add_or_sub(orig)?;
        Some(Self {
            left: Arc::clone(b.left()),
            right: Arc::clone(b.right()),
            subtract,
            out: self.out.clone(),
        })
    }

    fn evaluate(&self, orig: &Arc<dyn PhysicalExpr>, batch: &RecordBatch) -> Result<ColumnarValue> {
        let (ColumnarValue::Array(l), ColumnarValue::Array(r)) =
            (self.left.evaluate(batch)?, self.right.evaluate(batch)?)
        else {
            return orig.evaluate(batch);
        };
        let (Some(l), Some(r)) = (
            l.as_primitive_opt::<Decimal128Type>(),
            r.as_primitive_opt::<Decimal128Type>(),
        ) else {
            return orig.evaluate(batch);
        };
        // Checked when the plan was made; again here, since a wrong scale would be a wrong
        // sum and not an error.
        let same_scale = matches!(
            (l.data_type(), r.data_type(), &self.out),
            (DataType::Decimal128(_, a), DataType::Decimal128(_, b), DataType::Decimal128(_, c))
                if a == b && b == c
        );
        if !same_scale {
            return orig.evaluate(batch);
        }
        match add_sub(l.values(), r.values(), self.subtract) {
            Some(values) => Ok(ColumnarValue::Array(Arc::new(
                PrimitiveArray::<Decimal128Type>::new(
                    ScalarBuffer::from(values),
                    NullBuffer::union(l.nulls(), r.nulls()),
                )
                .with_data_type(self.out.clone()),
            ))),
            None => orig.evaluate(batch),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::fast_exprs::tests::{balances, both, same_overflow_error};

    #[tokio::test]
    async fn same_results_as_datafusion() {
        for sql in [
            // per row, NULLs on either side
            "SELECT compte, debit - credit AS d, debit + credit AS s, (debit - credit) - (credit - debit) AS n \
             FROM t ORDER BY compte, debit, credit",
            // bench q1's shape
            "SELECT compte, SUM(debit - credit) AS s FROM t WHERE compte LIKE '6%' GROUP BY compte ORDER BY compte",
            // scales 2 and 0 after the cast: DataFusion's rescaling, not ours
            "SELECT SUM(debit - CAST(credit AS DECIMAL(38, 0))) AS s FROM t",
        ] {
            let (ours, theirs, found) = both(sql, || balances(None)).await;
            if sql.contains("DECIMAL(38, 0)") {
                assert!(!found.contains(&"DecimalAddSub"), "rewritten: {sql}");
            } else {
                assert!(found.contains(&"DecimalAddSub"), "not rewritten: {sql}");
            }
            assert_eq!(ours.unwrap(), theirs.unwrap(), "{sql}");
        }
    }

    /// An overflow fails the query as DataFusion's checked addition does, with its message.
    #[tokio::test]
    async fn an_overflow_is_datafusion_error() {
        let sql = "SELECT SUM(debit + debit) AS s FROM t";
        let (ours, theirs, found) = both(sql, || balances(Some((5, "7011")))).await;
        assert!(found.contains(&"DecimalAddSub"));
        same_overflow_error(ours, theirs);
    }

    /// The overflowing value is in a NULL slot (the credit of the huge row): arrow skips it,
    /// so the query succeeds; the wrapping loop saw the overflow and handed the batch to arrow.
    #[tokio::test]
    async fn an_overflow_in_a_null_slot_is_not_an_error() {
        let sql = "SELECT SUM(debit + credit) AS s, COUNT(debit + credit) AS n FROM t";
        let (ours, theirs, found) = both(sql, || balances(Some((5, "7011")))).await;
        assert!(found.contains(&"DecimalAddSub"));
        assert_eq!(ours.unwrap(), theirs.unwrap());
    }
}
