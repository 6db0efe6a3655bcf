//! A predicate of one dictionary column, evaluated on the dictionary's values: once per
//! dictionary (one per row group and column), then one table lookup per row.
//!
//! DataFusion's adapter reads a column the file stores as a dictionary through a cast to the
//! table's string type, so a filter becomes `CAST(compte AS Utf8View) = '1641'`: every row's
//! string is made and compared. Any deterministic boolean expression of that one column
//! (`=`, `LIKE`, `IN`, `upper(…)`, `AND`s of them) has, for each row, the value it has on the
//! row's dictionary entry, so [`OnValues`] evaluates it on the entries plus one NULL (for the
//! rows whose key is NULL) and maps the answers through the keys.
//!
//! The one difference with evaluating row by row would be a failure on an entry no row of the
//! batch uses (`CAST(compte AS INT) = 5` on a dictionary holding `'2A'`): then the batch is
//! evaluated row by row, as DataFusion does, and fails only if a row does.

use std::sync::{Arc, Mutex};

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, new_null_array};
use arrow::buffer::{BooleanBuffer, NullBuffer};
use arrow::compute::concat;
use arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, Operator};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{
    BinaryExpr, CastExpr, Column, DynamicFilterPhysicalExpr, InListExpr, IsNotNullExpr, IsNullExpr,
    LikeExpr, Literal, NotExpr,
};
use datafusion::physical_expr::utils::collect_columns;
use datafusion::physical_expr_common::physical_expr::is_volatile;

use crate::fast_exprs::faster::{Evaluation, Faster};

/// A predicate evaluated on dictionary values ([`Faster`] shows and compares it as the
/// original).
pub(super) type OnValuesExpr = Faster<OnValues>;

/// What a row's answer is, by dictionary entry.
const FALSE: u8 = 0;
const TRUE: u8 = 1;
const NULL: u8 = 2;

/// The last dictionary seen and the answer for each of its entries, then for NULL (None: the
/// predicate failed on some entry).
type Answers = (ArrayRef, Option<Arc<[u8]>>);

#[derive(Debug)]
pub(super) struct OnValues {
    /// The column's position in the batches the original is evaluated on.
    index: usize,
    /// The original on a batch of one column, the dictionary's values.
    on_values: Arc<dyn PhysicalExpr>,
    values_schema: SchemaRef,
    table: Mutex<Option<Answers>>,
    /// The longest `IN` list pruning reads (`datafusion.execution.parquet.max_in_list_size`).
    max_in_list: usize,
}

/// `e` evaluated on dictionary values, when it is a deterministic boolean expression of one
/// of `columns` alone, whose file type is `Dictionary(Int32, Utf8)`, read through casts only.
pub(super) fn on_values(
    e: &Arc<dyn PhysicalExpr>,
    schema: &Schema,
    columns: &[String],
    max_in_list: usize,
) -> Option<Arc<dyn PhysicalExpr>> {
    let column = answerable(e, schema)?;
    if !columns.iter().any(|c| c == column.name()) {
        return None;
    }
    match schema.fields().get(column.index())?.data_type() {
        DataType::Dictionary(k, v) if **k == DataType::Int32 && **v == DataType::Utf8 => {}
        _ => return None,
    }
    let eval = OnValues::new(e, max_in_list)?;
    Some(Arc::new(OnValuesExpr {
        orig: Arc::clone(e),
        eval,
    }))
}

/// The column of `e` when `e` is a boolean expression of that column alone, other than the
/// column itself, that may be evaluated apart from the batch.
pub(super) fn answerable(e: &Arc<dyn PhysicalExpr>, schema: &Schema) -> Option<Column> {
    if e.is::<Column>() || e.is::<CastExpr>() {
        return None;
    }
    if !matches!(e.data_type(schema), Ok(DataType::Boolean)) {
        return None;
    }
    single_column(e)
}

/// The one column `e` reads, when it reads one and may be evaluated apart from the batch.
pub(super) fn single_column(e: &Arc<dyn PhysicalExpr>) -> Option<Column> {
    if is_volatile(e) {
        return None;
    }
    // A dynamic filter changes while the query runs: an answer kept per dictionary would not.
    let mut dynamic = false;
    e.apply(|n| {
        dynamic |= n.is::<DynamicFilterPhysicalExpr>();
        Ok(if dynamic {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    })
    .ok()?;
    if dynamic {
        return None;
    }
    let columns = collect_columns(e);
    if columns.len() != 1 {
        return None;
    }
    columns.into_iter().next()
}

impl OnValues {
    /// Built from the original `e`; None unless its column is read through casts only.
    fn new(e: &Arc<dyn PhysicalExpr>, max_in_list: usize) -> Option<Self> {
        let column = single_column(e)?;
        let mut bare = false;
        let on_values = Arc::clone(e)
            .transform_down(|n| {
                if let Some(cast) = n.downcast_ref::<CastExpr>()
                    && cast.expr().is::<Column>()
                {
                    let values: Arc<dyn PhysicalExpr> = Arc::new(Column::new(column.name(), 0));
                    let cast = Arc::new(CastExpr::new_with_target_field(
                        values,
                        Arc::clone(cast.target_field()),
                        Some(cast.cast_options().clone()),
                    ));
                    return Ok(Transformed::new(cast, true, TreeNodeRecursion::Jump));
                }
                bare |= n.is::<Column>();
                Ok(Transformed::no(n))
            })
            .ok()?
            .data;
        if bare {
            return None;
        }
        Some(Self {
            index: column.index(),
            on_values,
            values_schema: Arc::new(Schema::new(vec![Field::new(
                column.name(),
                DataType::Utf8,
                true,
            )])),
            table: Mutex::new(None),
            max_in_list,
        })
    }

    /// The answer for each entry of `values`, then for NULL; None when the predicate fails on
    /// some entry.
    fn table(&self, values: &ArrayRef) -> Option<Arc<[u8]>> {
        let mut kept = self.table.lock().unwrap_or_else(|p| p.into_inner());
        // The reader hands out each batch's dictionary as a new array over the same buffers.
        if let Some((seen, table)) = kept.as_ref()
            && (Arc::ptr_eq(seen, values) || seen.to_data().ptr_eq(&values.to_data()))
        {
            return table.clone();
        }
        let table = self.answers(values);
        // Holding the values keeps their buffers' addresses from being reused by another
        // dictionary.
        *kept = Some((Arc::clone(values), table.clone()));
        table
    }

    fn answers(&self, values: &ArrayRef) -> Option<Arc<[u8]>> {
        let with_null = concat(&[values.as_ref(), &new_null_array(&DataType::Utf8, 1)]).ok()?;
        let batch = RecordBatch::try_new(Arc::clone(&self.values_schema), vec![with_null]).ok()?;
        let answers = self
            .on_values
            .evaluate(&batch)
            .and_then(|v| v.into_array(batch.num_rows()))
            .ok()?;
        Some(
            answers
                .as_boolean_opt()?
                .iter()
                .map(|a| match a {
                    Some(true) => TRUE,
                    Some(false) => FALSE,
                    None => NULL,
                })
                .collect(),
        )
    }
}

impl Evaluation for OnValues {
    fn rebuild(&self, orig: &Arc<dyn PhysicalExpr>) -> Option<Self> {
        // The row filter renumbers columns for the batches it evaluates on.
        Self::new(orig, self.max_in_list)
    }

    // Pruning reads the dictionary column itself compared with `Utf8` literals: through the
    // cast to views it gives up on `LIKE` (its bounds take the column's type, and comparing
    // them with the cast statistics fails) and `IS NULL`, and finds no literal for bloom
    // filters.
    fn snapshot(&self, orig: &Arc<dyn PhysicalExpr>) -> Arc<dyn PhysicalExpr> {
        pruning_form(orig, self.max_in_list).unwrap_or_else(|| Arc::clone(orig))
    }

    fn evaluate(&self, orig: &Arc<dyn PhysicalExpr>, batch: &RecordBatch) -> Result<ColumnarValue> {
        let Some(dict) = batch
            .columns()
            .get(self.index)
            .and_then(|c| c.as_dictionary_opt::<Int32Type>())
            .filter(|d| d.values().data_type() == &DataType::Utf8)
        else {
            return orig.evaluate(batch);
        };
        let Some(table) = self.table(dict.values()) else {
            return orig.evaluate(batch);
        };
        let keys = dict.keys();
        let len = keys.len();
        let (entries, for_null) = table.split_at(table.len() - 1);
        let for_null = for_null[0];
        let answers = if keys.null_count() == 0 && !entries.contains(&NULL) {
            let keys = keys.values();
            let mut true_entries = entries.iter().enumerate().filter(|(_, a)| **a == TRUE);
            let bits = match (true_entries.next(), true_entries.next()) {
                // No entry holds: no row does (the usual case of a row group without the
                // account asked for).
                (None, _) => BooleanBuffer::new_unset(len),
                // One entry holds (`compte = '1641'`): compare keys, which vectorises.
                (Some((k, _)), None) => {
                    let k = k as i32;
                    BooleanBuffer::collect_bool(len, |i| keys[i] == k)
                }
                // A stray key (out of range) cannot occur in a valid dictionary; it reads false.
                _ => BooleanBuffer::collect_bool(len, |i| {
                    entries.get(keys[i] as usize).copied() == Some(TRUE)
                }),
            };
            BooleanArray::new(bits, None)
        } else {
            // A NULL key, or an entry whose answer is NULL: answers with their validity. A
            // stray key reads as NULL's answer.
            let answer: Vec<u8> = (0..len)
                .map(|i| {
                    if keys.is_null(i) {
                        for_null
                    } else {
                        entries
                            .get(keys.value(i) as usize)
                            .copied()
                            .unwrap_or(for_null)
                    }
                })
                .collect();
            BooleanArray::new(
                BooleanBuffer::collect_bool(len, |i| answer[i] == TRUE),
                Some(NullBuffer::new(BooleanBuffer::collect_bool(len, |i| {
                    answer[i] != NULL
                }))),
            )
        };
        Ok(ColumnarValue::Array(Arc::new(answers)))
    }
}

/// `e` on the dictionary column itself, its string literals as `Utf8`, in the shapes
/// DataFusion's pruning reads (comparisons, `LIKE`, `IN`, `IS [NOT] NULL`, `NOT`, `AND`,
/// `OR`); None for any other, and for an `IN` list longer than DataFusion's pruning reads
/// (`max_in_list`: as `OR`s, 20,000 codes made a tree 20,000 deep that pruning took minutes to
/// walk).
fn pruning_form(e: &Arc<dyn PhysicalExpr>, max_in_list: usize) -> Option<Arc<dyn PhysicalExpr>> {
    let form = |e: &Arc<dyn PhysicalExpr>| pruning_form(e, max_in_list);
    use Operator::*;
    if let Some(cast) = e.downcast_ref::<CastExpr>() {
        return (cast.expr().is::<Column>() && is_string(cast.cast_type()))
            .then(|| Arc::clone(cast.expr()));
    }
    if let Some(l) = e.downcast_ref::<Literal>() {
        return match l.value() {
            ScalarValue::Utf8(s) | ScalarValue::Utf8View(s) | ScalarValue::LargeUtf8(s) => {
                Some(Arc::new(Literal::new(ScalarValue::Utf8(s.clone()))))
            }
            _ => None,
        };
    }
    if let Some(b) = e.downcast_ref::<BinaryExpr>() {
        if !matches!(
            b.op(),
            Eq | NotEq | Lt | LtEq | Gt | GtEq | And | Or | IsDistinctFrom | IsNotDistinctFrom
        ) {
            return None;
        }
        let (l, r) = (form(b.left())?, form(b.right())?);
        return Some(Arc::new(BinaryExpr::new(l, *b.op(), r)));
    }
    if let Some(like) = e.downcast_ref::<LikeExpr>() {
        return Some(Arc::new(LikeExpr::new(
            like.negated(),
            like.case_insensitive(),
            form(like.expr())?,
            form(like.pattern())?,
        )));
    }
    if let Some(not) = e.downcast_ref::<NotExpr>() {
        return Some(Arc::new(NotExpr::new(form(not.arg())?)));
    }
    if let Some(n) = e.downcast_ref::<IsNullExpr>() {
        return Some(Arc::new(IsNullExpr::new(form(n.arg())?)));
    }
    if let Some(n) = e.downcast_ref::<IsNotNullExpr>() {
        return Some(Arc::new(IsNotNullExpr::new(form(n.arg())?)));
    }
    // `c IN (a, b)` as `c = a OR c = b` (`NOT IN` as `c <> a AND c <> b`): an `IN` of a
    // dictionary and strings would not type-check.
    let in_list = e.downcast_ref::<InListExpr>()?;
    if in_list.list().len() > max_in_list {
        return None;
    }
    let column = form(in_list.expr())?;
    let (op, join) = if in_list.negated() {
        (NotEq, And)
    } else {
        (Eq, Or)
    };
    in_list
        .list()
        .iter()
        .map(|item| -> Option<Arc<dyn PhysicalExpr>> {
            Some(Arc::new(BinaryExpr::new(
                Arc::clone(&column),
                op,
                form(item)?,
            )))
        })
        .collect::<Option<Vec<_>>>()?
        .into_iter()
        .reduce(|a, b| Arc::new(BinaryExpr::new(a, join, b)))
}

fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8)
}
