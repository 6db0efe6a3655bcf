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
use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::ColumnarValue;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{CastExpr, Column, DynamicFilterPhysicalExpr};
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

#[derive(Debug)]
pub(super) struct OnValues {
    /// The column's position in the batches the original is evaluated on.
    index: usize,
    /// The original on a batch of one column, the dictionary's values.
    on_values: Arc<dyn PhysicalExpr>,
    values_schema: SchemaRef,
    /// The last dictionary seen and the answer for each of its entries, then for NULL.
    table: Mutex<Option<(ArrayRef, Arc<[u8]>)>>,
}

/// `e` evaluated on dictionary values, when it is a deterministic boolean expression of the
/// single column `dictionary` (whose file type is `Dictionary(Int32, Utf8)`) read through
/// casts only.
pub(super) fn on_values(
    e: &Arc<dyn PhysicalExpr>,
    schema: &Schema,
) -> Option<Arc<dyn PhysicalExpr>> {
    if e.is::<Column>() || e.is::<CastExpr>() {
        return None;
    }
    if !matches!(e.data_type(schema), Ok(DataType::Boolean)) {
        return None;
    }
    let column = single_column(e)?;
    match schema.fields().get(column.index())?.data_type() {
        DataType::Dictionary(k, v) if **k == DataType::Int32 && **v == DataType::Utf8 => {}
        _ => return None,
    }
    let eval = OnValues::new(e)?;
    Some(Arc::new(OnValuesExpr {
        orig: Arc::clone(e),
        eval,
    }))
}

/// The one column `e` reads, when it reads one and may be evaluated apart from the batch.
fn single_column(e: &Arc<dyn PhysicalExpr>) -> Option<Column> {
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
    fn new(e: &Arc<dyn PhysicalExpr>) -> Option<Self> {
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
            return Some(Arc::clone(table));
        }
        let with_null = concat(&[values.as_ref(), &new_null_array(&DataType::Utf8, 1)]).ok()?;
        let batch = RecordBatch::try_new(Arc::clone(&self.values_schema), vec![with_null]).ok()?;
        let answers = self
            .on_values
            .evaluate(&batch)
            .and_then(|v| v.into_array(batch.num_rows()))
            .ok()?;
        let answers = answers.as_boolean_opt()?;
        let table: Arc<[u8]> = answers
            .iter()
            .map(|a| match a {
                Some(true) => TRUE,
                Some(false) => FALSE,
                None => NULL,
            })
            .collect();
        // Holding the values keeps their buffers' addresses from being reused by another
        // dictionary.
        *kept = Some((Arc::clone(values), Arc::clone(&table)));
        Some(table)
    }
}

impl Evaluation for OnValues {
    fn rebuild(&self, orig: &Arc<dyn PhysicalExpr>) -> Option<Self> {
        // The row filter renumbers columns for the batches it evaluates on.
        Self::new(orig)
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
