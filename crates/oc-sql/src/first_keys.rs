//! A physical optimizer rule: when an aggregation only collects the distinct values of one
//! string column of a Parquet scan (`COUNT(DISTINCT code_insee)` per exercice, `SELECT
//! DISTINCT compte`), the scan itself keeps only the first row of each dictionary entry of
//! each column chunk, and decodes no other row for its output.
//!
//! On the clustered lake (`cluster_by: [cbudg, compte]`), the communes of a row group come
//! back once per account, in the same order: no runs for distinct_runs.rs to drop, and bench
//! q4 hashed 20 M strings to find 53 K keys (`EXPLAIN ANALYZE`: 210 ms of CPU in the partial
//! aggregation, 1.4× DuckDB's time). But a row group holds some 440 communes, and its
//! `code_insee` is a dictionary of them: its first occurrence of each entry is all the
//! aggregation needs. The scan reads the column as a dictionary (dictionary_filters/, where a
//! file allows it) and its row filter, [`FirstOfKey`], keeps one row per entry; Parquet then
//! decodes the kept rows only.
//!
//! Dropping a row whose key an earlier row of the same file already had never loses a key, so
//! the result is the aggregation's own. The rule applies only where that holds: the other
//! group keys are partition columns (one value per file, and a dictionary never spans files),
//! the scan has no predicate of its own (a row kept first could be filtered out after) and no
//! limit, and nothing between the scan and the aggregation drops or changes rows. A file whose
//! column is not read as a dictionary (keys in runs, plain pages) keeps all its rows, and
//! distinct_runs.rs drops the repeated keys of runs above the scan.
//!
//! The expression exists in this process only: a session that ships physical plans leaves the
//! rule out (`session::serializable_physical_rules`).

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, DictionaryArray};
use arrow::buffer::BooleanBuffer;
use arrow::datatypes::{DataType, Field, FieldRef, Int32Type, Schema};
use arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{Result, ScalarValue};
use datafusion::datasource::physical_plan::{FileSource, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::logical_expr::ColumnarValue;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{CastExpr, Column, lit};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::execution_plan::{ChildrenPropertiesMode, ReplaceChildrenOptions};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;

use crate::runs::{Judge, keys_only};

/// The rule's name, by which sessions that serialize plans leave it out.
pub const RULE_NAME: &str = "first_keys";

#[derive(Debug, Default)]
pub struct FirstKeys;

crate::runs::node_rule!(FirstKeys, RULE_NAME, rewrite);

/// The aggregation over a scan that keeps the first row of each key, when it aggregates rows
/// into keys only and the scan below qualifies (module docs).
fn rewrite(node: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some((agg, keys)) = keys_only(node) else {
        return Ok(None);
    };
    // Down to the scan, following the keys' positions through the nodes that pass every row
    // on unchanged.
    let mut positions: Vec<usize> = keys.iter().map(|c| c.index()).collect();
    let mut below = Arc::clone(agg.input());
    loop {
        if let Some(p) = below.downcast_ref::<ProjectionExec>() {
            let exprs = p.expr();
            positions = match positions
                .iter()
                .map(|&i| Some(exprs.get(i)?.expr.downcast_ref::<Column>()?.index()))
                .collect::<Option<Vec<_>>>()
            {
                Some(p) => p,
                None => return Ok(None),
            };
        } else if !(below.is::<RepartitionExec>()
            || below.is::<CoalescePartitionsExec>()
            || below.is::<CooperativeExec>())
        {
            break;
        }
        // A limit (a `CoalescePartitionsExec` may have one) passes only some rows on.
        if below.fetch().is_some() {
            return Ok(None);
        }
        let [child] = below.children()[..] else {
            return Ok(None);
        };
        below = Arc::clone(child);
    }
    let Some(scan) = below.downcast_ref::<DataSourceExec>() else {
        return Ok(None);
    };
    let Some(new_scan) = first_keys_scan(scan, &positions) else {
        return Ok(None);
    };
    let new_input = Arc::clone(agg.input())
        .transform_up(|n| {
            Ok(if Arc::ptr_eq(&n, &below) {
                Transformed::yes(Arc::clone(&new_scan))
            } else {
                Transformed::no(n)
            })
        })
        .data()?;
    Ok(Some(Arc::clone(node).replace_children(
        vec![new_input],
        ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
    )?))
}

/// The scan with [`FirstOfKey`] of its output column at one of `positions` as its predicate,
/// when the others are partition columns and the scan qualifies (module docs).
fn first_keys_scan(scan: &DataSourceExec, positions: &[usize]) -> Option<Arc<dyn ExecutionPlan>> {
    let (config, parquet) = scan.downcast_to_file_source::<ParquetSource>()?;
    if !parquet.table_parquet_options().global.pushdown_filters
        || parquet.filter().is_some()
        || config.limit.is_some()
    {
        return None;
    }
    let output = scan.schema();
    let partitions: Vec<&str> = config
        .table_partition_cols()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    let projected: Option<Vec<_>> =
        FileSource::projection(parquet).map(|p| p.expr_iter().collect());
    let mut key = None;
    for &i in positions {
        let name = output.field(i).name();
        // The scan outputs that column itself, not an expression of it.
        if let Some(exprs) = &projected
            && exprs
                .get(i)
                .and_then(|e| e.downcast_ref::<Column>())
                .is_none_or(|c| c.name() != name)
        {
            return None;
        }
        if partitions.contains(&name.as_str()) {
            continue;
        }
        let is_string = config
            .file_schema()
            .field_with_name(name)
            .is_ok_and(|f| matches!(f.data_type(), DataType::Utf8 | DataType::Utf8View));
        if !is_string || key.replace(name.clone()).is_some() {
            return None;
        }
    }
    let key = key?;
    let table = FileSource::table_schema(parquet).table_schema();
    let column = Column::new_with_schema(&key, table).ok()?;
    let predicate: Arc<dyn PhysicalExpr> = Arc::new(FirstOfKey::new(Arc::new(column)));
    crate::dictionary_filters::with_dictionary_reads(config, parquet, vec![key], Some(predicate))
}

/// In the expression a file's scan evaluates (`expr`, once DataFusion's adapter mapped it to
/// the columns of the file, whose Arrow schema is `physical`), each [`FirstOfKey`] anew, so
/// that each file has its own, and reading the column as the file stores it: the adapter's
/// cast to the table's type changes no two equal values into different ones, so dropping the
/// rows whose stored key was seen keeps every key. Where the file's column is not read as a
/// dictionary, `true`: keeping run starts here would decode the column twice (for the filter,
/// then for the output), and distinct_runs.rs drops repeated keys above the scan anyway.
pub(crate) fn per_file(
    expr: Arc<dyn PhysicalExpr>,
    physical: &Schema,
) -> Result<Arc<dyn PhysicalExpr>> {
    expr.transform_up(|e| {
        let Some(first) = e.downcast_ref::<FirstOfKey>() else {
            return Ok(Transformed::no(e));
        };
        let key = match first.key.downcast_ref::<CastExpr>() {
            Some(cast) if cast.expr().is::<Column>() => Arc::clone(cast.expr()),
            _ => Arc::clone(&first.key),
        };
        let new: Arc<dyn PhysicalExpr> = match key.data_type(physical) {
            Ok(DataType::Dictionary(..)) => Arc::new(FirstOfKey::new(key)),
            _ => lit(true),
        };
        Ok(Transformed::yes(new))
    })
    .data()
}

/// True on the first row of each key: within a dictionary (one per column chunk), the first
/// row of each entry, and the first NULL; true on every row for a key read otherwise, and once
/// most rows proved to be first occurrences.
pub(crate) struct FirstOfKey {
    key: Arc<dyn PhysicalExpr>,
    seen: Mutex<Option<Seen>>,
    judge: Judge,
}

/// The dictionary being read, and which of its entries have been kept.
struct Seen {
    /// Held so that its buffers' addresses cannot be reused by another dictionary.
    values: ArrayRef,
    entries: Vec<bool>,
    null: bool,
    /// Entries not kept yet (NULL not counted).
    left: usize,
}

impl FirstOfKey {
    fn new(key: Arc<dyn PhysicalExpr>) -> Self {
        Self {
            key,
            seen: Mutex::new(None),
            judge: Judge::default(),
        }
    }

    fn first_in_dictionary(&self, dict: &DictionaryArray<Int32Type>) -> BooleanArray {
        let mut guard = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let values = dict.values();
        // The reader hands out each batch's dictionary as a new array over the same buffers.
        let same = guard.as_ref().is_some_and(|s| {
            Arc::ptr_eq(&s.values, values) || s.values.to_data().ptr_eq(&values.to_data())
        });
        if !same {
            *guard = None;
        }
        let seen = guard.get_or_insert_with(|| Seen {
            values: Arc::clone(values),
            entries: vec![false; values.len()],
            null: false,
            left: values.len(),
        });
        let keys = dict.keys();
        let n = keys.len();
        let bits = if keys.null_count() == 0 {
            if seen.left == 0 {
                // Every entry kept already: no other row of the row group is decoded for the
                // output.
                self.judge.record(n as u64, 0);
                return BooleanArray::new(BooleanBuffer::new_unset(n), None);
            }
            let keys = keys.values();
            BooleanBuffer::collect_bool(n, |i| first(seen, keys[i]))
        } else {
            BooleanBuffer::collect_bool(n, |i| {
                if keys.is_null(i) {
                    !std::mem::replace(&mut seen.null, true)
                } else {
                    first(seen, keys.value(i))
                }
            })
        };
        self.judge.record(n as u64, bits.count_set_bits() as u64);
        BooleanArray::new(bits, None)
    }
}

/// Whether `key` is the first of its entry; a key out of the dictionary's range (which a
/// valid dictionary does not have) is kept.
fn first(seen: &mut Seen, key: i32) -> bool {
    match seen.entries.get_mut(key as usize) {
        Some(kept) if *kept => false,
        Some(kept) => {
            *kept = true;
            seen.left -= 1;
            true
        }
        None => true,
    }
}

impl fmt::Debug for FirstOfKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FirstOfKey")
            .field("key", &self.key)
            .finish()
    }
}

impl PartialEq for FirstOfKey {
    fn eq(&self, other: &Self) -> bool {
        self.key.as_ref() == other.key.as_ref()
    }
}

impl Eq for FirstOfKey {}

impl Hash for FirstOfKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key.hash(state);
    }
}

impl fmt::Display for FirstOfKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "first_of_key({})", self.key)
    }
}

impl PhysicalExpr for FirstOfKey {
    fn return_field(&self, _input_schema: &Schema) -> Result<FieldRef> {
        Ok(Arc::new(Field::new(
            "first_of_key",
            DataType::Boolean,
            false,
        )))
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<ColumnarValue> {
        let key = self.key.evaluate(batch)?.into_array(batch.num_rows())?;
        match key.as_dictionary_opt::<Int32Type>() {
            // Most keys unique (a dictionary of nearly every row's own code): keeping each
            // row's first occurrence keeps most rows and costs a fragmented read.
            Some(dict) if !self.judge.off() => Ok(ColumnarValue::Array(Arc::new(
                self.first_in_dictionary(dict),
            ))),
            _ => Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true)))),
        }
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        vec![&self.key]
    }

    // A new expression starts afresh: the row filter renumbers the columns of each file's
    // predicate, and each file has its own.
    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn PhysicalExpr>>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        let [key] = <[_; 1]>::try_from(children).map_err(|c| {
            datafusion::common::DataFusionError::Internal(format!(
                "{self} takes one child, not {}",
                c.len()
            ))
        })?;
        Ok(Arc::new(Self::new(key)))
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }

    // Its value depends on the rows before: no rule may move it.
    fn is_volatile_node(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::rule_tests;
    use arrow::array::{Int64Array, StringArray};
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::file::properties::WriterProperties;
    use datafusion::parquet::schema::types::ColumnPath;
    use datafusion::prelude::SessionContext;

    const ROWS: usize = 4000;
    const ROW_GROUP: usize = 1000;

    /// How `code` lies in a file.
    #[derive(Clone, Copy, Debug)]
    enum Layout {
        /// The clustered lake's: the same few communes again for each account, keys
        /// bit-packed.
        Cycling,
        /// Sorted: keys in runs, read as strings.
        Runs,
        /// Too many distinct codes for the dictionary page: plain pages, read as strings.
        Plain,
    }

    /// The code of row `i`: 50 codes per row group, cycling (a NULL among them), or runs, or
    /// mostly distinct.
    fn code(layout: Layout, i: usize) -> Option<String> {
        let k = match layout {
            Layout::Cycling => (i / ROW_GROUP) * 37 + i % 50,
            Layout::Runs => i / 50,
            Layout::Plain => (i * 7919) % 3001,
        };
        (k % 23 != 7).then(|| format!("{k:05}"))
    }

    /// A table partitioned by exercice, one file per layout.
    fn write(dir: &std::path::Path) {
        for (exercice, layout) in [
            (2022, Layout::Cycling),
            (2023, Layout::Runs),
            (2024, Layout::Plain),
        ] {
            let part = dir.join(format!("exercice={exercice}"));
            std::fs::create_dir_all(&part).unwrap();
            let codes: Vec<Option<String>> = (0..ROWS).map(|i| code(layout, i)).collect();
            let compte: Vec<&str> = (0..ROWS).map(|i| ["1641", "6064", "7411"][i % 3]).collect();
            let amount: Vec<i64> = (0..ROWS as i64).collect();
            let batch = RecordBatch::try_from_iter([
                ("code", Arc::new(StringArray::from(codes)) as ArrayRef),
                ("compte", Arc::new(StringArray::from(compte)) as ArrayRef),
                ("amount", Arc::new(Int64Array::from(amount)) as ArrayRef),
            ])
            .unwrap();
            let props = WriterProperties::builder()
                .set_max_row_group_row_count(Some(ROW_GROUP))
                .set_column_dictionary_page_size_limit(
                    ColumnPath::from("code"),
                    if let Layout::Plain = layout {
                        256
                    } else {
                        1 << 20
                    },
                )
                .build();
            let file = std::fs::File::create(part.join("part-0.parquet")).unwrap();
            let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
            w.write(&batch).unwrap();
            w.close().unwrap();
        }
    }

    /// Batches of 100 rows, so that each row group's dictionary serves ten of them.
    async fn context(dir: &std::path::Path, with_rule: bool) -> SessionContext {
        rule_tests::partitioned_parquet((!with_rule).then_some(RULE_NAME), "100", dir, "exercice")
            .await
    }

    async fn rows(ctx: &SessionContext, sql: &str) -> String {
        rule_tests::rows(ctx, sql).await
    }

    #[tokio::test]
    async fn same_distinct_keys_as_datafusion() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path());
        let ours = context(dir.path(), true).await;
        let theirs = context(dir.path(), false).await;
        for sql in [
            "SELECT exercice, COUNT(DISTINCT code) AS n FROM t GROUP BY exercice ORDER BY exercice",
            "SELECT DISTINCT code FROM t ORDER BY code NULLS FIRST",
            "SELECT COUNT(*) FROM (SELECT DISTINCT exercice, code FROM t)",
            "SELECT code, exercice FROM t GROUP BY exercice, code ORDER BY 2, 1",
        ] {
            assert_eq!(rows(&ours, sql).await, rows(&theirs, sql).await, "{sql}");
            let plan = rows(&ours, &format!("EXPLAIN {sql}")).await;
            assert!(plan.contains("predicate=first_of_key(code@0)"), "{plan}");
        }
        // Left alone: a filter (the first row of a key might not pass it), two file columns,
        // an aggregate function, a limit, an expression of the key.
        for sql in [
            "SELECT DISTINCT code FROM t WHERE compte = '6064'",
            "SELECT DISTINCT code, compte FROM t",
            "SELECT code, COUNT(*) FROM t GROUP BY code",
            "SELECT DISTINCT code FROM t LIMIT 3",
            "SELECT DISTINCT upper(code) FROM t",
        ] {
            let plan = rows(&ours, &format!("EXPLAIN {sql}")).await;
            assert!(!plan.contains("first_of_key"), "{plan}");
            if !sql.contains("LIMIT") {
                let count = format!("SELECT COUNT(*) FROM ({sql})");
                assert_eq!(rows(&ours, &count).await, rows(&theirs, &count).await);
            }
        }
    }

    /// On the cycling file, the scan outputs exactly one row per distinct code (NULL
    /// included) per row group: one per dictionary entry, across the row group's ten
    /// batches. The others are not read as dictionaries, and the scan keeps their rows.
    #[tokio::test]
    async fn one_row_per_entry_of_each_dictionary() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path());
        let ours = context(dir.path(), true).await;
        let distinct_per_row_group = |layout| -> usize {
            (0..ROWS / ROW_GROUP)
                .map(|g| {
                    (g * ROW_GROUP..(g + 1) * ROW_GROUP)
                        .map(|i| code(layout, i))
                        .collect::<std::collections::BTreeSet<_>>()
                        .len()
                })
                .sum()
        };
        let sql = |e| format!("SELECT DISTINCT code FROM t WHERE exercice = {e}");
        assert_eq!(
            rule_tests::output_rows::<DataSourceExec>(&ours, &sql(2022)).await,
            distinct_per_row_group(Layout::Cycling)
        );
        // Not read as dictionaries (keys in runs, plain pages): every row, and the runs are
        // dropped above the scan.
        assert_eq!(
            rule_tests::output_rows::<DataSourceExec>(&ours, &sql(2023)).await,
            ROWS
        );
        assert_eq!(
            rule_tests::output_rows::<DataSourceExec>(&ours, &sql(2024)).await,
            ROWS
        );
    }

    /// Each dictionary's entries are kept once, across batches; a new dictionary starts
    /// afresh; NULL is kept once.
    #[test]
    fn keeps_each_entry_once_per_dictionary() {
        use arrow::array::Int32Array;
        let values: ArrayRef = Arc::new(StringArray::from(vec!["a", "b", "c"]));
        let batch = |keys: Vec<Option<i32>>, values: &ArrayRef| -> RecordBatch {
            let dict = DictionaryArray::new(Int32Array::from(keys), Arc::clone(values));
            RecordBatch::try_from_iter([("code", Arc::new(dict) as ArrayRef)]).unwrap()
        };
        let schema = batch(vec![], &values).schema();
        let first =
            FirstOfKey::new(datafusion::physical_expr::expressions::col("code", &schema).unwrap());
        let kept = |b: &RecordBatch| -> Vec<bool> {
            let a = first.evaluate(b).unwrap().into_array(b.num_rows()).unwrap();
            a.as_boolean().iter().map(|x| x.unwrap()).collect()
        };
        assert_eq!(
            kept(&batch(vec![Some(1), Some(1), None, Some(0), None], &values)),
            [true, false, true, true, false]
        );
        assert_eq!(
            kept(&batch(vec![Some(0), Some(2), Some(1), Some(2)], &values)),
            [false, true, false, false]
        );
        // All entries kept: nothing more from this dictionary, NULL included.
        assert_eq!(
            kept(&batch(vec![Some(2), Some(0)], &values)),
            [false, false]
        );
        assert_eq!(kept(&batch(vec![None], &values)), [false]);
        let other: ArrayRef = Arc::new(StringArray::from(vec!["a", "b", "c"]));
        assert_eq!(
            kept(&batch(vec![Some(2), Some(2), None], &other)),
            [true, false, true]
        );
        // Each file's expression is its own, with its own state; a column the file does not
        // store as a dictionary is not filtered.
        let plan_level: Arc<dyn PhysicalExpr> = Arc::new(FirstOfKey::new(
            datafusion::physical_expr::expressions::col("code", &schema).unwrap(),
        ));
        let (a, b) = (
            per_file(Arc::clone(&plan_level), &schema).unwrap(),
            per_file(Arc::clone(&plan_level), &schema).unwrap(),
        );
        let b1 = batch(vec![Some(0), Some(1)], &values);
        let value = |e: &Arc<dyn PhysicalExpr>| {
            let v = e.evaluate(&b1).unwrap().into_array(2).unwrap();
            v.as_boolean()
                .iter()
                .map(Option::unwrap)
                .collect::<Vec<_>>()
        };
        // Each sees both rows first, whatever the others saw.
        for e in [&a, &b, &plan_level] {
            assert_eq!(value(e), [true, true]);
        }
        assert_eq!(value(&a), [false, false]);
        let strings = Schema::new(vec![Field::new("code", DataType::Utf8View, true)]);
        assert_eq!(per_file(plan_level, &strings).unwrap().to_string(), "true");
    }

    /// A dictionary of mostly distinct codes: once most rows proved first occurrences, every
    /// row is kept without looking.
    #[test]
    fn stops_when_most_rows_are_first() {
        use crate::runs::JUDGE_AFTER;
        use arrow::array::Int32Array;
        let values: ArrayRef = Arc::new(StringArray::from(
            (0..1000).map(|i| format!("{i:05}")).collect::<Vec<_>>(),
        ));
        let batch = |start: i32| -> RecordBatch {
            let keys = Int32Array::from_iter_values(start..start + 1000);
            let dict = DictionaryArray::new(keys, Arc::clone(&values));
            RecordBatch::try_from_iter([("code", Arc::new(dict) as ArrayRef)]).unwrap()
        };
        let schema = batch(0).schema();
        let first =
            FirstOfKey::new(datafusion::physical_expr::expressions::col("code", &schema).unwrap());
        // A new dictionary each time, each key its own entry.
        let mut batches = 0;
        while !first.judge.off() {
            let values: ArrayRef = Arc::new(StringArray::from(
                (0..1000)
                    .map(|i| format!("{batches}-{i}"))
                    .collect::<Vec<_>>(),
            ));
            let keys = Int32Array::from_iter_values(0..1000);
            let dict = DictionaryArray::new(keys, values);
            let b = RecordBatch::try_from_iter([("code", Arc::new(dict) as ArrayRef)]).unwrap();
            match first.evaluate(&b).unwrap() {
                ColumnarValue::Array(a) => assert_eq!(a.as_boolean().true_count(), 1000),
                ColumnarValue::Scalar(s) => panic!("judged too early: {s}"),
            }
            batches += 1;
        }
        assert_eq!(batches, (JUDGE_AFTER as usize).div_ceil(1000));
        assert!(matches!(
            first.evaluate(&batch(0)).unwrap(),
            ColumnarValue::Scalar(ScalarValue::Boolean(Some(true)))
        ));
    }
}
