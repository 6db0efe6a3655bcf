//! A physical optimizer rule: the decimal columns a Parquet scan reads only for the sums of
//! runs (run_sums.rs) are read as the `Decimal64` they are stored as, and summed in 128 bits.
//!
//! The lake's amounts are `Decimal128(18, 2)`, which Parquet stores as INT64. arrow-rs reads
//! such a column by widening every value to 128 bits (`coerce_i64`, 14 % of bench q6's samples
//! on the clustered lake, with the `memset` of the 16-byte buffers another 6 %), only for the
//! sum to read them back. Read as `Decimal64`, the column is the file's own INT64 values, taken
//! without a copy; the runs add each one, widened in a register, to a 128-bit sum.
//!
//! Nothing above the runs sees the difference: a run's sum keeps the type the aggregation was
//! planned with (`Decimal128`, the sum of the same values, wrapping as DataFusion's), and rows
//! the runs pass through unsummed (keys in no order) are cast back to it. Only the columns the
//! runs read whole as the argument of a sum or a count, or as operands of the decimal `+` and
//! `-` of fast_exprs/ (which widen them as they add, into the type planned: `debit - credit`
//! in bench q1, q3 and q5), are narrowed: never a key, a column of another expression, or a
//! column of the scan's predicate (whose literals are typed for the table's columns) or of an
//! expression the scan computes (a common subexpression or an alias DataFusion pushed into
//! it). arrow-rs reads as `Decimal64` the decimals of 18 digits or fewer stored as INT32, INT64
//! or fixed-length bytes of up to 8 (the lake's writer stores them as INT64); a file whose
//! column is stored otherwise keeps its type and is cast by the scan, as any file's column of
//! another type is.
//!
//! DataFusion 55's own `SUM` of a `Decimal64` returns a `Decimal64` that wraps past 18 digits
//! (bench/README.md, "Decimal64, measured"): the narrow values never reach it.
//!
//! The reader factory is not serializable: a session that ships physical plans leaves this
//! rule out (`session::serializable_physical_rules`).

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::Result;
use datafusion::datasource::physical_plan::{FileScanConfigBuilder, FileSource, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::parquet::basic::Type as PhysicalType;
use datafusion::parquet::file::metadata::ParquetMetaData;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::utils::collect_columns;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::execution_plan::{ChildrenPropertiesMode, ReplaceChildrenOptions};

use crate::read_hints::{HintedReaderFactory, ReadHints, leaf_of, reads_with};
use crate::run_sums::RunSumsExec;

/// The rule's name, by which sessions that serialize plans leave it out.
pub const RULE_NAME: &str = "decimal64_sums";

/// The widest decimal an INT64 holds, and `Decimal64` types.
const DECIMAL64_MAX_PRECISION: u8 = 18;

#[derive(Debug, Default)]
pub struct Decimal64Sums;

crate::runs::node_rule!(Decimal64Sums, RULE_NAME, rewrite);

/// Each file's `columns` read as `Decimal64` where the file types them as a decimal of 18
/// digits or fewer.
#[derive(Debug)]
struct Decimal64Reads {
    columns: Arc<[String]>,
}

impl ReadHints for Decimal64Reads {
    fn hint(&self, metadata: &ParquetMetaData, field: &Field) -> Option<DataType> {
        let DataType::Decimal128(p, s) = field.data_type() else {
            return None;
        };
        if *p > DECIMAL64_MAX_PRECISION || !self.columns.iter().any(|c| c == field.name()) {
            return None;
        }
        // arrow-rs reads as `Decimal64` the integers and fixed-length bytes of up to 8, and
        // refuses other decimals so read (variable-length bytes, wider fixed-length ones),
        // which then keep their type and are cast by the scan.
        let leaf = leaf_of(metadata, field.name())?;
        let column = metadata.file_metadata().schema_descr().column(leaf);
        let fits = match column.physical_type() {
            PhysicalType::INT32 | PhysicalType::INT64 => true,
            PhysicalType::FIXED_LEN_BYTE_ARRAY => column.type_length() <= 8,
            _ => false,
        };
        fits.then_some(DataType::Decimal64(*p, *s))
    }
}

/// The runs over a scan that reads their only-summed decimal columns as `Decimal64`, or None
/// when there are none.
fn rewrite(node: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(runs) = node.downcast_ref::<RunSumsExec>() else {
        return Ok(None);
    };
    let Some(scan) = runs.input().downcast_ref::<DataSourceExec>() else {
        return Ok(None);
    };
    let Some((config, parquet)) = scan.downcast_to_file_source::<ParquetSource>() else {
        return Ok(None);
    };
    let (Some(inner), Some(projection)) = (
        parquet.parquet_file_reader_factory(),
        FileSource::projection(parquet),
    ) else {
        return Ok(None);
    };
    let table_schema = FileSource::table_schema(parquet);
    if reads_with::<Decimal64Reads>(inner) || !table_schema.virtual_columns().is_empty() {
        return Ok(None);
    }
    // The file columns read elsewhere: in the predicate (whose literals are typed for the
    // table), or by a projection of the scan (a common subexpression or an alias pushed into
    // it) other than the plain columns the runs only sum: there DataFusion's own expressions
    // and nodes would see the narrow type.
    let exprs = projection.as_ref();
    let narrowable = runs.narrowable();
    let mut elsewhere: BTreeSet<String> = parquet
        .filter()
        .map(|p| {
            collect_columns(&p)
                .into_iter()
                .map(|c| c.name().to_string())
                .collect()
        })
        .unwrap_or_default();
    let mut candidates = BTreeSet::new();
    for (i, e) in exprs.iter().enumerate() {
        match e.expr.downcast_ref::<Column>() {
            Some(c) if narrowable.contains(&i) => {
                candidates.insert((c.index(), c.name().to_string()));
            }
            _ => elsewhere.extend(
                collect_columns(&e.expr)
                    .into_iter()
                    .map(|c| c.name().to_string()),
            ),
        }
    }
    let file_schema = table_schema.file_schema();
    let mut columns = BTreeSet::new();
    for (index, name) in candidates {
        // A column of the files (the partition columns come after them).
        let Some(field) = file_schema.fields().get(index) else {
            continue;
        };
        if field.name() == &name
            && !elsewhere.contains(&name)
            && matches!(field.data_type(), DataType::Decimal128(p, _) if *p <= DECIMAL64_MAX_PRECISION)
        {
            columns.insert(name);
        }
    }
    if columns.is_empty() {
        return Ok(None);
    }
    let fields: Vec<Arc<Field>> = file_schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Decimal128(p, s) if columns.contains(f.name()) => Arc::new(
                f.as_ref()
                    .clone()
                    .with_data_type(DataType::Decimal64(*p, *s)),
            ),
            _ => Arc::clone(f),
        })
        .collect();
    let narrow = TableSchema::builder(Arc::new(Schema::new_with_metadata(
        fields,
        file_schema.metadata().clone(),
    )))
    .with_table_partition_cols(table_schema.table_partition_cols().to_vec())
    .build();
    // The scan as `ParquetFormat` plans it (options, predicate, reader factory, metadata size
    // hint), over the narrower schema, with the same projection.
    let options = parquet.table_parquet_options().clone();
    let size_hint = options.global.metadata_size_hint;
    let mut source = ParquetSource::new(narrow).with_table_parquet_options(options);
    if let Some(p) = parquet.filter() {
        source = source.with_predicate(p);
    }
    if let Some(hint) = size_hint {
        source = source.with_metadata_size_hint(hint);
    }
    let columns: Vec<String> = columns.into_iter().collect();
    let source = source.with_parquet_file_reader_factory(Arc::new(HintedReaderFactory {
        inner: Arc::clone(inner),
        hints: Arc::new(Decimal64Reads {
            columns: columns.into(),
        }),
    }));
    let Some(source) = source.try_pushdown_projection(projection)? else {
        return Ok(None);
    };
    let config = FileScanConfigBuilder::from(config.clone())
        .with_source(source)
        .build();
    let narrow_scan: Arc<dyn ExecutionPlan> = DataSourceExec::from_data_source(config);
    // The same columns, in the same order, narrower only where the runs only sum them.
    let (old, new) = (scan.schema(), narrow_scan.schema());
    let as_planned = old.fields().len() == new.fields().len()
        && old
            .fields()
            .iter()
            .zip(new.fields())
            .enumerate()
            .all(|(i, (a, b))| {
                a.name() == b.name()
                    && (a.data_type() == b.data_type()
                        || narrowable.contains(&i)
                            && matches!(b.data_type(), DataType::Decimal64(..)))
            });
    if !as_planned {
        return Ok(None);
    }
    Ok(Some(Arc::clone(node).replace_children(
        vec![narrow_scan],
        ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::rule_tests;
    use arrow::array::{ArrayRef, Decimal128Array, Int64Array, RecordBatch, StringArray};
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::file::properties::WriterProperties;
    use datafusion::prelude::SessionContext;

    const LARGEST: i128 = 999_999_999_999_999_999;

    fn decimals(values: Vec<Option<i128>>, precision: u8) -> ArrayRef {
        Arc::new(
            Decimal128Array::from(values)
                .with_precision_and_scale(precision, 2)
                .unwrap(),
        )
    }

    /// 80,000 rows of partition `p`: `k` in runs (sorted), `r` in no order (7,919 values), amounts
    /// `a` (NULL every 13 rows, the largest 18-digit values every 50 and 101, so that runs sum past 64
    /// bits) and `b` as `Decimal128(18, 2)`, `c` as `Decimal128(20, 2)`.
    fn write(dir: &std::path::Path, p: u32) {
        let n = 80_000usize;
        let k: Vec<String> = (0..n).map(|i| format!("K{:03}", i / 700)).collect();
        let r: Vec<String> = (0..n)
            .map(|i| format!("R{}", (i * 7_907 + p as usize) % 7_919))
            .collect();
        let a: Vec<Option<i128>> = (0..n as i128)
            .map(|i| match i {
                _ if i % 13 == 0 => None,
                _ if i % 101 == 0 => Some(if i % 2 == 0 { LARGEST } else { -LARGEST }),
                _ if i % 50 == 1 => Some(LARGEST),
                _ => Some(i * 37 - 1_000_000),
            })
            .collect();
        let b: Vec<Option<i128>> = (0..n as i128).map(|i| Some(i % 1000 - 500)).collect();
        let c: Vec<Option<i128>> = (0..n as i128).map(|i| Some(i * 11)).collect();
        let batch = RecordBatch::try_from_iter([
            ("k", Arc::new(StringArray::from(k)) as ArrayRef),
            ("r", Arc::new(StringArray::from(r)) as ArrayRef),
            ("a", decimals(a, 18)),
            ("b", decimals(b, 18)),
            ("c", decimals(c, 20)),
            (
                "n",
                Arc::new(Int64Array::from_iter_values(0..n as i64)) as ArrayRef,
            ),
        ])
        .unwrap();
        let folder = dir.join(format!("p={p}"));
        std::fs::create_dir_all(&folder).unwrap();
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(30_000))
            .build();
        let file = std::fs::File::create(folder.join("part.parquet")).unwrap();
        let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }

    async fn context(dir: &std::path::Path, without: Option<&str>) -> SessionContext {
        rule_tests::partitioned_parquet(without, "1000", dir, "p").await
    }

    /// The columns the plan's scans read as `Decimal64`, as the reader factories say.
    async fn narrowed(ctx: &SessionContext, sql: &str) -> Vec<String> {
        let plan = rule_tests::physical_plan(ctx, sql).await;
        let mut found = vec![];
        plan.apply(|node| {
            if let Some(scan) = node.downcast_ref::<DataSourceExec>()
                && let Some((_, parquet)) = scan.downcast_to_file_source::<ParquetSource>()
            {
                let factory = format!("{:?}", parquet.parquet_file_reader_factory());
                let key = "Decimal64Reads { columns: ";
                if let Some(at) = factory.find(key) {
                    let rest = &factory[at + key.len()..];
                    found.push(rest[..rest.find(" }").unwrap()].to_string());
                }
            }
            Ok(TreeNodeRecursion::Continue)
        })
        .unwrap();
        found
    }

    #[tokio::test]
    async fn same_sums_as_datafusion_with_only_summed_decimals_read_narrow() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), 1);
        write(dir.path(), 2);
        let ours = context(dir.path(), None).await;
        // DataFusion's own sums, without the runs.
        let theirs = context(dir.path(), Some(crate::run_sums::RULE_NAME)).await;
        let both = r#"["a", "b"]"#;
        let only_b = r#"["b"]"#;
        for (sql, expected) in [
            // Keys in runs, with a partition column and counts.
            (
                "SELECT p, k, count(*), sum(a), sum(b), count(a) FROM t GROUP BY p, k ORDER BY p, k",
                vec![both],
            ),
            // Keys in no order: the runs pass rows through, or group each batch.
            (
                "SELECT r, sum(a), sum(b), count(*) FROM t GROUP BY r ORDER BY r",
                vec![both],
            ),
            (
                "SELECT sum(a), sum(b) FROM t GROUP BY k ORDER BY 1",
                vec![both],
            ),
            // A column of the predicate keeps its type; the others narrow.
            (
                "SELECT k, sum(a), sum(b) FROM t WHERE a > 0 GROUP BY k ORDER BY k",
                vec![only_b],
            ),
            (
                "SELECT k, sum(b) FROM t WHERE r = 'R5' GROUP BY k ORDER BY k",
                vec![only_b],
            ),
            // A key keeps its type.
            (
                "SELECT a, sum(b), count(*) FROM t GROUP BY a ORDER BY a",
                vec![only_b],
            ),
            // Operands of decimal differences and sums (fast_exprs/), nested, under a CASE,
            // or beside a column of the predicate or a wider decimal, which keep their type.
            (
                "SELECT k, sum(a - b), count(a + b) FROM t GROUP BY k ORDER BY k",
                vec![both],
            ),
            (
                "SELECT p, sum((a - b) - (b + a)) FROM t GROUP BY p ORDER BY p",
                vec![both],
            ),
            (
                "SELECT p, sum(a - b - b) FROM t GROUP BY p ORDER BY p",
                vec![both],
            ),
            (
                "SELECT k, sum(CASE WHEN r LIKE 'R1%' THEN (a - b) - (b + a) ELSE 0 END) \
                 FROM t GROUP BY k ORDER BY k",
                vec![both],
            ),
            (
                "SELECT k, sum(a - b) FROM t WHERE a < 0 GROUP BY k ORDER BY k",
                vec![only_b],
            ),
            (
                "SELECT k, sum(c - b) FROM t GROUP BY k ORDER BY k",
                vec![only_b],
            ),
            // Read by an expression the scan computes (a common subexpression, an alias),
            // where DataFusion's own expressions and nodes would see them.
            (
                "SELECT k, sum(a), sum(a - b), count(a - b) FROM t GROUP BY k ORDER BY k",
                vec![],
            ),
            (
                "SELECT a2, sum(a) FROM (SELECT a, a AS a2 FROM t) GROUP BY a2 ORDER BY a2",
                vec![],
            ),
            (
                "SELECT k, sum(a), sum(x) FROM (SELECT k, a, a * 2 AS x FROM t) GROUP BY k \
                 ORDER BY k",
                vec![],
            ),
            // In another expression, wider than 64 bits, or under another aggregate.
            (
                "SELECT k, sum(a * 2), sum(b - 1) FROM t GROUP BY k ORDER BY k",
                vec![],
            ),
            ("SELECT k, sum(c) FROM t GROUP BY k ORDER BY k", vec![]),
            (
                "SELECT k, sum(a), min(b) FROM t GROUP BY k ORDER BY k",
                vec![],
            ),
        ] {
            assert_eq!(narrowed(&ours, sql).await, expected, "{sql}");
            let (a, b) = (
                rule_tests::rows(&ours, sql).await,
                rule_tests::rows(&theirs, sql).await,
            );
            assert_eq!(a, b, "{sql}");
            // The sums are those of the whole table, not a query that returns nothing.
            assert!(a.lines().count() > 4, "{sql}: {a}");
        }
        // A run's sum past 64 bits, exact.
        let sql = "SELECT k, sum(a) FROM t WHERE k IN ('K000', 'K001') GROUP BY k ORDER BY k";
        assert_eq!(narrowed(&ours, sql).await, vec![r#"["a"]"#]);
        let total = rule_tests::rows(&ours, sql).await;
        assert_eq!(total, rule_tests::rows(&theirs, sql).await);
        // 1.2 × 10^19 cents in each partition's run of K000, past i64::MAX (the generator's
        // values summed apart, in Python).
        assert!(
            total.contains("| K000 | 239999999987602662.12 |"),
            "{total}"
        );
    }

    /// The hint for each column of a file whose schema is `message`.
    fn hints_for(message: &str, columns: &[&str]) -> Vec<(String, Option<DataType>)> {
        use datafusion::parquet::schema::parser::parse_message_type;
        use datafusion::parquet::schema::types::SchemaDescriptor;
        let descr = Arc::new(SchemaDescriptor::new(Arc::new(
            parse_message_type(message).unwrap(),
        )));
        let metadata = ParquetMetaData::new(
            datafusion::parquet::file::metadata::FileMetaData::new(
                2,
                0,
                None,
                None,
                Arc::clone(&descr),
                None,
            ),
            vec![],
        );
        let hints = Decimal64Reads {
            columns: columns.iter().map(|c| c.to_string()).collect(),
        };
        let schema = datafusion::parquet::arrow::parquet_to_arrow_schema(&descr, None).unwrap();
        schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), hints.hint(&metadata, f)))
            .collect()
    }

    #[test]
    fn hints_only_named_decimals_stored_in_8_bytes_or_fewer() {
        let found = hints_for(
            "message m {
                optional int64 a (DECIMAL(18, 2));
                optional int32 b (DECIMAL(9, 0));
                optional fixed_len_byte_array(8) c (DECIMAL(18, 2));
                optional fixed_len_byte_array(16) d (DECIMAL(18, 2));
                optional binary e (DECIMAL(18, 2));
                optional fixed_len_byte_array(9) f (DECIMAL(20, 2));
                optional int64 g (DECIMAL(18, 2));
                optional binary s (UTF8);
                optional int64 n;
            }",
            &["a", "b", "c", "d", "e", "f", "s", "n"],
        );
        let expected = [
            ("a", Some(DataType::Decimal64(18, 2))),
            ("b", Some(DataType::Decimal64(9, 0))),
            ("c", Some(DataType::Decimal64(18, 2))),
            // arrow-rs refuses these as `Decimal64`: they keep their type.
            ("d", None),
            ("e", None),
            // Wider than 18 digits, not named, not decimals.
            ("f", None),
            ("g", None),
            ("s", None),
            ("n", None),
        ];
        let expected: Vec<(String, Option<DataType>)> = expected
            .into_iter()
            .map(|(n, t)| (n.to_string(), t))
            .collect();
        assert_eq!(found, expected);
    }

    /// The lake's writer's files are read as `Decimal64` by arrow-rs itself: their metadata,
    /// once hinted, says so (a scan that only cast would give the same results).
    #[test]
    fn the_files_amounts_are_read_as_decimal64() {
        use datafusion::parquet::arrow::parquet_to_arrow_schema;
        use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), 1);
        let file = std::fs::File::open(dir.path().join("p=1/part.parquet")).unwrap();
        let metadata = Arc::new(SerializedFileReader::new(file).unwrap().metadata().clone());
        let hints = Decimal64Reads {
            columns: vec!["a".to_string(), "c".to_string()].into(),
        };
        let out = crate::read_hints::with_hints(Arc::clone(&metadata), &hints).unwrap();
        let file = out.file_metadata();
        let schema =
            parquet_to_arrow_schema(file.schema_descr(), file.key_value_metadata()).unwrap();
        let type_of = |c: &str| schema.field_with_name(c).unwrap().data_type().clone();
        assert_eq!(type_of("a"), DataType::Decimal64(18, 2));
        assert_eq!(type_of("b"), DataType::Decimal128(18, 2));
        assert_eq!(type_of("c"), DataType::Decimal128(20, 2));
        assert_eq!(type_of("k"), DataType::Utf8);
        assert_eq!(out.row_groups(), metadata.row_groups());
    }
}
