//! Answer formats: JSON (capped at `--json-rows`, decimals exact), CSV, Arrow IPC stream and
//! Parquet, chosen by `?format=` or `Accept`.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::DataFrame;
use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::ApiError;
use crate::State;
use crate::error::ServeError;
use crate::exec;

/// Rows as a JSON array of objects (`[]` when there are none).
fn json_array(batches: &[RecordBatch]) -> Result<Vec<u8>, String> {
    let mut w = arrow::json::ArrayWriter::new(Vec::new());
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    w.write_batches(&refs).map_err(|e| e.to_string())?;
    w.finish().map_err(|e| e.to_string())?;
    let bytes = w.into_inner();
    Ok(if bytes.is_empty() {
        b"[]".to_vec()
    } else {
        bytes
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
    Arrow,
    Parquet,
}

impl Format {
    const MEDIA: [(&'static str, Format); 6] = [
        ("application/json", Format::Json),
        ("text/csv", Format::Csv),
        ("application/vnd.apache.arrow.stream", Format::Arrow),
        ("application/vnd.apache.parquet", Format::Parquet),
        ("application/x-parquet", Format::Parquet),
        ("application/parquet", Format::Parquet),
    ];

    fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Arrow => "application/vnd.apache.arrow.stream",
            Format::Parquet => "application/vnd.apache.parquet",
        }
    }

    /// `?format=json|csv|arrow|parquet` wins; else the first known type of `Accept`; else JSON.
    pub(super) fn negotiate(
        headers: &HeaderMap,
        params: &[(String, String)],
    ) -> Result<Format, ApiError> {
        if let Some((_, f)) = params.iter().find(|(k, _)| k == "format") {
            return match f.as_str() {
                "json" => Ok(Format::Json),
                "csv" => Ok(Format::Csv),
                "arrow" => Ok(Format::Arrow),
                "parquet" => Ok(Format::Parquet),
                _ => Err(ApiError::bad("format: json, csv, arrow or parquet")),
            };
        }
        let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
            return Ok(Format::Json);
        };
        for part in accept.split(',') {
            let media = part
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if media == "*/*" || media == "application/*" || media.is_empty() {
                return Ok(Format::Json);
            }
            if let Some((_, f)) = Self::MEDIA.iter().find(|(m, _)| *m == media) {
                return Ok(*f);
            }
        }
        Err(ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "Accept: application/json, text/csv, application/vnd.apache.arrow.stream or application/vnd.apache.parquet",
        ))
    }
}

/// Runs the query under the limits and writes the answer in `format`.
pub(super) async fn answer(
    mut df: DataFrame,
    format: Format,
    st: &State,
    started: Instant,
) -> Result<Response, ApiError> {
    let max = st.limits.json_rows;
    // (an EXPLAIN must stay the plan's root, and is short)
    let explain = matches!(
        df.logical_plan(),
        LogicalPlan::Explain(_) | LogicalPlan::Analyze(_)
    );
    if format == Format::Json && !explain {
        // One row more than allowed tells whether the answer was cut.
        df = df.limit(0, Some(max + 1))?;
    }
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let stream = exec::stream(df, &st.limits, started).await?;
    // The answer is held until it is written: it counts against the query's memory limit,
    // as what its operators hold does (a 30-million-row CSV had taken 2.6 GB).
    let budget = st.limits.memory;
    let mut held = 0usize;
    let batches: Vec<RecordBatch> = stream
        .map(|b| b.map_err(|e| exec::stream_error(&e)))
        .and_then(|b| {
            // Strings viewed in larger buffers (a filter's output) keep only what they show.
            let b = compact_views(b);
            held += b.get_array_memory_size();
            futures::future::ready(if held > budget {
                Err(too_large(budget))
            } else {
                Ok(b)
            })
        })
        .try_collect()
        .await?;
    let body = match format {
        Format::Json => {
            let total: usize = batches.iter().map(|b| b.num_rows()).sum();
            let truncated = total > max;
            let batches = if truncated {
                let all =
                    arrow::compute::concat_batches(&schema, &batches).map_err(not_encodable)?;
                vec![all.slice(0, max)]
            } else {
                batches
            };
            let row_count: usize = batches.iter().map(|b| b.num_rows()).sum();
            let columns: Vec<Value> = schema
                .fields()
                .iter()
                .map(|f| json!({"name": f.name(), "type": f.data_type().to_string()}))
                .collect();
            let mut head = json!({
                "columns": columns,
                "row_count": row_count,
                "truncated": truncated,
            });
            if truncated {
                head["note"] = json!(format!(
                    "JSON answers stop at {max} rows: ask for text/csv, Arrow or Parquet for every row, or page with limit/offset"
                ));
            }
            // The rows are spliced in as arrow-json wrote them: decimals keep their exact
            // digits (29210345.20), which a round trip through f64 would not.
            let mut out = serde_json::to_vec(&head).map_err(not_encodable)?;
            out.pop(); // the closing brace
            out.extend_from_slice(b",\"rows\":");
            out.extend_from_slice(
                &json_array(&batches).map_err(|e| ApiError::from(ServeError::Query(e)))?,
            );
            out.push(b'}');
            out
        }
        Format::Csv => {
            let mut out = Vec::new();
            let empty = [RecordBatch::new_empty(schema.clone())];
            // A header line even without rows.
            let batches = if batches.is_empty() {
                &empty[..]
            } else {
                &batches[..]
            };
            for (i, b) in batches.iter().enumerate() {
                // (a writer per batch, the header with the first: the text can be measured)
                let mut w = arrow::csv::WriterBuilder::new()
                    .with_header(i == 0)
                    .build(&mut out);
                w.write(b).map_err(not_encodable)?;
                drop(w);
                if out.len() > budget {
                    return Err(too_large(budget).into());
                }
            }
            out
        }
        Format::Arrow => {
            let mut w = arrow::ipc::writer::StreamWriter::try_new(Vec::new(), &schema)
                .map_err(not_encodable)?;
            for b in &batches {
                w.write(b).map_err(not_encodable)?;
            }
            w.finish().map_err(not_encodable)?;
            w.into_inner().map_err(not_encodable)?
        }
        Format::Parquet => {
            let mut w = parquet::arrow::ArrowWriter::try_new(Vec::new(), schema.clone(), None)
                .map_err(not_encodable)?;
            for b in &batches {
                w.write(b).map_err(not_encodable)?;
            }
            w.into_inner().map_err(not_encodable)?
        }
    };
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, format.content_type())
        .body(Body::from(body))
        .map_err(not_encodable)
}

fn too_large(budget: usize) -> ServeError {
    ServeError::Memory(format!(
        "the answer is larger than the server's limit of {} MiB per query: filter or aggregate more, or page with LIMIT and OFFSET (whole tables are in the Parquet releases)",
        budget >> 20
    ))
}

/// `b` with its string and binary views in buffers of their own: a view array of a few rows
/// may point into the buffers of a whole page, which an Arrow answer would send whole (one
/// commune's name came with 37,000 others, 571 KB).
fn compact_views(b: RecordBatch) -> RecordBatch {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::DataType;
    if !b
        .columns()
        .iter()
        .any(|c| matches!(c.data_type(), DataType::Utf8View | DataType::BinaryView))
    {
        return b;
    }
    let columns = b
        .columns()
        .iter()
        .map(|c| match c.data_type() {
            DataType::Utf8View => Arc::new(c.as_string_view().gc()) as arrow::array::ArrayRef,
            DataType::BinaryView => Arc::new(c.as_binary_view().gc()),
            _ => Arc::clone(c),
        })
        .collect();
    RecordBatch::try_new(b.schema(), columns).unwrap_or(b)
}

/// The rows could not be written in the format asked for (a CSV of nested lists): the
/// client can ask another format, so it is the request's error (400), not the server's.
fn not_encodable(e: impl std::fmt::Display) -> ApiError {
    ServeError::Query(e.to_string()).into()
}
