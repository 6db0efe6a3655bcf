//! A page's table as a download: `csv` (comma, dot decimal), `csv-fr` (semicolon, decimal
//! comma, UTF-8 with BOM: opens right in Excel), `json` (array of objects; amounts are numbers
//! with at most two decimals, exact below 10^13 euros) and `parquet` (amounts
//! `Decimal128(18, 2)`, the release's own type).

use std::sync::Arc;

use arrow::array::{ArrayRef, Decimal128Builder, Float64Builder, Int64Builder, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;

use crate::table::{Cell, Table};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    CsvFr,
    Json,
    Parquet,
}

impl Format {
    pub const ALL: [Format; 4] = [Format::CsvFr, Format::Csv, Format::Json, Format::Parquet];

    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "csv" => Some(Format::Csv),
            "csv-fr" => Some(Format::CsvFr),
            "json" => Some(Format::Json),
            "parquet" => Some(Format::Parquet),
            _ => None,
        }
    }

    pub fn param(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::CsvFr => "csv-fr",
            Format::Json => "json",
            Format::Parquet => "parquet",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Format::Csv => "CSV",
            Format::CsvFr => "CSV pour Excel (;)",
            Format::Json => "JSON",
            Format::Parquet => "Parquet",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv | Format::CsvFr => "text/csv; charset=utf-8",
            Format::Json => "application/json",
            Format::Parquet => "application/vnd.apache.parquet",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv | Format::CsvFr => "csv",
            Format::Json => "json",
            Format::Parquet => "parquet",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("export: {0}")]
pub struct ExportError(String);

pub fn export(t: &Table, f: Format) -> Result<Vec<u8>, ExportError> {
    match f {
        Format::Csv => csv(t, b',', false, Cell::plain),
        Format::CsvFr => csv(t, b';', true, Cell::csv_fr),
        Format::Json => json(t),
        Format::Parquet => parquet(t),
    }
}

fn csv(
    t: &Table,
    delimiter: u8,
    bom: bool,
    cell: fn(&Cell) -> String,
) -> Result<Vec<u8>, ExportError> {
    let mut out = Vec::new();
    if bom {
        out.extend_from_slice("\u{feff}".as_bytes());
    }
    let mut w = ::csv::WriterBuilder::new()
        .delimiter(delimiter)
        .from_writer(out);
    let e = |e: ::csv::Error| ExportError(e.to_string());
    w.write_record(t.columns.iter().map(|c| c.key.as_str()))
        .map_err(e)?;
    for row in &t.rows {
        w.write_record(row.iter().map(cell)).map_err(e)?;
    }
    w.into_inner().map_err(|e| ExportError(e.to_string()))
}

fn json(t: &Table) -> Result<Vec<u8>, ExportError> {
    use serde_json::Value;
    let rows: Vec<Value> = t
        .rows
        .iter()
        .map(|row| {
            let obj = t
                .columns
                .iter()
                .zip(row)
                .map(|(c, v)| {
                    let value = match v {
                        Cell::Text(s) => s.clone().map(Value::String).unwrap_or(Value::Null),
                        Cell::Int(i) => i.map(Value::from).unwrap_or(Value::Null),
                        // A decimal with two digits and at most 15 significant digits survives
                        // the trip through f64 and prints back identical.
                        Cell::Money(c) => c
                            .and_then(|c| {
                                v.plain()
                                    .parse::<f64>()
                                    .ok()
                                    .filter(|_| c.unsigned_abs() < 10u64.pow(15))
                            })
                            .map(Value::from)
                            .unwrap_or(match c {
                                Some(_) => Value::String(v.plain()),
                                None => Value::Null,
                            }),
                        Cell::Float(f, _, _) => f.map(Value::from).unwrap_or(Value::Null),
                    };
                    (c.key.clone(), value)
                })
                .collect::<serde_json::Map<_, _>>();
            Value::Object(obj)
        })
        .collect();
    serde_json::to_vec_pretty(&rows).map_err(|e| ExportError(e.to_string()))
}

fn parquet(t: &Table) -> Result<Vec<u8>, ExportError> {
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (ci, c) in t.columns.iter().enumerate() {
        let cells = t.rows.iter().map(|r| &r[ci]);
        // A column's type is the one all its cells share (absent values aside); a column
        // mixing kinds is written as text, so no value is lost.
        let kinds: Vec<std::mem::Discriminant<Cell>> = t
            .rows
            .iter()
            .map(|r| &r[ci])
            .filter(|c| !c.is_absent())
            .map(std::mem::discriminant)
            .collect();
        let uniform = kinds.windows(2).all(|w| w[0] == w[1]);
        let kind = t
            .rows
            .iter()
            .map(|r| &r[ci])
            .find(|c| !c.is_absent())
            .filter(|c| uniform && c.is_number());
        let (dt, array): (DataType, ArrayRef) = match kind {
            Some(Cell::Money(_)) => {
                let mut b = Decimal128Builder::new();
                for cell in cells {
                    b.append_option(match cell {
                        Cell::Money(v) => v.map(i128::from),
                        _ => None,
                    });
                }
                let a = b
                    .finish()
                    .with_precision_and_scale(18, 2)
                    .map_err(|e| ExportError(e.to_string()))?;
                (DataType::Decimal128(18, 2), Arc::new(a))
            }
            Some(Cell::Int(_)) => {
                let mut b = Int64Builder::new();
                for cell in cells {
                    b.append_option(match cell {
                        Cell::Int(v) => *v,
                        _ => None,
                    });
                }
                (DataType::Int64, Arc::new(b.finish()))
            }
            Some(Cell::Float(..)) => {
                let mut b = Float64Builder::new();
                for cell in cells {
                    b.append_option(match cell {
                        Cell::Float(v, _, _) => *v,
                        _ => None,
                    });
                }
                (DataType::Float64, Arc::new(b.finish()))
            }
            _ => {
                let mut b = StringBuilder::new();
                for cell in cells {
                    match cell {
                        c if c.is_absent() => b.append_null(),
                        other => b.append_value(other.plain()),
                    }
                }
                (DataType::Utf8, Arc::new(b.finish()))
            }
        };
        fields.push(Field::new(&c.key, dt, true));
        arrays.push(array);
    }
    let schema = Arc::new(Schema::new(fields));
    let batch =
        RecordBatch::try_new(schema.clone(), arrays).map_err(|e| ExportError(e.to_string()))?;
    let mut out = Vec::new();
    let mut w =
        ArrowWriter::try_new(&mut out, schema, None).map_err(|e| ExportError(e.to_string()))?;
    w.write(&batch).map_err(|e| ExportError(e.to_string()))?;
    w.close().map_err(|e| ExportError(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        let mut t = Table::new("t", "t")
            .column("code", "Code")
            .column("montant", "Montant")
            .column("taux", "Taux");
        t.rows.push(vec![
            Cell::text("2A004"),
            Cell::Money(Some(156_673_872)),
            Cell::Float(Some(66.71), 2, "%"),
        ]);
        t.rows.push(vec![
            Cell::text("a;b\"c"),
            Cell::Money(None),
            Cell::Float(None, 2, "%"),
        ]);
        t
    }

    #[test]
    fn csv_fr_has_bom_semicolons_and_decimal_commas() {
        let out = String::from_utf8(export(&sample(), Format::CsvFr).unwrap()).unwrap();
        assert_eq!(
            out,
            "\u{feff}code;montant;taux\n2A004;1566738,72;66,71\n\"a;b\"\"c\";;\n"
        );
        let plain = String::from_utf8(export(&sample(), Format::Csv).unwrap()).unwrap();
        assert_eq!(
            plain,
            "code,montant,taux\n2A004,1566738.72,66.71\na;b\"c,,\n"
                .replace("a;b\"c", "\"a;b\"\"c\"")
        );
    }

    #[test]
    fn json_amounts_are_exact_numbers() {
        let v: serde_json::Value =
            serde_json::from_slice(&export(&sample(), Format::Json).unwrap()).unwrap();
        assert_eq!(v[0]["montant"].to_string(), "1566738.72");
        assert_eq!(v[0]["code"], "2A004");
        assert!(v[1]["montant"].is_null());
    }

    #[test]
    fn a_column_mixing_kinds_is_written_as_text_not_nulls() {
        let mut t = Table::new("t", "t").column("k", "K").column("v", "V");
        t.rows
            .push(vec![Cell::text("population"), Cell::Int(Some(76_320))]);
        t.rows
            .push(vec![Cell::text("montant"), Cell::Money(Some(150))]);
        let bytes = bytes::Bytes::from(export(&t, Format::Parquet).unwrap());
        let b = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
            .unwrap()
            .build()
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(b.schema().field(1).data_type(), &DataType::Utf8);
        let v = b
            .column(1)
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .unwrap();
        assert_eq!((v.value(0), v.value(1)), ("76320", "1.50"));
    }

    #[test]
    fn parquet_amounts_are_decimals() {
        let bytes = bytes::Bytes::from(export(&sample(), Format::Parquet).unwrap());
        let mut r = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
            .unwrap()
            .build()
            .unwrap();
        let b = r.next().unwrap().unwrap();
        assert_eq!(
            b.schema().field(1).data_type(),
            &DataType::Decimal128(18, 2)
        );
        assert_eq!(b.num_rows(), 2);
    }
}
