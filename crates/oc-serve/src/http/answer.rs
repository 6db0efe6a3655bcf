//! Answer formats: JSON (capped at `--json-rows`, decimals exact), CSV, Arrow IPC stream and
//! Parquet, chosen by `?format=` or `Accept`.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
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
    if format == Format::Json {
        // One row more than allowed tells whether the answer was cut.
        df = df.limit(0, Some(max + 1))?;
    }
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let stream = exec::stream(df, &st.limits, started).await?;
    let batches: Vec<RecordBatch> = stream
        .map(|b| b.map_err(|e| exec::stream_error(&e)))
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
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(Vec::new());
            for b in &batches {
                w.write(b).map_err(not_encodable)?;
            }
            if batches.is_empty() {
                // A header line even without rows.
                w.write(&RecordBatch::new_empty(schema.clone()))
                    .map_err(not_encodable)?;
            }
            w.into_inner()
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

/// The rows could not be written in the format asked for (a CSV of nested lists): the
/// client can ask another format, so it is the request's error (400), not the server's.
fn not_encodable(e: impl std::fmt::Display) -> ApiError {
    ServeError::Query(e.to_string()).into()
}
