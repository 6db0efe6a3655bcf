//! The wrapper both rewrites share: an expression of DataFusion's, kept as the one child, and
//! evaluated another way. It shows, types, orders and compares as the original, so plans and
//! `EXPLAIN` read the same and every other rule sees the original's properties; its snapshot
//! is the original (or a form of it pruning reads better), so pruning by statistics sees
//! through it.

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, FieldRef, Schema};
use arrow::record_batch::RecordBatch;
use datafusion::common::Result;
use datafusion::logical_expr::ColumnarValue;
use datafusion::logical_expr::interval_arithmetic::Interval;
use datafusion::logical_expr::sort_properties::ExprProperties;
use datafusion::physical_expr::PhysicalExpr;

/// How an original expression is evaluated here instead.
pub(crate) trait Evaluation: fmt::Debug + Send + Sync + Sized + 'static {
    /// The evaluation of `orig` once its children changed (a rule rewrote them), or None
    /// when it no longer applies.
    fn rebuild(&self, orig: &Arc<dyn PhysicalExpr>) -> Option<Self>;

    /// The original's value on `batch`.
    fn evaluate(&self, orig: &Arc<dyn PhysicalExpr>, batch: &RecordBatch) -> Result<ColumnarValue>;

    /// The type of the value, when it is fixed whatever the input's types (by default the
    /// original's, on the input's schema): an operand read narrower than it was planned
    /// (decimal64_sums.rs) leaves the result's type as planned.
    fn return_type(&self) -> Option<&DataType> {
        None
    }

    /// What DataFusion's pruning by statistics reads instead of the wrapper: by default the
    /// original, which it knows.
    fn snapshot(&self, orig: &Arc<dyn PhysicalExpr>) -> Arc<dyn PhysicalExpr> {
        Arc::clone(orig)
    }
}

#[derive(Debug)]
pub(crate) struct Faster<E> {
    pub(crate) orig: Arc<dyn PhysicalExpr>,
    pub(crate) eval: E,
}

// The evaluation is derived from `orig`.
impl<E> PartialEq for Faster<E> {
    fn eq(&self, other: &Self) -> bool {
        self.orig.as_ref() == other.orig.as_ref()
    }
}

impl<E> Eq for Faster<E> {}

impl<E> Hash for Faster<E> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.orig.hash(state);
    }
}

impl<E> fmt::Display for Faster<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The expression it is: the evaluation differs, not the expression.
        fmt::Display::fmt(&self.orig, f)
    }
}

impl<E: Evaluation> PhysicalExpr for Faster<E> {
    fn return_field(&self, input_schema: &Schema) -> Result<FieldRef> {
        match self.eval.return_type() {
            Some(t) => Ok(Arc::new(Field::new(
                self.to_string(),
                t.clone(),
                self.orig.nullable(input_schema)?,
            ))),
            None => self.orig.return_field(input_schema),
        }
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<ColumnarValue> {
        self.eval.evaluate(&self.orig, batch)
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        vec![&self.orig]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn PhysicalExpr>>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        let [orig] = <[_; 1]>::try_from(children).map_err(|c| {
            datafusion::common::DataFusionError::Internal(format!(
                "{self} takes one child, not {}",
                c.len()
            ))
        })?;
        Ok(match self.eval.rebuild(&orig) {
            Some(eval) => Arc::new(Self { orig, eval }),
            None => orig,
        })
    }

    // The one child is the original: its properties (orderings, ranges) are ours.
    fn get_properties(&self, children: &[ExprProperties]) -> Result<ExprProperties> {
        Ok(children
            .first()
            .cloned()
            .unwrap_or_else(ExprProperties::new_unknown))
    }

    fn evaluate_bounds(&self, children: &[&Interval]) -> Result<Interval> {
        match children.first() {
            Some(i) => Ok((*i).clone()),
            None => datafusion::common::internal_err!("{self}: no child"),
        }
    }

    // DataFusion 55 snapshots an expression only to build a pruning predicate from it.
    fn snapshot(&self) -> Result<Option<Arc<dyn PhysicalExpr>>> {
        Ok(Some(self.eval.snapshot(&self.orig)))
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.orig.fmt_sql(f)
    }
}
