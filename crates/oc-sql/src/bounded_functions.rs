//! Functions whose result can be far larger than their arguments (`repeat('x', 2147483647)`,
//! `array_repeat(1, 2147483647)`, `lpad`, `range`, `replace` with a long replacement) or whose
//! time grows with the product of their arguments' lengths (`levenshtein`), each wrapped so
//! that a call whose result would pass [`MAX_VALUE_BYTES`] (or [`MAX_ELEMENTS`] elements, or
//! [`MAX_LEVENSHTEIN_CELLS`]) is an error before anything is allocated.
//!
//! Why here and not in the memory pool: DataFusion's pool counts what operators hold (hash
//! tables, sorts), not the arrays a function returns, and an allocation that fails aborts the
//! process. One such call in `opencoll serve` (16 GiB for `array_repeat(1, 2147483647)`) took
//! the whole machine's memory and the server with it, for every user. The bounds are far
//! above what a query of this domain makes (a padded code, a separator line).
//!
//! The checks take the largest argument of a batch against the largest count, so a batch may
//! be refused for a pair of rows that never meet; the error says which bound and what to do.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::kernels::cast;
use arrow::datatypes::{DataType, Int64Type, IntervalMonthDayNanoType, TimeUnit};
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err};
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::udf_eq::UdfEq;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature,
};
use datafusion::prelude::SessionContext;

/// Bytes of one value a function may make (a string, a list).
pub const MAX_VALUE_BYTES: usize = 64 << 20;
/// Elements of one list a function may make.
pub const MAX_ELEMENTS: usize = 8 << 20;
/// `levenshtein(a, b)` fills a table of `len(a) × len(b)` cells: 10⁸ is a fraction of a second.
pub const MAX_LEVENSHTEIN_CELLS: usize = 100_000_000;

/// The functions wrapped, by the name DataFusion registers them under.
const BOUNDED: [&str; 10] = [
    "repeat",
    "lpad",
    "rpad",
    "array_repeat",
    "array_resize",
    "range",
    "generate_series",
    "replace",
    "regexp_replace",
    "levenshtein",
];

/// Replaces, in `ctx`, each function of [`BOUNDED`] that it has by its bounded form.
pub fn register(ctx: &SessionContext) {
    for name in BOUNDED {
        if let Ok(inner) = ctx.udf(name) {
            ctx.register_udf(ScalarUDF::new_from_impl(Bounded {
                inner: Arc::clone(inner.inner()).into(),
            }));
        }
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Bounded {
    inner: UdfEq<Arc<dyn ScalarUDFImpl>>,
}

impl ScalarUDFImpl for Bounded {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        self.inner.schema_name(args)
    }
    fn signature(&self) -> &Signature {
        self.inner.signature()
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<arrow::datatypes::FieldRef> {
        self.inner.return_field_from_args(args)
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }
    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
    fn is_strict(&self) -> bool {
        self.inner.is_strict()
    }
    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        // A rewrite by the inner function would call it unbounded: keep our node around it.
        match self.inner.simplify(args, info)? {
            ExprSimplifyResult::Original(args) => Ok(ExprSimplifyResult::Original(args)),
            ExprSimplifyResult::Simplified(Expr::ScalarFunction(ScalarFunction { func, args }))
                if func.name() == self.name() =>
            {
                Ok(ExprSimplifyResult::Original(args))
            }
            simplified => Ok(simplified),
        }
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        check(self.name(), &args.args)?;
        self.inner.invoke_with_args(args)
    }
}

fn too_large(name: &str, what: String, hint: &str) -> DataFusionError {
    DataFusionError::Execution(format!(
        "{name}: {what}, more than a function may make in one value; {hint}"
    ))
}

/// Refuses a call whose result would pass the bounds.
fn check(name: &str, args: &[ColumnarValue]) -> Result<()> {
    let bytes_hint = "ask for a smaller count or length";
    let bound = |what: &str, n: u128, max: usize, hint: &str| -> Result<()> {
        if n > max as u128 {
            return Err(too_large(
                name,
                format!("{what} of {n} (the bound is {max})"),
                hint,
            ));
        }
        Ok(())
    };
    let arg = |i: usize| args.get(i);
    match name {
        "repeat" => {
            let (Some(s), Some(n)) = (arg(0), arg(1)) else {
                return Ok(());
            };
            let n = int_max(n)?.max(0) as u128;
            bound(
                "a string of bytes",
                n * max_len(s) as u128,
                MAX_VALUE_BYTES,
                bytes_hint,
            )
        }
        "lpad" | "rpad" => {
            let Some(n) = arg(1) else { return Ok(()) };
            // characters of up to 4 bytes
            let n = int_max(n)?.max(0) as u128;
            bound("a string of characters", n, MAX_VALUE_BYTES / 4, bytes_hint)
        }
        "array_repeat" | "array_resize" => {
            let (Some(e), Some(n)) = (arg(0), arg(1)) else {
                return Ok(());
            };
            let n = int_max(n)?.max(0) as u128;
            bound("a list of elements", n, MAX_ELEMENTS, bytes_hint)?;
            let each = if name == "array_repeat" {
                value_bytes(e)
            } else {
                element_bytes(e)
            };
            bound(
                "a list of bytes",
                n * each.max(1) as u128,
                MAX_VALUE_BYTES,
                bytes_hint,
            )
        }
        "range" | "generate_series" => bound(
            "a list of elements",
            series_len(args)?,
            MAX_ELEMENTS,
            "for rows rather than one list, use the table function: FROM generate_series(a, b)",
        ),
        "replace" | "regexp_replace" => {
            let (Some(s), Some(to)) = (arg(0), arg(2)) else {
                return Ok(());
            };
            let (s, to_len) = (max_len(s) as u128, max_len(to) as u128);
            // Each position of `s` may be a match (an empty pattern), replaced by `to`, in
            // which a regex's `$1` may bring back a match as long as `s`.
            let per_match = if name == "regexp_replace" && has_reference(to) {
                to_len * (s + 1)
            } else {
                to_len
            };
            bound(
                "a string of up to bytes",
                s + (s + 1) * per_match,
                MAX_VALUE_BYTES,
                "replace in shorter strings",
            )
        }
        "levenshtein" => {
            let (Some(a), Some(b)) = (arg(0), arg(1)) else {
                return Ok(());
            };
            bound(
                "a comparison of cells",
                max_len(a) as u128 * max_len(b) as u128,
                MAX_LEVENSHTEIN_CELLS,
                "compare shorter strings",
            )
        }
        _ => Ok(()),
    }
}

/// The largest integer of a count argument (0 when there is none or it is NULL).
fn int_max(v: &ColumnarValue) -> Result<i64> {
    Ok(match v {
        ColumnarValue::Scalar(s) => match s.cast_to(&DataType::Int64)? {
            ScalarValue::Int64(Some(n)) => n,
            _ => 0,
        },
        ColumnarValue::Array(a) => {
            let a = cast::cast(a, &DataType::Int64)?;
            arrow::compute::max(a.as_primitive::<Int64Type>()).unwrap_or(0)
        }
    })
}

/// The byte length of the longest string (or binary) of an argument; for other types, the
/// bytes of the largest value as [`value_bytes`] estimates them.
fn max_len(v: &ColumnarValue) -> usize {
    match v {
        ColumnarValue::Scalar(s) => match s {
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)) => s.len(),
            ScalarValue::Binary(Some(b))
            | ScalarValue::LargeBinary(Some(b))
            | ScalarValue::BinaryView(Some(b)) => b.len(),
            ScalarValue::Utf8(None)
            | ScalarValue::LargeUtf8(None)
            | ScalarValue::Utf8View(None) => 0,
            other => other.size(),
        },
        ColumnarValue::Array(a) => array_max_len(a),
    }
}

fn array_max_len(a: &ArrayRef) -> usize {
    let lengths: Box<dyn Iterator<Item = usize>> = match a.data_type() {
        DataType::Utf8 => Box::new(a.as_string::<i32>().iter().flatten().map(str::len)),
        DataType::LargeUtf8 => Box::new(a.as_string::<i64>().iter().flatten().map(str::len)),
        DataType::Utf8View => Box::new(a.as_string_view().iter().flatten().map(str::len)),
        DataType::Binary => Box::new(a.as_binary::<i32>().iter().flatten().map(<[u8]>::len)),
        DataType::LargeBinary => Box::new(a.as_binary::<i64>().iter().flatten().map(<[u8]>::len)),
        DataType::BinaryView => Box::new(a.as_binary_view().iter().flatten().map(<[u8]>::len)),
        _ => return per_row_bytes(a),
    };
    lengths.max().unwrap_or(0)
}

/// Bytes one row of `a` holds, on average (fixed-width values exactly).
fn per_row_bytes(a: &ArrayRef) -> usize {
    if let Some(w) = a.data_type().primitive_width() {
        return w;
    }
    a.get_array_memory_size() / a.len().max(1)
}

/// Bytes of one value of an argument repeated as a whole (`array_repeat`'s element).
fn value_bytes(v: &ColumnarValue) -> usize {
    match v {
        ColumnarValue::Scalar(s) => s
            .data_type()
            .primitive_width()
            .unwrap_or_else(|| max_len(v)),
        ColumnarValue::Array(a) => array_max_len(a),
    }
}

/// Bytes of one element of a list argument (`array_resize`'s list).
fn element_bytes(v: &ColumnarValue) -> usize {
    let list = match v {
        ColumnarValue::Scalar(s) => match s.to_array() {
            Ok(a) => a,
            Err(_) => return 1,
        },
        ColumnarValue::Array(a) => Arc::clone(a),
    };
    let values = match list.data_type() {
        DataType::List(_) => Arc::clone(list.as_list::<i32>().values()),
        DataType::LargeList(_) => Arc::clone(list.as_list::<i64>().values()),
        _ => return per_row_bytes(&list),
    };
    if values.is_empty() {
        values.data_type().primitive_width().unwrap_or(8)
    } else {
        array_max_len(&values)
    }
}

/// Whether a replacement may bring back what the pattern matched (`$1`, `${name}`, `\1`).
fn has_reference(to: &ColumnarValue) -> bool {
    match to {
        ColumnarValue::Scalar(s) => s.to_string().contains(['$', '\\']),
        ColumnarValue::Array(_) => true,
    }
}

/// Elements of `range(…)` / `generate_series(…)`: `(stop)` or `(start, stop[, step])`, on
/// integers, dates or timestamps (an interval step counted at its shortest: months of 28
/// days). 0 when a bound is NULL.
fn series_len(args: &[ColumnarValue]) -> Result<u128> {
    let (start, stop, step) = match args {
        [stop] => (None, stop, None),
        [start, stop] => (Some(start), stop, None),
        [start, stop, step, ..] => (Some(start), stop, Some(step)),
        [] => return Ok(0),
    };
    let temporal = matches!(
        stop.data_type(),
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(..)
    );
    // Integers as they are; dates and timestamps in nanoseconds.
    let target = if temporal {
        DataType::Timestamp(TimeUnit::Nanosecond, None)
    } else {
        DataType::Int64
    };
    let as_i64 = |v: &ColumnarValue, pick_max: bool| -> Result<Option<i64>> {
        let a = v.to_array(1)?;
        let a = cast::cast(&a, &target)?;
        let a = cast::cast(&a, &DataType::Int64)?;
        let a = a.as_primitive::<Int64Type>();
        Ok(if pick_max {
            arrow::compute::max(a)
        } else {
            arrow::compute::min(a)
        })
    };
    let (Some(lo), Some(hi)) = (
        start.map_or(Ok(Some(0)), |s| as_i64(s, false))?,
        as_i64(stop, true)?,
    ) else {
        return Ok(0);
    };
    let (lo_max, hi_min) = (
        start
            .map_or(Ok(Some(0)), |s| as_i64(s, true))?
            .unwrap_or(lo),
        as_i64(stop, false)?.unwrap_or(hi),
    );
    // The widest span either way (a negative step counts down).
    let span = (hi as i128 - lo as i128)
        .unsigned_abs()
        .max((hi_min as i128 - lo_max as i128).unsigned_abs());
    let step = match step {
        None => {
            if temporal {
                return exec_err!("a series of dates or timestamps needs a step");
            }
            1
        }
        Some(step) => smallest_step(step, temporal)?,
    };
    Ok(span / step.max(1) + 1)
}

/// The smallest absolute step of a step argument (an integer, or an interval in nanoseconds).
fn smallest_step(step: &ColumnarValue, temporal: bool) -> Result<u128> {
    let a = step.to_array(1)?;
    if !temporal {
        let a = cast::cast(&a, &DataType::Int64)?;
        let a = a.as_primitive::<Int64Type>();
        return Ok(a
            .iter()
            .flatten()
            .map(|s| (s as i128).unsigned_abs())
            .min()
            .unwrap_or(1));
    }
    let a = cast::cast(
        &a,
        &DataType::Interval(arrow::datatypes::IntervalUnit::MonthDayNano),
    )?;
    let a = a.as_primitive::<IntervalMonthDayNanoType>();
    const DAY: i128 = 86_400_000_000_000;
    Ok(a.iter()
        .flatten()
        .map(|i| {
            (i.months as i128 * 28 * DAY + i.days as i128 * DAY + i.nanoseconds as i128)
                .unsigned_abs()
        })
        .min()
        .unwrap_or(1))
}

#[cfg(test)]
mod tests {
    async fn error_of(sql: &str) -> String {
        let ctx = crate::session::new_context();
        match ctx.sql(sql).await {
            Err(e) => e.to_string(),
            Ok(df) => match df.collect().await {
                Err(e) => e.to_string(),
                Ok(b) => panic!("{sql} gave {} batches", b.len()),
            },
        }
    }

    async fn value_of(sql: &str) -> String {
        let ctx = crate::session::new_context();
        let b = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        arrow::util::pretty::pretty_format_batches(&b)
            .unwrap()
            .to_string()
            .lines()
            .nth(3)
            .unwrap()
            .to_string()
    }

    /// The calls that took a server's memory are refused before they allocate, with the
    /// bound and what to do; calls of ordinary sizes give the same values as DataFusion's.
    #[tokio::test]
    async fn results_past_the_bounds_are_refused_ordinary_calls_unchanged() {
        for (sql, says) in [
            (
                "SELECT cardinality(array_repeat(1, 2147483647))",
                "array_repeat: a list of elements of 2147483647 (the bound is 8388608)",
            ),
            (
                "SELECT length(lpad('x', 2147483647))",
                "lpad: a string of characters of 2147483647",
            ),
            (
                "SELECT length(rpad('x', 2147483647, 'yz'))",
                "rpad: a string of characters",
            ),
            (
                "SELECT length(repeat('x', 1000000000))",
                "repeat: a string of bytes of 1000000000",
            ),
            (
                "SELECT length(repeat('abcd', 20000000))",
                "repeat: a string of bytes of 80000000",
            ),
            (
                "SELECT cardinality(array_repeat(array_repeat(1, 100000), 1000))",
                "array_repeat: a list of bytes",
            ),
            (
                "SELECT cardinality(array_resize([1], 100000000))",
                "array_resize: a list of elements of 100000000",
            ),
            (
                "SELECT cardinality(range(0, 9223372036854775807))",
                "range: a list of elements",
            ),
            (
                "SELECT cardinality(generate_series(-5000000000, 5000000000))",
                "generate_series: a list of elements of 10000000001",
            ),
            (
                "SELECT cardinality(range(DATE '1900-01-01', DATE '2100-01-01', INTERVAL '1 second'))",
                "range: a list of elements",
            ),
            (
                "SELECT length(replace(repeat('a', 1000000), 'a', repeat('b', 1000)))",
                "replace: a string of up to bytes",
            ),
            (
                "SELECT length(regexp_replace(repeat('a', 100000), '', repeat('b', 1000), 'g'))",
                "regexp_replace: a string of up to bytes",
            ),
            (
                "SELECT length(regexp_replace(repeat('a', 10000), '(a*)', '$1$1', 'g'))",
                "regexp_replace: a string of up to bytes",
            ),
            (
                "SELECT levenshtein(repeat('a', 100000), repeat('b', 100000))",
                "levenshtein: a comparison of cells of 10000000000",
            ),
        ] {
            let e = error_of(sql).await;
            assert!(e.contains(says), "{sql}: {e}");
            assert!(
                e.contains("more than a function may make in one value"),
                "{e}"
            );
        }
        // a column of counts: the largest decides
        let e = error_of("SELECT repeat('x', n) FROM (VALUES (1), (100000000)) t(n)").await;
        assert!(e.contains("repeat: a string of bytes of 100000000"), "{e}");

        for (sql, value) in [
            ("SELECT lpad('1001', 5, '0')", "01001"),
            ("SELECT rpad('2A', 5, '_')", "2A___"),
            ("SELECT length(repeat('ab', 1000000))", "2000000"),
            ("SELECT cardinality(array_repeat('x', 1000))", "1000"),
            ("SELECT cardinality(array_resize([1, 2], 5))", "5"),
            ("SELECT cardinality(range(1, 1000001))", "1000000"),
            ("SELECT cardinality(generate_series(10, 1, -3))", "4"),
            (
                "SELECT cardinality(range(DATE '2024-01-01', DATE '2024-12-31', INTERVAL '1 day'))",
                "365",
            ),
            ("SELECT replace('2A004', 'A', '0')", "20004"),
            ("SELECT regexp_replace('01001', '^0+', '')", "1001"),
            (
                "SELECT regexp_replace('Saint-Étienne', '(\\w+)-(\\w+)', '$2 $1')",
                "Étienne Saint",
            ),
            ("SELECT levenshtein('Marseille', 'Marseile')", "1"),
        ] {
            let got = value_of(sql).await;
            assert!(got.contains(value), "{sql}: {got}");
        }
    }
}
