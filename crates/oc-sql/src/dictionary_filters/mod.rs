//! A physical optimizer rule: the string columns a Parquet scan reads only to filter rows are
//! read as dictionaries, so that `compte = '1641'` or `compte LIKE '6%'` is decided once per
//! distinct value of a column chunk, and each row costs a key.
//!
//! DataFusion reads strings as views: for each row the reader copies the 16-byte view of its
//! dictionary entry, and the filter then compares every view. In bench q2 (`compte = '1641'
//! AND cbudg = '1'`, 834 rows kept of 10 M) that copy was most of the time (bench/README.md).
//! A filter of a dictionary can be decided on the dictionary's entries and looked up by key;
//! what DataFusion lacks is a reader that hands out dictionaries for such columns and a
//! predicate that uses them. Hence three parts:
//!
//! - the rule picks, in each Parquet scan with pushed-down filters, the string columns of the
//!   predicate that the scan does not output (read for the filter only, so no cast back to
//!   views is ever paid for them);
//! - a reader factory, per file, reads such a column as `Dictionary(Int32, Utf8)` when that
//!   pays ([`dictionary_pays`]: every data page dictionary-encoded, keys bit-packed rather
//!   than in runs), by handing the reader an `ARROW:schema` that says so (read_hints.rs);
//! - an expression adapter evaluates, in that file's predicate, each deterministic boolean
//!   expression of one such column (`compte = '1641'`, `compte LIKE '6%'`, `IN`, …) on the
//!   column's dictionary values, then looks each row's key up (on_values.rs). DataFusion's
//!   own adapter reads the column through a cast to strings, which would undo the gain. The
//!   adapter also puts those predicates first among the file's row filters
//!   ([`answered_per_entry_first`]). Where such a column is read as views because its keys
//!   lie in runs (a file sorted by it), the same expressions are evaluated once per run of
//!   equal views instead (on_runs.rs).
//!
//! The reader factory is not serializable: a session that ships physical plans leaves this
//! rule out (`session::serializable_physical_rules`).

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, SchemaRef};
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::config::ConfigOptions;
use datafusion::datasource::physical_plan::{
    FileScanConfig, FileScanConfigBuilder, FileSource, ParquetSource,
};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result;
use datafusion::parquet::basic::Encoding;
use datafusion::parquet::file::metadata::ParquetMetaData;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::utils::{collect_columns, conjunction, split_conjunction};
use datafusion::physical_expr_adapter::{
    DefaultPhysicalExprAdapterFactory, PhysicalExprAdapter, PhysicalExprAdapterFactory,
};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;

use crate::read_hints::{HintedReaderFactory, ReadHints, leaf_of, reads_with};
mod on_runs;
mod on_values;

/// The rule's name, by which sessions that serialize plans leave it out.
pub const RULE_NAME: &str = "dictionary_filters";

/// The type a filter-only code column is read as.
const KEY: DataType = DataType::Int32;

#[derive(Debug, Default)]
pub struct DictionaryFilters;

impl PhysicalOptimizerRule for DictionaryFilters {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| Ok(rewrite(&node).map_or(Transformed::no(node), Transformed::yes)))
            .data()
    }

    fn name(&self) -> &str {
        RULE_NAME
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The scan with dictionary reads of its filter-only string columns, or None when it has none.
fn rewrite(node: &Arc<dyn ExecutionPlan>) -> Option<Arc<dyn ExecutionPlan>> {
    let scan = node.downcast_ref::<DataSourceExec>()?;
    let (config, parquet) = scan.downcast_to_file_source::<ParquetSource>()?;
    // Without pushdown the predicate only prunes, and a filter above reads the columns.
    if !parquet.table_parquet_options().global.pushdown_filters {
        return None;
    }
    let predicate = parquet.filter()?;
    let output: BTreeSet<String> = match FileSource::projection(parquet) {
        Some(p) => p
            .expr_iter()
            .flat_map(|e| collect_columns(&e))
            .map(|c| c.name().to_string())
            .collect(),
        // Everything is output.
        None => return None,
    };
    let file_schema = config.file_schema();
    // Only the columns some part of the predicate can be answered on per entry: a column read
    // as a dictionary and cast back to strings for each row costs more than views.
    let mut answerable = BTreeSet::new();
    predicate
        .apply(|e| {
            Ok(
                match on_values::answerable(e, FileSource::table_schema(parquet).table_schema()) {
                    Some(c) => {
                        answerable.insert(c.name().to_string());
                        TreeNodeRecursion::Jump
                    }
                    None => TreeNodeRecursion::Continue,
                },
            )
        })
        .ok()?;
    let columns: Vec<String> = answerable
        .into_iter()
        .filter(|name| !output.contains(name))
        .filter(|name| {
            file_schema
                .field_with_name(name)
                .is_ok_and(|f| is_string(f.data_type()))
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if columns.is_empty() {
        return None;
    }
    with_dictionary_reads(config, parquet, columns, None)
}

/// The scan of `config` and `parquet` reading `columns` as dictionaries where a file allows it
/// ([`dictionary_pays`]), its predicate's expressions of one of them evaluated per entry, and
/// `predicate` as its predicate when given (first_keys.rs); None when it has no reader
/// factory to wrap, or already wraps it.
pub(crate) fn with_dictionary_reads(
    config: &FileScanConfig,
    parquet: &ParquetSource,
    columns: Vec<String>,
    predicate: Option<Arc<dyn PhysicalExpr>>,
) -> Option<Arc<dyn ExecutionPlan>> {
    let inner = Arc::clone(parquet.parquet_file_reader_factory()?);
    // Once is enough.
    if reads_with::<DictionaryReads>(&inner) {
        return None;
    }
    let columns: Arc<[String]> = columns.into();
    // The row filters in the order the per-file adapter gives them ([`answered_per_entry_first`]).
    let mut source = parquet.clone().with_reorder_filters(false);
    if let Some(p) = predicate {
        source = source.with_predicate(p);
    }
    let source = source.with_parquet_file_reader_factory(Arc::new(HintedReaderFactory {
        inner,
        hints: Arc::new(DictionaryReads {
            columns: Arc::clone(&columns),
        }),
    }));
    let adapter = config
        .expr_adapter_factory
        .clone()
        .unwrap_or_else(|| Arc::new(DefaultPhysicalExprAdapterFactory));
    let config = FileScanConfigBuilder::from(config.clone())
        .with_source(Arc::new(source))
        .with_expr_adapter(Some(Arc::new(DictionaryAdapterFactory {
            inner: adapter,
            columns,
            max_in_list: parquet.max_in_list_size(),
        })))
        .build();
    let scan: Arc<dyn ExecutionPlan> = DataSourceExec::from_data_source(config);
    Some(scan)
}

fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::Utf8View)
}

/// Each file's `columns` that are top-level strings a dictionary read pays for
/// ([`dictionary_pays`]), read as `Dictionary(Int32, Utf8)`.
#[derive(Debug)]
struct DictionaryReads {
    columns: Arc<[String]>,
}

impl ReadHints for DictionaryReads {
    fn hint(&self, metadata: &ParquetMetaData, field: &Field) -> Option<DataType> {
        let wanted = self.columns.iter().any(|c| c == field.name())
            && is_string(field.data_type())
            && leaf_of(metadata, field.name()).is_some_and(|i| dictionary_pays(metadata, i));
        wanted.then(|| DataType::Dictionary(Box::new(KEY), Box::new(DataType::Utf8)))
    }
}

/// Whether leaf `i` is worth reading as a dictionary: every data page of every row group is
/// dictionary-encoded (as the page encoding statistics say; a file without them is not
/// trusted), and the keys are mostly bit-packed rather than in long runs, at least one bit
/// per row once compressed. In runs (a column the file is sorted by), the reader expands and
/// checks each key and gains nothing over views, which it copies a run at a time: bench q5 on
/// the clustered lake went 160 → 166 ms with `compte` (0.2 bits per row) read as a dictionary,
/// where on the default lake (3.6 bits per row) q2 went 82 → 71 ms.
fn dictionary_pays(metadata: &ParquetMetaData, i: usize) -> bool {
    let (mut bytes, mut rows) = (0i64, 0i64);
    for rg in metadata.row_groups() {
        let chunk = rg.column(i);
        let Some(dictionary) = chunk.dictionary_page_offset() else {
            return false;
        };
        let all_dictionary = chunk.page_encoding_stats_mask().is_some_and(|m| {
            m.is_only(Encoding::RLE_DICTIONARY) || m.is_only(Encoding::PLAIN_DICTIONARY)
        });
        if !all_dictionary {
            return false;
        }
        // On disk, the dictionary page comes first and the data pages after it.
        bytes += chunk.compressed_size() - (chunk.data_page_offset() - dictionary).max(0);
        rows += chunk.num_values();
    }
    rows > 0 && bytes * 8 >= rows
}

/// DataFusion's adapter (or the scan's own), then the predicates of one dictionary column
/// evaluated on its values (on_values.rs).
#[derive(Debug)]
struct DictionaryAdapterFactory {
    inner: Arc<dyn PhysicalExprAdapterFactory>,
    /// The columns the rule chose (a file may store others as dictionaries of its own).
    columns: Arc<[String]>,
    /// The scan's `max_in_list_size`, the longest `IN` list its pruning reads.
    max_in_list: usize,
}

impl PhysicalExprAdapterFactory for DictionaryAdapterFactory {
    fn create(
        &self,
        logical_file_schema: SchemaRef,
        physical_file_schema: SchemaRef,
    ) -> Result<Arc<dyn PhysicalExprAdapter>> {
        Ok(Arc::new(DictionaryAdapter {
            inner: self
                .inner
                .create(logical_file_schema, Arc::clone(&physical_file_schema))?,
            physical: physical_file_schema,
            columns: Arc::clone(&self.columns),
            max_in_list: self.max_in_list,
        }))
    }
}

#[derive(Debug)]
struct DictionaryAdapter {
    inner: Arc<dyn PhysicalExprAdapter>,
    physical: SchemaRef,
    columns: Arc<[String]>,
    max_in_list: usize,
}

impl PhysicalExprAdapter for DictionaryAdapter {
    fn rewrite(&self, expr: Arc<dyn PhysicalExpr>) -> Result<Arc<dyn PhysicalExpr>> {
        let expr = crate::first_keys::per_file(self.inner.rewrite(expr)?, &self.physical)?;
        // From the top: the largest expression of one chosen column is evaluated whole, on
        // the dictionary's entries where the file is read so, else per run of equal values.
        let expr = expr
            .transform_down(|e| {
                let (physical, columns) = (&self.physical, &self.columns);
                Ok(
                    match on_values::on_values(&e, physical, columns, self.max_in_list)
                        .or_else(|| on_runs::on_runs(&e, physical, columns))
                    {
                        Some(new) => Transformed::new(new, true, TreeNodeRecursion::Jump),
                        None => Transformed::no(e),
                    },
                )
            })
            .data()?;
        Ok(answered_per_entry_first(expr))
    }
}

/// `expr`'s conjuncts answered per dictionary entry first, the others after them, each group
/// in its order. The scan's row filters run in that order ([`with_dictionary_reads`] turns
/// DataFusion's reordering off), each on the rows the ones before kept. DataFusion would order
/// them by their columns' compressed size, which puts a code in long runs (`cbudg = '1'`, 90 %
/// of the rows kept) before a selective one on a dictionary (`compte = '1641'`, 1 row in 500),
/// and a code in runs is decoded and compared row by row where the dictionary's costs a key
/// lookup (bench q2 at 20M rows, bench/README.md "Filters answered per entry first"). A
/// file with nothing answered per entry keeps the query's order, DataFusion's default.
fn answered_per_entry_first(expr: Arc<dyn PhysicalExpr>) -> Arc<dyn PhysicalExpr> {
    let parts = split_conjunction(&expr);
    if parts.len() < 2 {
        return expr;
    }
    // Whole conjuncts only: one that also reads another column (`compte = '1641' OR x > 0`)
    // costs that column's decoding too, and keeps its place.
    let (first, rest): (Vec<_>, Vec<_>) = parts
        .into_iter()
        .cloned()
        .partition(|e| e.is::<on_values::OnValuesExpr>());
    if first.is_empty() {
        return expr;
    }
    conjunction(first.into_iter().chain(rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read_hints::with_hints;
    use crate::session::rule_tests;
    use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::Schema;
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::arrow::parquet_to_arrow_schema;
    use datafusion::parquet::file::properties::WriterProperties;
    use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
    use datafusion::parquet::schema::types::ColumnPath;
    use datafusion::physical_expr::expressions::{col, lit};
    use datafusion::prelude::{ParquetReadOptions, SessionContext};

    const ACCOUNTS: [&str; 12] = [
        "1641", "1643", "2031", "2041", "60611", "6064", "6068", "6411", "70311", "7411", "7788",
        "775",
    ];

    /// How `compte` lies in the file.
    #[derive(Clone, Copy, Debug)]
    enum Layout {
        /// Every account in every row group, in no order: keys bit-packed.
        Scattered,
        /// Three accounts per row group, alternating: keys bit-packed, and statistics prune.
        Grouped,
        /// Sorted: keys in long runs.
        Sorted,
    }

    /// 4,000 rows in 4 row groups: `compte` (a NULL every 97 rows) and `cbudg`
    /// dictionary-encoded, `code` (4,000 distinct) and `label` (2,000) with a dictionary page
    /// too small for them, so their pages fall back to plain.
    fn write(path: &std::path::Path, layout: Layout) {
        let n = 4000usize;
        let mut compte: Vec<Option<&str>> = (0..n)
            .map(|i| {
                let account = match layout {
                    Layout::Grouped => ACCOUNTS[(i / 1000) * 3 + i % 3],
                    _ => ACCOUNTS[(i * 7) % ACCOUNTS.len()],
                };
                (i % 97 != 5).then_some(account)
            })
            .collect();
        if let Layout::Sorted = layout {
            compte.sort();
        }
        let cbudg: Vec<&str> = (0..n).map(|i| if i % 3 == 0 { "2" } else { "1" }).collect();
        let code: Vec<String> = (0..n)
            .map(|i| format!("{:05}", (i * 7919) % 100_000))
            .collect();
        let label: Vec<String> = (0..n).map(|i| format!("L{}", (i * 31) % 2000)).collect();
        let amount: Vec<i64> = (0..n as i64).map(|i| i * 13 - 7000).collect();
        let batch = RecordBatch::try_from_iter([
            ("compte", Arc::new(StringArray::from(compte)) as ArrayRef),
            ("cbudg", Arc::new(StringArray::from(cbudg)) as ArrayRef),
            ("code", Arc::new(StringArray::from(code)) as ArrayRef),
            ("label", Arc::new(StringArray::from(label)) as ArrayRef),
            ("amount", Arc::new(Int64Array::from(amount)) as ArrayRef),
        ])
        .unwrap();
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(1000))
            .set_column_dictionary_page_size_limit(ColumnPath::from("code"), 256)
            .set_column_dictionary_page_size_limit(ColumnPath::from("label"), 256)
            .build();
        let mut w = ArrowWriter::try_new(
            std::fs::File::create(path).unwrap(),
            batch.schema(),
            Some(props),
        )
        .unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }

    /// The file's Arrow schema once [`DictionaryReads`] asked for `columns`.
    fn read_as(path: &std::path::Path, columns: &[&str]) -> (Schema, bool) {
        let reader = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
        let metadata = Arc::new(reader.metadata().clone());
        let columns: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
        let hints = DictionaryReads {
            columns: columns.into(),
        };
        let out = with_hints(Arc::clone(&metadata), &hints).unwrap();
        assert_eq!(out.row_groups(), metadata.row_groups());
        let file = out.file_metadata();
        let schema =
            parquet_to_arrow_schema(file.schema_descr(), file.key_value_metadata()).unwrap();
        (schema, Arc::ptr_eq(&out, &metadata))
    }

    /// Batches of 100 rows, so that each row group's dictionary serves ten batches.
    async fn context(path: &std::path::Path, with_rule: bool) -> SessionContext {
        let ctx = rule_tests::context(
            (!with_rule).then_some(RULE_NAME),
            &[("datafusion.execution.batch_size", "100")],
        );
        ctx.register_parquet("t", path.to_str().unwrap(), ParquetReadOptions::default())
            .await
            .unwrap();
        ctx
    }

    async fn rows(ctx: &SessionContext, sql: &str) -> String {
        rule_tests::rows(ctx, sql).await
    }

    #[test]
    fn only_bit_packed_dictionary_chunks_are_read_as_dictionaries() {
        let dir = tempfile::tempdir().unwrap();
        let dictionary = DataType::Dictionary(Box::new(KEY), Box::new(DataType::Utf8));
        let type_of = |s: &Schema, c: &str| s.field_with_name(c).unwrap().data_type().clone();
        for layout in [Layout::Scattered, Layout::Grouped] {
            let path = dir.path().join(format!("{layout:?}.parquet"));
            write(&path, layout);
            let (schema, same) = read_as(&path, &["compte", "code", "amount", "absent"]);
            assert!(!same);
            assert_eq!(type_of(&schema, "compte"), dictionary, "{layout:?}");
            // Plain pages (the dictionary overflowed): hashing them would cost more than views.
            assert_eq!(type_of(&schema, "code"), DataType::Utf8);
            // Not a string; not asked for.
            assert_eq!(type_of(&schema, "amount"), DataType::Int64);
            assert_eq!(type_of(&schema, "cbudg"), DataType::Utf8);
            // Nothing to change: the very same metadata.
            assert!(read_as(&path, &["code"]).1);
        }
        // Keys in long runs: read as views, as before.
        let path = dir.path().join("sorted.parquet");
        write(&path, Layout::Sorted);
        let (schema, same) = read_as(&path, &["compte"]);
        assert!(same);
        assert_eq!(type_of(&schema, "compte"), DataType::Utf8);
    }

    /// Each predicate of the dictionary column alone is answered per entry, and gives what
    /// DataFusion's cast-then-compare gives, NULL entries and NULL keys included.
    #[test]
    fn predicates_of_one_dictionary_column_are_answered_per_entry() {
        use arrow::array::{DictionaryArray, Int32Array};
        use datafusion::common::ScalarValue;
        use datafusion::logical_expr::Operator;
        use datafusion::physical_expr::expressions::{
            BinaryExpr, CastExpr, LikeExpr, in_list, is_null, not,
        };
        let logical = Arc::new(Schema::new(vec![
            Field::new("compte", DataType::Utf8View, true),
            Field::new("code", DataType::Utf8View, true),
        ]));
        let dictionary = DataType::Dictionary(Box::new(KEY), Box::new(DataType::Utf8));
        let physical = Arc::new(Schema::new(vec![
            Field::new("compte", dictionary, true),
            Field::new("code", DataType::Utf8, true),
        ]));
        let keys = Int32Array::from(vec![
            Some(0),
            Some(2),
            None,
            Some(1),
            Some(2),
            Some(3),
            Some(0),
        ]);
        // The reader puts NULLs in the keys, never in the values: arrow's cast of a NULL entry
        // to strings reads it as '' (not NULL), where the answer per entry says NULL.
        let values = StringArray::from(vec!["1641", "7411", "60611", "2A"]);
        let compte = DictionaryArray::new(keys, Arc::new(values));
        let code = StringArray::from(vec!["a", "b", "c", "d", "e", "f", "1641"]);
        let with_null_key = RecordBatch::try_new(
            Arc::clone(&physical),
            vec![Arc::new(compte), Arc::new(code)],
        )
        .unwrap();
        // Without NULL keys: the path that looks keys up without validity.
        let without = with_null_key.slice(3, 4);
        let ours = DictionaryAdapterFactory {
            inner: Arc::new(DefaultPhysicalExprAdapterFactory),
            columns: vec!["compte".to_string(), "code".to_string()].into(),
            max_in_list: 20,
        }
        .create(Arc::clone(&logical), Arc::clone(&physical))
        .unwrap();
        let theirs = DefaultPhysicalExprAdapterFactory
            .create(Arc::clone(&logical), physical)
            .unwrap();
        let view = |s: &str| lit(ScalarValue::Utf8View(Some(s.into())));
        let compte = col("compte", &logical).unwrap();
        let code = col("code", &logical).unwrap();
        let cmp = |l: Arc<dyn PhysicalExpr>,
                   op,
                   r: Arc<dyn PhysicalExpr>|
         -> Arc<dyn PhysicalExpr> { Arc::new(BinaryExpr::new(l, op, r)) };
        let eq_1641 = cmp(Arc::clone(&compte), Operator::Eq, view("1641"));
        let class_6 = cmp(
            cmp(view("6"), Operator::Lt, Arc::clone(&compte)),
            Operator::And,
            cmp(Arc::clone(&compte), Operator::Lt, view("7")),
        );
        let as_int = cmp(
            Arc::new(CastExpr::new(Arc::clone(&compte), DataType::Int32, None)),
            Operator::Eq,
            lit(1641),
        );
        let answered_per_entry: Vec<Arc<dyn PhysicalExpr>> = vec![
            Arc::clone(&eq_1641),
            not(Arc::clone(&eq_1641)).unwrap(),
            Arc::new(LikeExpr::new(false, false, Arc::clone(&compte), view("6%"))),
            Arc::new(LikeExpr::new(true, true, Arc::clone(&compte), view("2a"))),
            is_null(Arc::clone(&compte)).unwrap(),
            in_list(
                Arc::clone(&compte),
                vec![view("1641"), view("2A")],
                &false,
                &logical,
            )
            .unwrap(),
            class_6,
            as_int,
        ];
        for e in answered_per_entry {
            let rewritten = ours.rewrite(Arc::clone(&e)).unwrap();
            assert!(rewritten.is::<on_values::OnValuesExpr>(), "{e}");
            for batch in [&with_null_key, &without] {
                let value = |x: &Arc<dyn PhysicalExpr>| {
                    x.evaluate(batch)
                        .and_then(|v| v.into_array(batch.num_rows()))
                        .map(|a| format!("{a:?}"))
                        .map_err(|e| e.strip_backtrace())
                };
                assert_eq!(
                    value(&rewritten),
                    value(&theirs.rewrite(e.clone()).unwrap()),
                    "{e}"
                );
            }
        }
        // What pruning reads: the dictionary column itself; an `IN` list as `OR`s up to the
        // scan's `max_in_list_size` (20 here), and past it, the original, which DataFusion's
        // pruning leaves alone (20,000 codes as `OR`s took it minutes).
        let in_of = |n: usize| {
            let list = (0..n).map(|i| view(&format!("{i:04}"))).collect();
            in_list(Arc::clone(&compte), list, &false, &logical).unwrap()
        };
        let snapshot = |e: Arc<dyn PhysicalExpr>| {
            let rewritten = ours.rewrite(e).unwrap();
            assert!(rewritten.is::<on_values::OnValuesExpr>());
            rewritten.snapshot().unwrap().unwrap().to_string()
        };
        assert_eq!(snapshot(in_of(2)), "compte@0 = 0000 OR compte@0 = 0001");
        let long = snapshot(in_of(21));
        assert!(
            long.starts_with("CAST(compte@0 AS Utf8View) IN ("),
            "{long}"
        );
        // Not of the dictionary column alone: DataFusion's cast stays.
        for e in [
            cmp(Arc::clone(&code), Operator::Eq, view("1641")),
            cmp(Arc::clone(&compte), Operator::Eq, code),
        ] {
            let rewritten = ours.rewrite(Arc::clone(&e)).unwrap();
            assert!(!rewritten.is::<on_values::OnValuesExpr>(), "{e}");
            assert!(rewritten.to_string().contains("CAST("), "{rewritten}");
        }
    }

    /// A file's row filters: the conjuncts answered per dictionary entry first, the others
    /// after them in the query's order, whatever the query's order was.
    #[test]
    fn filters_answered_per_entry_come_first() {
        use datafusion::common::ScalarValue;
        use datafusion::logical_expr::Operator;
        use datafusion::physical_expr::expressions::BinaryExpr;
        let logical = Arc::new(Schema::new(vec![
            Field::new("compte", DataType::Utf8View, true),
            Field::new("cbudg", DataType::Utf8View, true),
            Field::new("amount", DataType::Int64, true),
        ]));
        // In this file `cbudg` is in runs (read as views), `compte` a dictionary.
        let physical = Arc::new(Schema::new(vec![
            Field::new(
                "compte",
                DataType::Dictionary(Box::new(KEY), Box::new(DataType::Utf8)),
                true,
            ),
            Field::new("cbudg", DataType::Utf8, true),
            Field::new("amount", DataType::Int64, true),
        ]));
        let adapter = DictionaryAdapterFactory {
            inner: Arc::new(DefaultPhysicalExprAdapterFactory),
            columns: vec!["compte".to_string(), "cbudg".to_string()].into(),
            max_in_list: 20,
        }
        .create(Arc::clone(&logical), physical)
        .unwrap();
        let view = |s: &str| lit(ScalarValue::Utf8View(Some(s.into())));
        let cmp = |l: Arc<dyn PhysicalExpr>,
                   op,
                   r: Arc<dyn PhysicalExpr>|
         -> Arc<dyn PhysicalExpr> { Arc::new(BinaryExpr::new(l, op, r)) };
        let column = |c: &str| col(c, &logical).unwrap();
        let cbudg = cmp(column("cbudg"), Operator::Eq, view("1"));
        let compte = cmp(column("compte"), Operator::Eq, view("1641"));
        let amount = cmp(column("amount"), Operator::Gt, lit(0i64));
        let and = |a: &Arc<dyn PhysicalExpr>, b: &Arc<dyn PhysicalExpr>| {
            cmp(Arc::clone(a), Operator::And, Arc::clone(b))
        };
        let order = |e: Arc<dyn PhysicalExpr>| -> Vec<String> {
            let rewritten = adapter.rewrite(e).unwrap();
            split_conjunction(&rewritten)
                .into_iter()
                .map(|c| {
                    let mut names: Vec<String> = collect_columns(c)
                        .into_iter()
                        .map(|c| c.name().to_string())
                        .collect();
                    names.sort();
                    let name = names.join("+");
                    if c.is::<on_values::OnValuesExpr>() {
                        format!("{name} per entry")
                    } else {
                        name
                    }
                })
                .collect()
        };
        assert_eq!(
            order(and(&and(&cbudg, &amount), &compte)),
            ["compte per entry", "cbudg", "amount"]
        );
        assert_eq!(
            order(and(&amount, &and(&compte, &cbudg))),
            ["compte per entry", "amount", "cbudg"]
        );
        // Nothing answered per entry: the query's order.
        assert_eq!(order(and(&cbudg, &amount)), ["cbudg", "amount"]);
        // A conjunct that reads another column too keeps its place.
        let either = cmp(Arc::clone(&compte), Operator::Or, Arc::clone(&amount));
        assert_eq!(
            order(and(&and(&cbudg, &either), &compte)),
            ["compte per entry", "cbudg", "amount+compte"]
        );
        assert_eq!(order(Arc::clone(&compte)), ["compte per entry"]);
    }

    /// The same answers with and without the rule, on filters the rule rewrites and on those
    /// it leaves alone, with NULLs and a column whose pages fell back to plain; and the same
    /// row groups pruned by statistics.
    #[tokio::test]
    async fn same_results_and_pruning_as_datafusion() {
        let dir = tempfile::tempdir().unwrap();
        for layout in [Layout::Scattered, Layout::Grouped, Layout::Sorted] {
            let path = dir.path().join(format!("{layout:?}.parquet"));
            write(&path, layout);
            let ours = context(&path, true).await;
            let theirs = context(&path, false).await;
            let q2 = "SELECT code, amount FROM t WHERE compte = '1641' AND cbudg = '1' \
                      ORDER BY amount DESC, code LIMIT 20";
            // The rule picked the filter-only strings, and nothing else.
            let plan = rule_tests::physical_plan(&ours, q2).await;
            let mut factories = vec![];
            plan.apply(|node| {
                if let Some(scan) = node.downcast_ref::<DataSourceExec>()
                    && let Some((_, parquet)) = scan.downcast_to_file_source::<ParquetSource>()
                {
                    factories.push(format!("{:?}", parquet.parquet_file_reader_factory()));
                }
                Ok(TreeNodeRecursion::Continue)
            })
            .unwrap();
            assert_eq!(factories.len(), 1);
            // The scan keeps the row filters in the order the adapter gives them.
            let mut reorders = vec![];
            plan.apply(|node| {
                if let Some(scan) = node.downcast_ref::<DataSourceExec>()
                    && let Some((_, parquet)) = scan.downcast_to_file_source::<ParquetSource>()
                {
                    reorders.push(parquet.table_parquet_options().global.reorder_filters);
                }
                Ok(TreeNodeRecursion::Continue)
            })
            .unwrap();
            assert_eq!(reorders, [false]);
            assert!(
                factories[0].contains(r#"hints: DictionaryReads"#)
                    && factories[0].contains(r#"columns: ["cbudg", "compte"]"#),
                "{factories:?}"
            );
            for filter in [
                "compte = '1641' AND cbudg = '1'",
                "compte <> '1641'",
                "compte LIKE '6%'",
                "compte NOT LIKE '6%' AND cbudg = '2'",
                "compte ILIKE '70%'",
                "'6' < compte",
                "compte >= '6064'",
                "compte IN ('1641', '7411')",
                "compte IS NULL",
                "compte = 'absent'",
                "code = '07919'",
                "code LIKE '0791%' AND compte = '2031'",
                "upper(compte) = '1641'",
                "compte = cbudg",
                "cbudg IN ('1', '2')",
                "compte IN ('1641', '2031', '6064', '7411') AND cbudg <> '3'",
                "label LIKE 'L1%'",
                "label = 'L31' OR compte = '775'",
            ] {
                let sql = format!(
                    "SELECT count(*), sum(amount), min(code), max(code) FROM t WHERE {filter}"
                );
                assert_eq!(
                    rows(&ours, &sql).await,
                    rows(&theirs, &sql).await,
                    "{filter}"
                );
            }
            assert_eq!(rows(&ours, q2).await, rows(&theirs, q2).await);
            // Statistics, page index and bloom filters prune as much as without the rule.
            let pruned = |s: String| -> Vec<String> {
                s.split([',', '\n'])
                    .filter(|m| m.contains("_pruned") || m.contains("predicate_evaluation_errors"))
                    .map(|m| m.trim().to_string())
                    .collect()
            };
            for filter in [
                "compte = '1641' AND cbudg = '1'",
                "compte LIKE '16%'",
                "compte IS NULL",
                "compte IN ('1641', '1643')",
                "compte >= '6' AND compte < '7'",
            ] {
                let explain = format!("EXPLAIN ANALYZE SELECT code FROM t WHERE {filter}");
                let (a, b) = (rows(&ours, &explain).await, rows(&theirs, &explain).await);
                assert_eq!(pruned(a.clone()), pruned(b), "{filter}: {a}");
                assert!(a.contains("predicate_evaluation_errors=0"), "{a}");
                if let (Layout::Grouped | Layout::Sorted, true) = (layout, filter.contains("16")) {
                    assert!(
                        a.contains("row_groups_pruned_statistics=4 total → 1 matched"),
                        "{filter}: {a}"
                    );
                }
            }
        }
    }
}
