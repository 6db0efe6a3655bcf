//! The output's columns against the table's: what changed (added, missing, retyped), which
//! retypings are lossless widenings, and batches cast to the types Delta stores.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// What to do when a run's columns differ from the rows the table keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SchemaChange {
    #[default]
    Fail,
    /// Add new columns (nullable); missing ones are written as NULL; retyped ones still fail.
    Evolve,
}

/// Old vs new columns, for messages.
pub struct SchemaDiff {
    pub added: Vec<String>,
    pub missing: Vec<String>,
    pub retyped: Vec<String>,
}

impl SchemaDiff {
    pub fn new(old: &SchemaRef, new: &SchemaRef) -> Self {
        let mut d = SchemaDiff {
            added: vec![],
            missing: vec![],
            retyped: vec![],
        };
        for f in new.fields() {
            match old.field_with_name(f.name()) {
                Err(_) => d.added.push(format!("{} {}", f.name(), f.data_type())),
                Ok(o) if o.data_type() != f.data_type() => d.retyped.push(format!(
                    "{} {} → {}",
                    f.name(),
                    o.data_type(),
                    f.data_type()
                )),
                Ok(_) => {}
            }
        }
        for f in old.fields() {
            if new.field_with_name(f.name()).is_err() {
                d.missing.push(format!("{} {}", f.name(), f.data_type()));
            }
        }
        d
    }
}

impl SchemaDiff {
    /// Retyped columns whose change is not a lossless widening.
    pub fn narrowed(&self, old: &SchemaRef, new: &SchemaRef) -> Vec<String> {
        new.fields()
            .iter()
            .filter_map(|f| {
                let o = old.field_with_name(f.name()).ok()?;
                (o.data_type() != f.data_type() && !is_widening(o.data_type(), f.data_type()))
                    .then(|| f.name().clone())
            })
            .collect()
    }
}

/// Type changes that keep every old value exactly.
pub fn is_widening(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    match (from, to) {
        (Int8, Int16 | Int32 | Int64) | (Int16, Int32 | Int64) | (Int32, Int64) => true,
        (Float32, Float64) => true,
        (Decimal128(p1, s1), Decimal128(p2, s2)) => s1 == s2 && p2 > p1,
        _ => false,
    }
}

impl std::fmt::Display for SchemaDiff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |v: &Vec<String>| {
            if v.is_empty() {
                "-".to_string()
            } else {
                v.join(", ")
            }
        };
        write!(
            f,
            "  added:   {}\n  missing: {}\n  retyped: {}",
            list(&self.added),
            list(&self.missing),
            list(&self.retyped)
        )
    }
}

/// The schema as Delta stores it: views and large variants of strings and binaries become
/// plain ones, timestamps are microseconds (UTC when zoned). Comparing and writing in this
/// form keeps a table's schema stable whatever DataFusion produced.
pub fn delta_schema_of(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            Field::new(f.name(), delta_type(f.data_type()), true)
                .with_metadata(f.metadata().clone())
        })
        .collect();
    Arc::new(Schema::new(fields))
}

fn delta_type(t: &DataType) -> DataType {
    match t {
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        DataType::BinaryView | DataType::LargeBinary => DataType::Binary,
        DataType::Timestamp(_, Some(_)) => {
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        }
        DataType::Timestamp(_, None) => DataType::Timestamp(TimeUnit::Microsecond, None),
        DataType::Dictionary(_, v) => delta_type(v),
        other => other.clone(),
    }
}

pub(super) fn conform_batch(
    batch: &RecordBatch,
    schema: &SchemaRef,
) -> Result<RecordBatch, arrow::error::ArrowError> {
    let cols = schema
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            Some(c) if c.data_type() == f.data_type() => Ok(c.clone()),
            Some(c) => cast(c, f.data_type()),
            None => Ok(arrow::array::new_null_array(
                f.data_type(),
                batch.num_rows(),
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(schema.clone(), cols)
}

pub(super) fn same_columns(a: &SchemaRef, b: &SchemaRef) -> bool {
    a.fields().len() == b.fields().len()
        && a.fields()
            .iter()
            .zip(b.fields())
            .all(|(x, y)| x.name() == y.name() && x.data_type() == y.data_type())
}

pub fn describe(s: &SchemaRef) -> String {
    s.fields()
        .iter()
        .map(|f| format!("{} {}", f.name(), f.data_type()))
        .collect::<Vec<_>>()
        .join(", ")
}
