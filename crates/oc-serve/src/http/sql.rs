//! `POST /sql`: one read-only query, the body as text or `{"sql": "…"}`.

use axum::body::Bytes;
use axum::extract::Query;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use tokio::time::Instant;

use super::answer::{Format, answer};
use super::{ApiError, St};
use crate::exec;

#[derive(serde::Deserialize)]
struct SqlBody {
    sql: String,
}

pub(super) async fn sql(
    st: St,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let st = &st.0;
    let format = Format::negotiate(&headers, &params)?;
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
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
