//! Typing of source cells into Arrow columns, one declared column at a time.
//!
//! A row is appended only when every cell converts; otherwise the whole row is rejected with
//! the first failing column and its raw value, so nothing is lost or half-written.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::builder::NullBufferBuilder;
use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int16Array, Int32Array,
    Int64Array, StringArray,
};
use arrow::buffer::{BooleanBuffer, Buffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use chrono::NaiveDate;
use oc_spec::ColumnType;

use crate::number::{NumberFormat, parse_decimal, parse_f64, parse_i64};

/// Markers read as NULL in typed (non-text) columns unless the pipeline says otherwise.
pub const DEFAULT_NULL_VALUES: &[&str] = &[
    "", "n.c", "n.c.", "nc", "nd", "n.d", "n.d.", "-", "s", "NA", "N/A",
];

/// How one output column is typed.
#[derive(Debug, Clone)]
pub struct ColumnPlan {
    pub name: String,
    pub ty: ColumnType,
    pub width: Option<u8>,
    pub date_format: String,
    /// Values that mean NULL. For text columns, only the empty string by default. Set with
    /// [`ColumnPlan::set_null_values`], which keeps `digit_led_null` true to them.
    null_values: Vec<String>,
    /// Whether a marker starts with a digit. Without one, a cell that starts with a digit (most
    /// numbers) is known not to be NULL without comparing it to every marker.
    digit_led_null: bool,
    pub number: NumberFormat,
    /// A `<column>_status` column: keeps the placeholder of its value column (`s`, `n.d.`),
    /// NULL when the cell holds a value or is empty.
    pub status_of: bool,
}

impl ColumnPlan {
    pub fn new(name: &str, ty: ColumnType, number: NumberFormat) -> Self {
        let null_values = if ty.is_text() {
            vec![String::new()]
        } else {
            DEFAULT_NULL_VALUES.iter().map(|s| s.to_string()).collect()
        };
        let mut plan = Self {
            name: name.to_string(),
            ty,
            width: None,
            date_format: "%Y-%m-%d".to_string(),
            null_values: Vec::new(),
            digit_led_null: false,
            number,
            status_of: false,
        };
        plan.set_null_values(null_values);
        plan
    }

    pub fn set_null_values(&mut self, markers: Vec<String>) {
        self.digit_led_null = markers
            .iter()
            .any(|m| m.starts_with(|c: char| c.is_ascii_digit()));
        self.null_values = markers;
    }

    /// The `<name>_status` companion of a typed column (same null markers).
    pub fn status(&self) -> Self {
        Self {
            name: format!("{}_status", self.name),
            ty: ColumnType::String,
            width: None,
            date_format: String::new(),
            null_values: self.null_values.clone(),
            digit_led_null: self.digit_led_null,
            number: self.number,
            status_of: true,
        }
    }

    pub fn data_type(&self) -> DataType {
        arrow_type(self.ty)
    }

    /// Whether the trimmed cell `t` is NULL.
    #[inline]
    fn is_null(&self, t: &str) -> bool {
        // An empty cell is NULL whatever the declared markers (they add to it, not replace it).
        match t.as_bytes().first() {
            None => true,
            Some(b) if b.is_ascii_digit() && !self.digit_led_null => false,
            Some(_) => self.null_values.iter().any(|n| n.eq_ignore_ascii_case(t)),
        }
    }

    /// Converts one raw cell; text is borrowed from it. `Err` carries the reason shown in
    /// `_ops.rejects`.
    #[inline]
    pub fn convert<'a>(&self, raw: Option<&'a str>) -> Result<Cell<'a>, String> {
        let Some(raw) = raw else {
            return Ok(Cell::Null);
        };
        let t = trim(raw);
        if self.status_of {
            return Ok(if !t.is_empty() && self.is_null(t) {
                Cell::Text(Cow::Borrowed(t))
            } else {
                Cell::Null
            });
        }
        if self.is_null(t) {
            return Ok(Cell::Null);
        }
        Ok(match self.ty {
            ColumnType::String => Cell::Text(Cow::Borrowed(raw)),
            ColumnType::Code => self.code(t)?,
            ColumnType::Int16 => {
                let v = parse_i64(raw, self.number)?;
                i16::try_from(v).map_err(|_| "out of range for int16".to_string())?;
                Cell::I64(v)
            }
            ColumnType::Int32 => {
                let v = parse_i64(raw, self.number)?;
                i32::try_from(v).map_err(|_| "out of range for int32".to_string())?;
                Cell::I64(v)
            }
            ColumnType::Int64 => Cell::I64(parse_i64(raw, self.number)?),
            ColumnType::Float64 => Cell::F64(parse_f64(raw, self.number)?),
            ColumnType::Decimal { precision, scale } => {
                Cell::Dec(parse_decimal(raw, self.number, precision, scale)?)
            }
            ColumnType::Bool => Cell::Bool(parse_bool(raw)?),
            ColumnType::Date => {
                let d = NaiveDate::parse_from_str(raw.trim(), &self.date_format)
                    .map_err(|_| format!("not a date in format {}", self.date_format))?;
                Cell::Date(
                    d.signed_duration_since(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
                        .num_days() as i32,
                )
            }
        })
    }

    /// A code cell from its trimmed text, left-padded with zeros to `width` when all digits.
    #[inline]
    fn code<'a>(&self, code: &'a str) -> Result<Cell<'a>, String> {
        let Some(width) = self.width.map(usize::from) else {
            return Ok(Cell::Text(Cow::Borrowed(code)));
        };
        let len = if code.is_ascii() {
            code.len()
        } else {
            code.chars().count()
        };
        if len > width {
            return Err(format!("code longer than its declared width {width}"));
        }
        if len < width && code.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Cell::Padded((width - len) as u8, code));
        }
        Ok(Cell::Text(Cow::Borrowed(code)))
    }
}

/// `str::trim`, with the usual case (no space at either end) decided on two bytes.
#[inline]
fn trim(raw: &str) -> &str {
    match (raw.as_bytes().first(), raw.as_bytes().last()) {
        (Some(a), Some(z)) if a.is_ascii_graphic() && z.is_ascii_graphic() => raw,
        _ => raw.trim(),
    }
}

pub fn arrow_type(ty: ColumnType) -> DataType {
    match ty {
        ColumnType::Code | ColumnType::String => DataType::Utf8,
        ColumnType::Int16 => DataType::Int16,
        ColumnType::Int32 => DataType::Int32,
        ColumnType::Int64 => DataType::Int64,
        ColumnType::Float64 => DataType::Float64,
        ColumnType::Decimal { precision, scale } => DataType::Decimal128(precision, scale),
        ColumnType::Bool => DataType::Boolean,
        ColumnType::Date => DataType::Date32,
    }
}

pub fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw.trim().to_lowercase().as_str() {
        "oui" | "o" | "1" | "true" | "vrai" | "yes" | "y" => Ok(true),
        "non" | "n" | "0" | "false" | "faux" | "no" => Ok(false),
        _ => Err("not a boolean (expected Oui/Non, 1/0 or true/false)".into()),
    }
}

/// A converted cell, borrowed from the source record where possible.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    Null,
    Text(Cow<'a, str>),
    /// A code shorter than its width: that many zeros, then the text (written straight into
    /// the column, where a padded copy would be two allocations per cell).
    Padded(u8, &'a str),
    I64(i64),
    F64(f64),
    Dec(i128),
    Bool(bool),
    Date(i32),
}

/// The values of one column of the batch being built, in plain vectors (arrow's builders
/// cannot take a value back): a row is written cell by cell as it converts, and the cells of
/// a rejected row are truncated away. A NULL holds a placeholder value (0, empty text).
enum Values {
    /// UTF-8 text: `offsets[i]..offsets[i + 1]` in `data` (offsets start with 0).
    Text {
        offsets: Vec<i32>,
        data: Vec<u8>,
    },
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    F64(Vec<f64>),
    Dec(Vec<i128>, u8, i8),
    Bool(Vec<bool>),
    Date(Vec<i32>),
}

/// A batch's text bytes (all columns) at which it is handed on before its rows are counted
/// up: arrow's `Utf8` offsets are `i32`, and a row adds at most one record (64 MiB).
/// (Small in tests, so that they cross it.)
const MAX_TEXT_BYTES: usize = if cfg!(test) { 1 << 16 } else { 1 << 30 };

struct Column {
    values: Values,
    nulls: NullBufferBuilder,
}

impl Column {
    fn new(ty: ColumnType, cap: usize) -> Self {
        let values = match ty {
            ColumnType::Code | ColumnType::String => {
                let mut offsets = Vec::with_capacity(cap + 1);
                offsets.push(0);
                Values::Text {
                    offsets,
                    data: Vec::with_capacity(cap * 8),
                }
            }
            ColumnType::Int16 => Values::I16(Vec::with_capacity(cap)),
            ColumnType::Int32 => Values::I32(Vec::with_capacity(cap)),
            ColumnType::Int64 => Values::I64(Vec::with_capacity(cap)),
            ColumnType::Float64 => Values::F64(Vec::with_capacity(cap)),
            ColumnType::Decimal { precision, scale } => {
                Values::Dec(Vec::with_capacity(cap), precision, scale)
            }
            ColumnType::Bool => Values::Bool(Vec::with_capacity(cap)),
            ColumnType::Date => Values::Date(Vec::with_capacity(cap)),
        };
        Self {
            values,
            nulls: NullBufferBuilder::new(cap),
        }
    }

    /// Appends `cell`, which was converted for this column's type; returns the text bytes
    /// it added.
    #[inline(always)]
    fn push(&mut self, cell: &Cell<'_>) -> usize {
        let mut text = 0;
        match (&mut self.values, cell) {
            (Values::Text { offsets, data }, Cell::Text(s)) => {
                data.extend_from_slice(s.as_bytes());
                offsets.push(text_offset(data));
                text = s.len();
            }
            (Values::Text { offsets, data }, Cell::Padded(zeros, s)) => {
                data.resize(data.len() + usize::from(*zeros), b'0');
                data.extend_from_slice(s.as_bytes());
                offsets.push(text_offset(data));
                text = usize::from(*zeros) + s.len();
            }
            (Values::I16(v), Cell::I64(x)) => v.push(*x as i16),
            (Values::I32(v), Cell::I64(x)) => v.push(*x as i32),
            (Values::I64(v), Cell::I64(x)) => v.push(*x),
            (Values::F64(v), Cell::F64(x)) => v.push(*x),
            (Values::Dec(v, ..), Cell::Dec(x)) => v.push(*x),
            (Values::Bool(v), Cell::Bool(x)) => v.push(*x),
            (Values::Date(v), Cell::Date(x)) => v.push(*x),
            (values, _) => {
                values.push_placeholder();
                self.nulls.append_null();
                return 0;
            }
        }
        self.nulls.append_non_null();
        text
    }

    fn truncate(&mut self, rows: usize) {
        self.nulls.truncate(rows);
        match &mut self.values {
            Values::Text { offsets, data } => {
                offsets.truncate(rows + 1);
                data.truncate(offsets[rows] as usize);
            }
            Values::I16(v) => v.truncate(rows),
            Values::I32(v) | Values::Date(v) => v.truncate(rows),
            Values::I64(v) => v.truncate(rows),
            Values::F64(v) => v.truncate(rows),
            Values::Dec(v, ..) => v.truncate(rows),
            Values::Bool(v) => v.truncate(rows),
        }
    }

    fn text_bytes(&self) -> usize {
        match &self.values {
            Values::Text { data, .. } => data.len(),
            _ => 0,
        }
    }

    fn finish(self) -> ArrayRef {
        let Column { values, mut nulls } = self;
        let nulls = nulls.finish();
        match values {
            Values::Text { offsets, data } => Arc::new(
                StringArray::try_new(
                    OffsetBuffer::new(ScalarBuffer::from(offsets)),
                    Buffer::from_vec(data),
                    nulls,
                )
                .expect("text cells are whole UTF-8 strings"),
            ),
            Values::I16(v) => Arc::new(Int16Array::new(v.into(), nulls)),
            Values::I32(v) => Arc::new(Int32Array::new(v.into(), nulls)),
            Values::I64(v) => Arc::new(Int64Array::new(v.into(), nulls)),
            Values::F64(v) => Arc::new(Float64Array::new(v.into(), nulls)),
            Values::Dec(v, p, s) => Arc::new(
                Decimal128Array::new(v.into(), nulls)
                    .with_precision_and_scale(p, s)
                    .expect("precision and scale were validated by the spec"),
            ),
            Values::Bool(v) => Arc::new(BooleanArray::new(BooleanBuffer::from(v), nulls)),
            Values::Date(v) => Arc::new(Date32Array::new(v.into(), nulls)),
        }
    }
}

impl Values {
    fn push_placeholder(&mut self) {
        match self {
            Values::Text { offsets, data } => offsets.push(text_offset(data)),
            Values::I16(v) => v.push(0),
            Values::I32(v) | Values::Date(v) => v.push(0),
            Values::I64(v) => v.push(0),
            Values::F64(v) => v.push(0.0),
            Values::Dec(v, ..) => v.push(0),
            Values::Bool(v) => v.push(false),
        }
    }
}

/// The end of a text column's data as an arrow offset; [`MAX_TEXT_BYTES`] keeps it in range
/// (a batch is handed on once its text passes it, and one row adds at most a record).
#[inline]
fn text_offset(data: &[u8]) -> i32 {
    i32::try_from(data.len()).expect("a batch's text stays under 2 GiB (MAX_TEXT_BYTES)")
}

/// Accumulates conformed rows into record batches of the declared schema. A row is written
/// one cell at a time ([`BatchBuilder::push`]), then either ended
/// ([`BatchBuilder::end_row`]) or taken back ([`BatchBuilder::drop_row`]).
pub struct BatchBuilder {
    schema: SchemaRef,
    columns: Vec<Column>,
    rows: usize,
    /// Text bytes of all columns (see [`MAX_TEXT_BYTES`]).
    text_bytes: usize,
    capacity: usize,
    plans: Vec<ColumnType>,
}

impl BatchBuilder {
    pub fn new(plans: &[ColumnPlan], capacity: usize) -> Self {
        let types: Vec<ColumnType> = plans.iter().map(|p| p.ty).collect();
        Self {
            schema: schema_of(plans),
            columns: Self::columns(&types, capacity),
            rows: 0,
            text_bytes: 0,
            capacity,
            plans: types,
        }
    }

    fn columns(types: &[ColumnType], capacity: usize) -> Vec<Column> {
        types.iter().map(|t| Column::new(*t, capacity)).collect()
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Appends the current row's cell of column `i`.
    #[inline(always)]
    pub fn push(&mut self, i: usize, cell: &Cell<'_>) {
        self.text_bytes += self.columns[i].push(cell);
    }

    /// Ends the current row: every column has its cell.
    #[inline]
    pub fn end_row(&mut self) {
        self.rows += 1;
    }

    /// Ends `n` rows written column by column: every column has their cells.
    pub fn end_rows(&mut self, n: usize) {
        debug_assert!(self.columns.iter().all(|c| c.nulls.len() == self.rows + n));
        self.rows += n;
    }

    /// Rows that still fit in the batch (at least one).
    pub fn room(&self) -> usize {
        self.capacity.saturating_sub(self.rows).max(1)
    }

    /// Takes back the cells the current row (or rows) has so far (it was rejected).
    pub fn drop_row(&mut self) {
        for c in &mut self.columns {
            c.truncate(self.rows);
        }
        self.text_bytes = self.columns.iter().map(Column::text_bytes).sum();
    }

    /// A whole row at once.
    #[cfg(test)]
    pub fn append(&mut self, cells: &[Cell<'_>]) {
        debug_assert_eq!(cells.len(), self.columns.len());
        for (i, c) in cells.iter().enumerate() {
            self.push(i, c);
        }
        self.end_row();
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Whether the batch should be handed on: its rows, or a column's text bytes.
    pub fn is_full(&self) -> bool {
        self.rows >= self.capacity || self.text_bytes >= MAX_TEXT_BYTES
    }

    /// The rows appended so far as a batch; the builder is empty afterwards.
    pub fn finish(&mut self) -> RecordBatch {
        let fresh = Self::columns(&self.plans, self.capacity);
        let cols: Vec<ArrayRef> = std::mem::replace(&mut self.columns, fresh)
            .into_iter()
            .map(Column::finish)
            .collect();
        let rows = self.rows;
        self.rows = 0;
        self.text_bytes = 0;
        // (the row count keeps a batch without columns valid: a pipeline of `sql:` columns only)
        let options = arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(rows));
        RecordBatch::try_new_with_options(self.schema.clone(), cols, &options)
            .expect("builders follow the schema")
    }
}

pub fn schema_of(plans: &[ColumnPlan]) -> SchemaRef {
    Arc::new(Schema::new(
        plans
            .iter()
            .map(|p| Field::new(&p.name, p.data_type(), true))
            .collect::<Vec<_>>(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Decimal128Type, Int16Type};

    fn plan(ty: &str) -> ColumnPlan {
        ColumnPlan::new("c", ty.parse().unwrap(), NumberFormat::french())
    }

    fn conv<'a>(p: &ColumnPlan, raw: &'a str) -> Result<Cell<'a>, String> {
        p.convert(Some(raw))
    }

    #[test]
    fn codes_keep_leading_zeros_and_pad_to_width() {
        let mut p = plan("code");
        assert_eq!(conv(&p, "01001"), Ok(Cell::Text("01001".into())));
        p.width = Some(5);
        assert_eq!(conv(&p, "1001"), Ok(Cell::Padded(1, "1001")));
        assert_eq!(conv(&p, " 7\t"), Ok(Cell::Padded(4, "7")));
        assert_eq!(conv(&p, " 2A004 "), Ok(Cell::Text("2A004".into())));
        assert_eq!(conv(&p, "2A4"), Ok(Cell::Text("2A4".into())));
        assert!(conv(&p, "123456").unwrap_err().contains("width 5"));
        assert_eq!(conv(&p, ""), Ok(Cell::Null));
        // A placeholder is not NULL in a code column: `s` or `-` could be real codes.
        assert_eq!(conv(&p, "-"), Ok(Cell::Text("-".into())));
    }

    /// Issue 20: a code column keeps any text as written (trimmed); with a width, digits lose
    /// no leading zero (a code stored as a number gets its zeros back) and a longer code is
    /// refused, never cut.
    mod code_properties {
        use super::*;
        use proptest::prelude::*;

        fn text(c: Cell<'_>) -> Option<String> {
            match c {
                Cell::Null => None,
                Cell::Text(t) => Some(t.into_owned()),
                Cell::Padded(n, t) => Some(format!("{}{t}", "0".repeat(n.into()))),
                other => panic!("not text: {other:?}"),
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

            #[test]
            fn any_text_is_kept_or_refused_for_its_width(raw in "\\PC{0,12}", width in 1u8..=15) {
                let mut p = plan("code");
                let t = raw.trim();
                prop_assert_eq!(
                    text(conv(&p, &raw).unwrap()),
                    (!t.is_empty()).then(|| t.to_string())
                );
                p.width = Some(width);
                let len = t.chars().count();
                match conv(&p, &raw) {
                    Err(e) => prop_assert!(len > usize::from(width), "{}", e),
                    Ok(c) => {
                        prop_assert!(len <= usize::from(width));
                        let out = text(c);
                        if t.is_empty() {
                            prop_assert_eq!(out, None);
                        } else if t.bytes().all(|b| b.is_ascii_digit()) {
                            let out = out.unwrap();
                            prop_assert_eq!(out.len(), usize::from(width));
                            prop_assert!(out.ends_with(t));
                            prop_assert!(out[..out.len() - t.len()].bytes().all(|b| b == b'0'));
                        } else {
                            prop_assert_eq!(out.as_deref(), Some(t));
                        }
                    }
                }
            }

            #[test]
            fn a_code_stored_as_a_number_gets_its_zeros_back(code in "[0-9]{5}|[0-9]{9}") {
                let mut p = plan("code");
                p.width = Some(code.len() as u8);
                let number = code.trim_start_matches('0');
                let out = if number.is_empty() { "0" } else { number };
                prop_assert_eq!(text(conv(&p, out).unwrap()), Some(code));
            }
        }
    }

    #[test]
    fn placeholders_are_null_in_typed_columns() {
        let p = plan("decimal(18,2)");
        for m in ["", "n.c", "nd", "n.d", "N.D.", "-", "s", " s "] {
            assert_eq!(conv(&p, m), Ok(Cell::Null), "{m:?}");
        }
        assert_eq!(conv(&p, "1 234,5"), Ok(Cell::Dec(123450)));
        let mut custom = plan("int32");
        custom.set_null_values(vec!["///".into()]);
        assert_eq!(conv(&custom, "///"), Ok(Cell::Null));
        assert!(conv(&custom, "nd").is_err());
        // A marker may start with a digit: then digit-led cells are compared to it too.
        custom.set_null_values(vec!["9999".into()]);
        assert_eq!(conv(&custom, "9999 "), Ok(Cell::Null));
        assert_eq!(conv(&custom, "999"), Ok(Cell::I64(999)));
    }

    #[test]
    fn booleans_in_french_and_english() {
        let p = plan("bool");
        for (s, v) in [
            ("Oui", true),
            ("NON", false),
            ("oui", true),
            ("1", true),
            ("0", false),
            ("true", true),
            ("False", false),
        ] {
            assert_eq!(conv(&p, s), Ok(Cell::Bool(v)), "{s}");
        }
        assert!(conv(&p, "peut-être").is_err());
    }

    #[test]
    fn dates_with_a_declared_format() {
        let mut p = plan("date");
        assert_eq!(conv(&p, "1970-01-02"), Ok(Cell::Date(1)));
        p.date_format = "%d/%m/%Y".into();
        assert_eq!(conv(&p, "01/01/2024"), Ok(Cell::Date(19723)));
        assert!(conv(&p, "2024-01-01").is_err());
    }

    #[test]
    fn int_ranges_are_checked() {
        assert!(conv(&plan("int16"), "40000").unwrap_err().contains("int16"));
        assert_eq!(conv(&plan("int16"), "2024"), Ok(Cell::I64(2024)));
    }

    #[test]
    fn builds_typed_batches() {
        let plans = vec![
            ColumnPlan::new("exer", "int16".parse().unwrap(), NumberFormat::french()),
            ColumnPlan::new(
                "sd",
                "decimal(18,2)".parse().unwrap(),
                NumberFormat::french(),
            ),
        ];
        let mut b = BatchBuilder::new(&plans, 4);
        b.append(&[Cell::I64(2024), Cell::Dec(9697123)]);
        b.append(&[Cell::Null, Cell::Null]);
        let batch = b.finish();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.column(0).as_primitive::<Int16Type>().value(0), 2024);
        let sd = batch.column(1).as_primitive::<Decimal128Type>();
        assert_eq!(sd.data_type(), &DataType::Decimal128(18, 2));
        assert_eq!(sd.value(0), 9697123);
        assert!(sd.is_null(1));
        assert!(b.is_empty());
    }

    /// A rejected row's cells are taken back from the columns before the failing one, nulls
    /// included, and the rows around it keep theirs.
    #[test]
    fn a_row_taken_back_leaves_no_cell() {
        let plans = vec![
            plan("code"),
            plan("int32"),
            plan("decimal(18,2)"),
            plan("bool"),
        ];
        let mut b = BatchBuilder::new(&plans, 8);
        b.append(&[
            Cell::Text("01001".into()),
            Cell::Null,
            Cell::Dec(5),
            Cell::Bool(true),
        ]);
        b.push(0, &Cell::Padded(2, "7"));
        b.push(1, &Cell::I64(3));
        b.push(2, &Cell::Null);
        b.drop_row();
        b.push(0, &Cell::Null);
        b.drop_row();
        b.append(&[
            Cell::Text("2A004".into()),
            Cell::I64(9),
            Cell::Null,
            Cell::Null,
        ]);
        let batch = b.finish();
        assert_eq!(batch.num_rows(), 2);
        let codes = batch.column(0).as_string::<i32>();
        assert_eq!((codes.value(0), codes.value(1)), ("01001", "2A004"));
        assert_eq!(codes.value_data(), b"010012A004");
        let ints = batch
            .column(1)
            .as_primitive::<arrow::datatypes::Int32Type>();
        assert!(ints.is_null(0));
        assert_eq!(ints.value(1), 9);
        let dec = batch.column(2).as_primitive::<Decimal128Type>();
        assert_eq!((dec.value(0), dec.is_null(1)), (5, true));
        let flags = batch.column(3).as_boolean();
        assert!(flags.value(0) && flags.is_null(1));
    }

    /// A batch is handed on once its text comes to `MAX_TEXT_BYTES`, however few its rows:
    /// arrow's text offsets are 32-bit.
    #[test]
    fn a_batch_of_long_texts_is_handed_on_early() {
        let plans = vec![plan("text")];
        let mut b = BatchBuilder::new(&plans, 1000);
        let long = "é".repeat(5000);
        let mut rows = 0;
        while !b.is_full() {
            b.append(&[Cell::Text(long.as_str().into())]);
            rows += 1;
        }
        assert_eq!(rows, MAX_TEXT_BYTES.div_ceil(long.len()));
        let batch = b.finish();
        assert_eq!(batch.num_rows(), rows);
        assert!(
            batch
                .column(0)
                .as_string::<i32>()
                .iter()
                .all(|v| v == Some(&long))
        );
    }

    #[test]
    fn padded_codes_are_written_with_their_zeros() {
        let mut p = plan("code");
        p.width = Some(40);
        let mut b = BatchBuilder::new(std::slice::from_ref(&p), 4);
        for raw in ["1", "2A004", "", "12345"] {
            b.append(&[conv(&p, raw).unwrap()]);
        }
        let batch = b.finish();
        let codes = batch.column(0).as_string::<i32>();
        assert_eq!(codes.value(0), format!("{}1", "0".repeat(39)));
        assert_eq!(codes.value(1), "2A004");
        assert!(codes.is_null(2));
        assert_eq!(codes.value(3), format!("{}12345", "0".repeat(35)));
    }
}
