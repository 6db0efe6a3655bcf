//! `POST /sql`: one read-only query, the body as text or `{"sql": "…"}`.

use axum::body::Body;
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use tokio::time::Instant;

use super::answer::{Format, answer};
use super::{ApiError, St};
use crate::exec;

/// A request body: the query text is bounded further by the guard (1 MiB).
const MAX_BODY: usize = 2 << 20;
/// Time a client has to send the body once its headers are in.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(serde::Deserialize)]
struct SqlBody {
    sql: String,
}

pub(super) async fn sql(
    st: St,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    // Read here rather than by an extractor: with a deadline (a client sending a byte every
    // few seconds held its connection for half an hour), and errors in the API's JSON.
    let body = match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, MAX_BODY)).await
    {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body: more than {} MiB", MAX_BODY >> 20),
            ));
        }
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!("body: not received within {} s", BODY_TIMEOUT.as_secs()),
            ));
        }
    };
    let st = &st.0;
    let format = Format::negotiate(&headers, &params)?;
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    let text = if is_json {
        serde_json::from_slice::<SqlBody>(&body)
            .map_err(|e| ApiError::bad(format!("body: expected {{\"sql\": \"SELECT …\"}} ({e})")))?
            .sql
    } else {
        String::from_utf8(body.to_vec())
            .map_err(|_| ApiError::bad("body: the query must be UTF-8 text"))?
    };
    let ctx = exec::query_context(&st.base, &st.limits)?;
    let df = tokio::time::timeout(st.limits.timeout, exec::plan_sql(&ctx, &text))
        .await
        .map_err(|_| exec::timeout(&st.limits))??;
    answer(df, format, st, started).await
}
