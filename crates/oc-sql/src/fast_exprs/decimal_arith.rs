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
//!
//! An operand may also be a column the scan reads as the `Decimal64` it is stored as
//! (decimal64_sums.rs): its values are widened as they are added, into the `Decimal128` the
//! expression was planned with. Two such operands cannot overflow 128 bits; with one, an
//! overflow is arrow's error on the widened operands, as DataFusion's would be.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, PrimitiveArray};
use arrow::buffer::{NullBuffer, ScalarBuffer};
use arrow::compute::kernels::numeric;
use arrow::datatypes::{DataType, Decimal64Type, Decimal128Type, Schema};
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
    fn return_type(&self) -> Option<&DataType> {
        Some(&self.out)
    }

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
        let (Some((ls, l_narrow)), Some((rs, r_narrow))) = (scale_of(&l), scale_of(&r)) else {
            return orig.evaluate(batch);
        };
        // Checked when the plan was made; again here, since a wrong scale would be a wrong
        // sum and not an error.
        if !(ls == rs && matches!(self.out, DataType::Decimal128(_, s) if s == ls)) {
            return orig.evaluate(batch);
        }
        let values = if l_narrow && r_narrow {
            let (a, b) = (
                l.as_primitive::<Decimal64Type>().values(),
                r.as_primitive::<Decimal64Type>().values(),
            );
            // Each within 64 bits, the result within 65: no overflow.
            Some(if self.subtract {
                widen_each(a, b, |a, b| a - b)
            } else {
                widen_each(a, b, |a, b| a + b)
            })
        } else {
            add_sub(&wide(&l), &wide(&r), self.subtract)
        };
        match values {
            Some(values) => Ok(ColumnarValue::Array(Arc::new(
                PrimitiveArray::<Decimal128Type>::new(
                    ScalarBuffer::from(values),
                    NullBuffer::union(l.nulls(), r.nulls()),
                )
                .with_data_type(self.out.clone()),
            ))),
            // DataFusion's own evaluation, and its error (or its success, when the overflow
            // was in a NULL slot).
            None if !l_narrow && !r_narrow => orig.evaluate(batch),
            // The same on the operands widened to what DataFusion planned them as.
            None => {
                let (l, r) = (widened(&l)?, widened(&r)?);
                let out = if self.subtract {
                    numeric::sub(&l, &r)?
                } else {
                    numeric::add(&l, &r)?
                };
                Ok(ColumnarValue::Array(arrow::compute::cast(&out, &self.out)?))
            }
        }
    }
}

/// The scale of a decimal array, and whether it is a `Decimal64`; None for any other type.
fn scale_of(a: &ArrayRef) -> Option<(i8, bool)> {
    match a.data_type() {
        DataType::Decimal128(_, s) => Some((*s, false)),
        DataType::Decimal64(_, s) => Some((*s, true)),
        _ => None,
    }
}

/// `op` per pair of 64-bit values, in 128 bits (monomorphised per `op`, as [`each`]).
fn widen_each(a: &[i64], b: &[i64], op: impl Fn(i128, i128) -> i128) -> Vec<i128> {
    a.iter()
        .zip(b)
        .map(|(a, b)| op(i128::from(*a), i128::from(*b)))
        .collect()
}

/// The values of a decimal array ([`scale_of`]) as 128-bit integers.
fn wide(a: &ArrayRef) -> Cow<'_, [i128]> {
    match a.as_primitive_opt::<Decimal64Type>() {
        Some(narrow) => Cow::Owned(narrow.values().iter().map(|v| i128::from(*v)).collect()),
        None => Cow::Borrowed(a.as_primitive::<Decimal128Type>().values().as_ref()),
    }
}

/// A decimal array ([`scale_of`]) as the `Decimal128` of its precision and scale (arrow's
/// cast widens a `Decimal64` exactly).
fn widened(a: &ArrayRef) -> Result<ArrayRef> {
    let (DataType::Decimal128(p, s) | DataType::Decimal64(p, s)) = a.data_type() else {
        return datafusion::common::internal_err!("not a decimal: {}", a.data_type());
    };
    Ok(arrow::compute::cast(a, &DataType::Decimal128(*p, *s))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fast_exprs::tests::{balances, both, same_overflow_error};
    use arrow::array::{Decimal64Array, Decimal128Array};
    use arrow::datatypes::Field;
    use datafusion::physical_expr::expressions::binary;

    /// `a OP b` planned on `Decimal128` columns `a` (18, 2) and `b` (`b_type`), evaluated on a
    /// batch whose `a` (and `b`, if `narrow_b`) is read as `Decimal64` (decimal64_sums.rs),
    /// and DataFusion's own evaluation on the `Decimal128` columns.
    fn narrow_and_wide(
        op: Operator,
        a: Vec<Option<i64>>,
        b: Vec<Option<i64>>,
        b_type: DataType,
        narrow_b: bool,
    ) -> (Result<ArrayRef>, Result<ArrayRef>, DataType) {
        let (p, s) = match b_type {
            DataType::Decimal128(p, s) => (p, s),
            _ => unreachable!(),
        };
        let planned = Schema::new(vec![
            Field::new("a", DataType::Decimal128(18, 2), true),
            Field::new("b", b_type.clone(), true),
        ]);
        let e = binary(
            Arc::new(Column::new("a", 0)),
            op,
            Arc::new(Column::new("b", 1)),
            &planned,
        )
        .unwrap();
        let fast: Arc<dyn PhysicalExpr> = Arc::new(try_new(&e, &planned).unwrap());
        let wide_a = |v: &Vec<Option<i64>>| -> ArrayRef {
            Arc::new(
                Decimal128Array::from_iter(v.iter().map(|x| x.map(i128::from)))
                    .with_precision_and_scale(18, 2)
                    .unwrap(),
            )
        };
        // Small values times 2^70; `i64::MIN` stands for the lowest 128-bit value but one.
        let wide_b = || -> ArrayRef {
            Arc::new(
                Decimal128Array::from_iter(b.iter().map(|x| {
                    x.map(|v| match v {
                        i64::MIN => i128::MIN + 1,
                        v => i128::from(v) << 70,
                    })
                }))
                .with_precision_and_scale(p, s)
                .unwrap(),
            )
        };
        let narrow = |v: &Vec<Option<i64>>| -> ArrayRef {
            Arc::new(
                Decimal64Array::from(v.clone())
                    .with_precision_and_scale(18, 2)
                    .unwrap(),
            )
        };
        let batch =
            |a: ArrayRef, b: ArrayRef| RecordBatch::try_from_iter([("a", a), ("b", b)]).unwrap();
        let (narrow_batch, wide_batch) = if narrow_b {
            (batch(narrow(&a), narrow(&b)), batch(wide_a(&a), wide_a(&b)))
        } else {
            (batch(narrow(&a), wide_b()), batch(wide_a(&a), wide_b()))
        };
        let run = |e: &Arc<dyn PhysicalExpr>, b: &RecordBatch| {
            e.evaluate(b).and_then(|v| v.into_array(b.num_rows()))
        };
        (
            run(&fast, &narrow_batch),
            run(&e, &wide_batch),
            fast.data_type(narrow_batch.schema().as_ref()).unwrap(),
        )
    }

    /// Operands read as `Decimal64` give DataFusion's values, of the type it planned, with
    /// sums and differences past 64 bits; with one operand wide, its overflow is DataFusion's
    /// error.
    #[test]
    fn narrow_operands_give_datafusion_s_values_and_errors() {
        let a = vec![
            Some(i64::MAX),
            Some(i64::MIN),
            None,
            Some(-7),
            Some(0),
            Some(12_345),
        ];
        let b = vec![
            Some(i64::MIN),
            Some(i64::MAX),
            Some(3),
            None,
            Some(i64::MAX),
            Some(-5),
        ];
        for op in [Operator::Minus, Operator::Plus] {
            let (ours, theirs, t) =
                narrow_and_wide(op, a.clone(), b.clone(), DataType::Decimal128(18, 2), true);
            let (ours, theirs) = (ours.unwrap(), theirs.unwrap());
            assert_eq!(ours.as_ref(), theirs.as_ref(), "{op}");
            assert_eq!(t, DataType::Decimal128(19, 2));
            assert_eq!(ours.data_type(), &t);
            assert_eq!(
                ours.as_primitive::<Decimal128Type>().value(0),
                if op == Operator::Minus {
                    i128::from(i64::MAX) - i128::from(i64::MIN)
                } else {
                    -1
                }
            );
            // `b` wide (38 digits, beyond 64 bits): the mixed path.
            let (ours, theirs, _) = narrow_and_wide(
                op,
                a.clone(),
                vec![Some(1), Some(-1), None, Some(4), Some(0), Some(9)],
                DataType::Decimal128(38, 2),
                false,
            );
            assert_eq!(ours.unwrap().as_ref(), theirs.unwrap().as_ref(), "{op}");
            // ... and past 128 bits: both fail alike.
            let (ours, theirs, _) = narrow_and_wide(
                op,
                vec![Some(if op == Operator::Minus { 1 } else { -2 })],
                vec![Some(i64::MIN)],
                DataType::Decimal128(38, 2),
                false,
            );
            let (ours, theirs) = (
                ours.unwrap_err().to_string(),
                theirs.unwrap_err().to_string(),
            );
            assert!(ours.contains("Overflow"), "{ours}");
            assert_eq!(ours, theirs);
        }
    }

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
