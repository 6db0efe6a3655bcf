//! A predicate of one string column read as views, evaluated once per run of equal values.
//!
//! In a file sorted by a code (`cluster_by: [cbudg, compte]`), the code's keys lie in long runs
//! and the column is read as views, not as a dictionary (`dictionary_pays`): the reader copies
//! one view per row and DataFusion evaluates `compte LIKE '6%'` on every row (a third of the
//! samples of a count under that filter on the clustered bench lake). The rows of a run share
//! one view, and equal views hold equal strings (a short string lies whole in its view; a
//! longer one is named by its buffer and offset), so [`OnRuns`] evaluates the predicate on the
//! first row of each run and repeats its answer over the run. A batch whose runs are short
//! (fewer than [`MIN_RUN`] rows on average) is evaluated row by row, as DataFusion does.
//!
//! Evaluated on a subset of the rows holding every value of the batch, a predicate fails if and
//! only if it fails row by row: the same answers, the same errors.

use std::sync::Arc;

use arrow::array::{Array, AsArray, BooleanArray, BooleanBufferBuilder, UInt32Array};
use arrow::buffer::NullBuffer;
use arrow::compute::take_record_batch;
use arrow::datatypes::{DataType, Schema};
use arrow::record_batch::RecordBatch;
use datafusion::common::Result;
use datafusion::logical_expr::ColumnarValue;
use datafusion::physical_expr::PhysicalExpr;

use super::on_values::{answerable, single_column};
use crate::fast_exprs::faster::{Evaluation, Faster};

/// A predicate evaluated per run ([`Faster`] shows and compares it as the original).
pub(super) type OnRunsExpr = Faster<OnRuns>;

/// Rows per run, on average, below which a batch is evaluated row by row.
const MIN_RUN: usize = 8;

#[derive(Debug)]
pub(super) struct OnRuns {
    /// The column's position in the batches the original is evaluated on.
    index: usize,
}

/// `e` evaluated per run, when it is a deterministic boolean expression of one of `columns`
/// alone, whose file type is `Utf8View`.
pub(super) fn on_runs(
    e: &Arc<dyn PhysicalExpr>,
    schema: &Schema,
    columns: &[String],
) -> Option<Arc<dyn PhysicalExpr>> {
    let column = answerable(e, schema)?;
    if !columns.iter().any(|c| c == column.name())
        || schema.fields().get(column.index())?.data_type() != &DataType::Utf8View
    {
        return None;
    }
    Some(Arc::new(OnRunsExpr {
        orig: Arc::clone(e),
        eval: OnRuns {
            index: column.index(),
        },
    }))
}

/// The first row of each run of equal values (consecutive NULLs are one run), or None when the
/// runs average fewer than [`MIN_RUN`] rows (or there are no rows).
pub(super) fn run_starts(views: &arrow::array::StringViewArray) -> Option<Vec<u32>> {
    let len = views.len();
    let most = len / MIN_RUN;
    let raw = views.views();
    if len == 0 {
        return None;
    }
    let mut starts = Vec::with_capacity(most.min(1024) + 1);
    starts.push(0);
    let mut push = |i: usize| {
        starts.push(i as u32);
        starts.len() <= most.max(1)
    };
    match views.nulls().filter(|n| n.null_count() > 0) {
        // 64 rows at a time into a mask of where runs start, which vectorises; the rows of a
        // long run cost no branch.
        None => {
            let mut i = 1;
            while i < len {
                let end = (i + 64).min(len);
                let mut mask = 0u64;
                for k in i..end {
                    mask |= u64::from(raw[k] != raw[k - 1]) << (k - i);
                }
                while mask != 0 {
                    if !push(i + mask.trailing_zeros() as usize) {
                        return None;
                    }
                    mask &= mask - 1;
                }
                i = end;
            }
        }
        Some(nulls) => {
            for i in 1..len {
                let (now, before) = (nulls.is_valid(i), nulls.is_valid(i - 1));
                if (now != before || (now && raw[i] != raw[i - 1])) && !push(i) {
                    return None;
                }
            }
        }
    }
    Some(starts)
}

impl Evaluation for OnRuns {
    fn rebuild(&self, orig: &Arc<dyn PhysicalExpr>) -> Option<Self> {
        // The row filter renumbers columns for the batches it evaluates on.
        single_column(orig).map(|c| Self { index: c.index() })
    }

    fn evaluate(&self, orig: &Arc<dyn PhysicalExpr>, batch: &RecordBatch) -> Result<ColumnarValue> {
        let Some(views) = batch
            .columns()
            .get(self.index)
            .and_then(|c| c.as_string_view_opt())
        else {
            return orig.evaluate(batch);
        };
        let len = views.len();
        let Some(starts) = run_starts(views) else {
            return orig.evaluate(batch);
        };
        let starts = UInt32Array::from(starts);
        let firsts = take_record_batch(batch, &starts)?;
        let answers = orig.evaluate(&firsts)?.into_array(firsts.num_rows())?;
        let Some(answers) = answers.as_boolean_opt() else {
            return orig.evaluate(batch);
        };
        // Each run's answer over its rows.
        let starts = starts.values();
        let mut values = BooleanBufferBuilder::new(len);
        let mut valid = answers.nulls().map(|_| BooleanBufferBuilder::new(len));
        for (r, &start) in starts.iter().enumerate() {
            let end = starts.get(r + 1).map_or(len, |&e| e as usize);
            let n = end - start as usize;
            values.append_n(n, answers.values().value(r));
            if let Some(v) = valid.as_mut() {
                v.append_n(n, answers.is_valid(r));
            }
        }
        let nulls = valid.map(|mut v| NullBuffer::new(v.finish()));
        Ok(ColumnarValue::Array(Arc::new(BooleanArray::new(
            values.finish(),
            nulls,
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{StringViewArray, StringViewBuilder};
    use arrow::datatypes::Field;
    use datafusion::common::ScalarValue;
    use datafusion::physical_expr::expressions::{LikeExpr, col, lit};

    #[test]
    fn runs_of_equal_views_nulls_apart() {
        let long = "COMMUNE DE SAINT-ETIENNE";
        let a = StringViewArray::from(vec![
            Some("6064"),
            Some("6064"),
            None,
            None,
            Some("6064"),
            Some(long),
            Some(long),
            Some("7411"),
        ]);
        // Runs of 1.6 rows on average are too short to pay.
        assert_eq!(run_starts(&a), None);
        let mut values = vec![];
        for v in [Some("6064"), None, Some(long), Some("7411")] {
            values.extend(std::iter::repeat_n(v, 10));
        }
        // Each long string copied apart has a view of its own: runs of one row.
        assert_eq!(run_starts(&StringViewArray::from(values.clone())), None);
        // As the reader makes them: the rows of a run share one view.
        let mut b = StringViewBuilder::new().with_deduplicate_strings();
        values.iter().for_each(|v| b.append_option(*v));
        assert_eq!(run_starts(&b.finish()), Some(vec![0, 10, 20, 30]));
    }

    #[test]
    fn a_predicate_per_run_answers_as_row_by_row() {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "compte",
            DataType::Utf8View,
            true,
        )]));
        let columns = ["compte".to_string()];
        let like: Arc<dyn PhysicalExpr> = Arc::new(LikeExpr::new(
            false,
            false,
            col("compte", &schema).unwrap(),
            lit(ScalarValue::Utf8View(Some("6%".into()))),
        ));
        let ours = on_runs(&like, &schema, &columns).expect("a predicate of one view column");
        assert!(ours.is::<OnRunsExpr>());
        // Runs (with NULLs and a value longer than a view holds), then rows in no order.
        let mut runs = vec![];
        for (v, n) in [
            (Some("60611"), 30),
            (None, 9),
            (Some("6064 et charges assimilées"), 17),
            (Some("7411"), 40),
            (Some("6064"), 1),
        ] {
            runs.extend(std::iter::repeat_n(v, n));
        }
        let scattered: Vec<Option<&str>> = (0..50)
            .map(|i| [Some("6"), None, Some("16"), Some("7")][i % 4])
            .collect();
        for (values, per_run) in [(runs, true), (scattered, false)] {
            // As the reader makes them: the rows of a run share one view.
            let mut b = StringViewBuilder::new().with_deduplicate_strings();
            values.iter().for_each(|v| b.append_option(*v));
            let views = b.finish();
            assert_eq!(run_starts(&views).is_some(), per_run);
            let batch = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(views)]).unwrap();
            let want = like
                .evaluate(&batch)
                .unwrap()
                .into_array(batch.num_rows())
                .unwrap();
            let got = ours
                .evaluate(&batch)
                .unwrap()
                .into_array(batch.num_rows())
                .unwrap();
            assert_eq!(got.as_boolean(), want.as_boolean());
        }
        // Not for a column stored otherwise, nor one the rule did not pick.
        let utf8 = Schema::new(vec![Field::new("compte", DataType::Utf8, true)]);
        assert!(on_runs(&like, &utf8, &columns).is_none());
        assert!(on_runs(&like, &schema, &["cbudg".to_string()]).is_none());
    }
}
