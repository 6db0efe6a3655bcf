//! A workbook cell as read, before typing: numbers written without binary noise, Excel dates
//! (1900 and 1904 systems), errors kept as errors.

use std::borrow::Cow;

use calamine::{Data, DataRef};
use chrono::NaiveDateTime;
use oc_spec::ColumnType;

use crate::conform::ColumnPlan;

/// A cell as read, before typing.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Empty,
    /// Shared strings are borrowed from the workbook's table, not copied per cell.
    Text(Cow<'a, str>),
    Number(f64),
    Bool(bool),
    Date(NaiveDateTime),
    Error(String),
}

impl Value<'_> {
    pub(crate) fn is_blank(&self) -> bool {
        match self {
            Value::Empty => true,
            Value::Text(t) => t.trim().is_empty(),
            _ => false,
        }
    }

    /// The text shown in a header or a note.
    pub(crate) fn label(&self) -> String {
        match self {
            Value::Empty => String::new(),
            Value::Text(t) => t.trim().to_string(),
            Value::Number(n) => number_text(*n, '.'),
            Value::Bool(b) => b.to_string(),
            Value::Date(d) => d.format("%Y-%m-%d").to_string(),
            Value::Error(e) => e.clone(),
        }
    }

    /// The text handed to the column's typing: native numbers are written the way the column
    /// parses them (decimal mark), dates in the column's format, so nothing is re-guessed.
    pub(super) fn raw_for(&self, plan: &ColumnPlan) -> Result<Option<Cow<'_, str>>, String> {
        Ok(match self {
            Value::Empty => None,
            Value::Text(t) => Some(Cow::Borrowed(t.as_ref())),
            Value::Bool(b) => Some(Cow::Owned(b.to_string())),
            Value::Error(e) => return Err(format!("the cell holds the spreadsheet error {e}")),
            Value::Number(n) => {
                let mark = match plan.ty {
                    ColumnType::Decimal { .. } | ColumnType::Float64 => plan.number.decimal,
                    ColumnType::Int16 | ColumnType::Int32 | ColumnType::Int64 => {
                        plan.number.decimal
                    }
                    _ => '.',
                };
                if plan.ty == ColumnType::Code && n.fract() != 0.0 {
                    return Err(format!("the number {n} is not a code (it has decimals)"));
                }
                if plan.ty == ColumnType::Date {
                    return Err("a number where a date is expected (format the cell as a date, or declare the column as a number)".into());
                }
                if let ColumnType::Decimal { scale, .. } = plan.ty
                    && let Some(t) = scaled_text(*n, scale, mark)
                {
                    return Ok(Some(Cow::Owned(t)));
                }
                Some(Cow::Owned(number_text(*n, mark)))
            }
            Value::Date(d) => match plan.ty {
                ColumnType::Date => Some(Cow::Owned(d.format(&plan.date_format).to_string())),
                ColumnType::String | ColumnType::Code => {
                    Some(Cow::Owned(d.format("%Y-%m-%d").to_string()))
                }
                _ => return Err("a date where a number is expected".into()),
            },
        })
    }
}

/// Shortest text that reads back as the same float; integers without a decimal part
/// (a SIREN stored as 200068807.0 → `200068807`).
pub(super) fn number_text(n: f64, mark: char) -> String {
    if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
        return format!("{}", n as i64);
    }
    let s = format!("{n}");
    if mark == '.' {
        s
    } else {
        s.replace('.', &mark.to_string())
    }
}

/// `n` with exactly `scale` decimals, by integer formatting (no shortest-float printing),
/// when a decimal of at most `scale` digits reads back as `n`. Below 2^52 units of the last
/// digit that decimal is unique, so it is the value [`number_text`] would give; otherwise None.
pub(super) fn scaled_text(n: f64, scale: i8, mark: char) -> Option<String> {
    if !(0..=15).contains(&scale) {
        return None;
    }
    let unit = 10f64.powi(i32::from(scale));
    let r = (n * unit).round();
    // (NaN fails the second test: NaN != NaN)
    if r.abs() >= 4.5e15 || r / unit != n {
        return None;
    }
    let r = r as i64;
    let digits = r.unsigned_abs().to_string();
    let s = scale as usize;
    let mut out = String::with_capacity(digits.len() + s + 3);
    if r < 0 {
        out.push('-');
    }
    if s == 0 {
        out.push_str(&digits);
    } else if digits.len() <= s {
        out.push('0');
        out.push(mark);
        out.extend(std::iter::repeat_n('0', s - digits.len()));
        out.push_str(&digits);
    } else {
        let (int, frac) = digits.split_at(digits.len() - s);
        out.push_str(int);
        out.push(mark);
        out.push_str(frac);
    }
    Some(out)
}

pub(super) fn from_data(d: &Data) -> Value<'static> {
    match d {
        Data::Empty => Value::Empty,
        Data::String(s) => Value::Text(Cow::Owned(s.clone())),
        Data::Float(f) => Value::Number(*f),
        Data::Int(i) => Value::Number(*i as f64),
        Data::Bool(b) => Value::Bool(*b),
        Data::DateTime(dt) => excel_date(dt),
        Data::DateTimeIso(s) => iso_date(s),
        Data::DurationIso(s) => Value::Text(Cow::Owned(s.clone())),
        Data::Error(e) => Value::Error(e.to_string()),
    }
}

pub(super) fn from_ref<'a>(d: &DataRef<'a>) -> Value<'a> {
    match d {
        DataRef::Empty => Value::Empty,
        DataRef::String(s) => Value::Text(Cow::Owned(s.clone())),
        DataRef::SharedString(s) => Value::Text(Cow::Borrowed(*s)),
        DataRef::Float(f) => Value::Number(*f),
        DataRef::Int(i) => Value::Number(*i as f64),
        DataRef::Bool(b) => Value::Bool(*b),
        DataRef::DateTime(dt) => excel_date(dt),
        DataRef::DateTimeIso(s) => iso_date(s),
        DataRef::DurationIso(s) => Value::Text(Cow::Owned(s.clone())),
        DataRef::Error(e) => Value::Error(e.to_string()),
    }
}

/// An Excel serial date (1900 or 1904 system, as the workbook says) as a date and time;
/// a duration stays a number.
pub(super) fn excel_date(dt: &calamine::ExcelDateTime) -> Value<'static> {
    if !dt.is_datetime() {
        return Value::Number(dt.as_f64());
    }
    let (y, mo, d, h, mi, s, ms) = dt.to_ymd_hms_milli();
    chrono::NaiveDate::from_ymd_opt(i32::from(y), u32::from(mo), u32::from(d))
        .and_then(|day| {
            day.and_hms_milli_opt(u32::from(h), u32::from(mi), u32::from(s), u32::from(ms))
        })
        .map(Value::Date)
        .unwrap_or(Value::Number(dt.as_f64()))
}

pub(super) fn iso_date(s: &str) -> Value<'static> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
        })
        .map(Value::Date)
        .unwrap_or_else(|_| Value::Text(Cow::Owned(s.to_string())))
}
