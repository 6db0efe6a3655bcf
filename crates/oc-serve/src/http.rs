//! The HTTP API (axum): catalog, dataset details, filtered rows, SQL, health, OpenAPI.
//! Filters are DataFusion expressions built from typed values, never SQL text.

use std::net::SocketAddr;
use std::sync::Arc;

use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, Query, Request, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use datafusion::common::{ScalarValue, TableReference};
use datafusion::prelude::{DataFrame, SessionContext, col, lit};
use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::State;
use crate::exec;

type St = AxState<Arc<State>>;

pub fn router(
    state: Arc<State>,
) -> axum::extract::connect_info::IntoMakeServiceWithConnectInfo<Router, SocketAddr> {
    let protected = Router::new()
        .route("/datasets", get(datasets))
        .route("/datasets/{id}", get(dataset))
        .route("/datasets/{id}/rows", get(rows))
        .route("/sql", post(sql))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(openapi))
        .merge(protected)
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "no such endpoint: see /openapi.json")
        })
        .with_state(state)
        .into_make_service_with_connect_info::<SocketAddr>()
}

/// An error answer: `{"error": "..."}` with a status.
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
    fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    /// Errors of a query: refusals are 403, limits 422/504, the rest 400.
    fn query(message: String) -> Self {
        let status = if message.contains("refused") {
            StatusCode::FORBIDDEN
        } else if message.contains("longer than the server's limit") {
            StatusCode::GATEWAY_TIMEOUT
        } else if message.contains("more memory") {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::BAD_REQUEST
        };
        Self::new(status, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(json!({ "error": self.message }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}

async fn require_token(st: St, req: Request, next: Next) -> Result<Response, ApiError> {
    let Some(auth) = &st.0.auth else {
        return Ok(next.run(req).await);
    };
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.to_string())
        .unwrap_or_default();
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
    let Some(given) = given else {
        tracing::warn!(client = peer, path = %req.uri().path(), "http request without a bearer token");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing credentials: send the header `Authorization: Bearer <token>`",
        ));
    };
    match auth.check_token(given.trim()) {
        Some(name) => {
            tracing::debug!(token = name, path = %req.uri().path(), "http request");
            Ok(next.run(req).await)
        }
        None => {
            tracing::warn!(client = peer, path = %req.uri().path(), "http authentication failed");
            Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid token"))
        }
    }
}

async fn health(st: St) -> impl IntoResponse {
    axum::Json(json!({
        "status": "ok",
        "tables": st.0.tables().len(),
        "views": st.0.views().len(),
        "uptime_seconds": st.0.started.elapsed().as_secs(),
    }))
}

async fn openapi() -> impl IntoResponse {
    axum::Json(crate::openapi::document())
}

/// Documentation of a dataset from catalog.yaml, else from its pipeline.
fn docs(st: &State, id: &str) -> Value {
    let doc = st.project.catalog.datasets.get(id);
    let p = st.project.pipeline(id).map(|p| &p.pipeline);
    let pick = |a: Option<&Option<String>>, b: Option<&Option<String>>| {
        a.and_then(|x| x.clone())
            .or_else(|| b.and_then(|x| x.clone()))
    };
    json!({
        "title": pick(doc.map(|d| &d.title), p.map(|p| &p.title)),
        "description": pick(doc.map(|d| &d.description), p.map(|p| &p.description)),
        "producer": pick(doc.map(|d| &d.producer), p.map(|p| &p.producer)),
        "licence": pick(doc.map(|d| &d.licence), p.map(|p| &p.licence)),
    })
}

fn column_doc(st: &State, id: &str, c: &str) -> Option<String> {
    st.project
        .catalog
        .datasets
        .get(id)
        .and_then(|d| d.columns.get(c).cloned())
        .or_else(|| {
            st.project
                .pipeline(id)
                .and_then(|p| p.pipeline.columns.get(c))
                .and_then(|s| s.doc.clone())
        })
}

fn kind_of(st: &State, id: &str) -> Option<&'static str> {
    if st.tables().iter().any(|t| t == id) {
        Some("table")
    } else if st.views().iter().any(|v| v == id) {
        Some("view")
    } else {
        None
    }
}

async fn datasets(st: St) -> impl IntoResponse {
    let st = &st.0;
    let items: Vec<Value> = st
        .tables()
        .iter()
        .map(|t| (t.clone(), "table"))
        .chain(st.views().iter().map(|v| (v.clone(), "view")))
        .map(|(id, kind)| {
            let mut d = docs(st, &id);
            d["id"] = json!(id);
            d["kind"] = json!(kind);
            d["links"] = json!({
                "self": format!("/datasets/{id}"),
                "rows": format!("/datasets/{id}/rows"),
            });
            d
        })
        .collect();
    axum::Json(json!({ "datasets": items }))
}

fn table_ref(id: &str) -> Result<TableReference, ApiError> {
    let (d, t) = id
        .split_once('.')
        .ok_or_else(|| ApiError::bad(format!("dataset ids are domain.name, not {id}")))?;
    Ok(TableReference::partial(d, t))
}

fn known(st: &State, id: &str) -> Result<&'static str, ApiError> {
    kind_of(st, id).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no dataset {id}: GET /datasets lists them"),
        )
    })
}

async fn dataset(st: St, Path(id): Path<String>) -> Result<Response, ApiError> {
    let st = &st.0;
    let kind = known(st, &id)?;
    let ctx = exec::query_context(&st.base, &st.limits).map_err(ApiError::query)?;
    let df = ctx
        .table(table_ref(&id)?)
        .await
        .map_err(|e| ApiError::query(exec::clean_error(&e)))?;
    let schema = df.schema().as_arrow().clone();
    let columns: Vec<Value> = schema
        .fields()
        .iter()
        .map(|f| {
            json!({
                "name": f.name(),
                "type": f.data_type().to_string(),
                "nullable": f.is_nullable(),
                "doc": column_doc(st, &id, f.name()),
            })
        })
        .collect();
    let rows = count(df, st).await.ok();
    let versions = if kind == "table" {
        versions(st, &id).await
    } else {
        Value::Null
    };
    let mut out = docs(st, &id);
    out["id"] = json!(id);
    out["kind"] = json!(kind);
    out["columns"] = json!(columns);
    out["rows"] = json!(rows);
    out["versions"] = versions;
    out["freshness"] = freshness(&ctx, &id).await;
    Ok(axum::Json(out).into_response())
}

async fn count(df: DataFrame, st: &State) -> Result<usize, String> {
    tokio::time::timeout(st.limits.timeout, df.count())
        .await
        .map_err(|_| exec::timeout_message(&st.limits))?
        .map_err(|e| exec::clean_error(&e))
}

/// The Delta versions of a table, newest first (each is a committed refresh).
async fn versions(st: &State, id: &str) -> Value {
    let Ok(Some(table)) = st.lake.load(id).await else {
        return Value::Null;
    };
    let Some(current) = table.version() else {
        return Value::Null;
    };
    let infos: Vec<_> = match table.history(None).try_collect::<Vec<_>>().await {
        Ok(i) => i,
        Err(e) => return json!({ "error": e.to_string() }),
    };
    let list: Vec<Value> = infos
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({
                "version": current.saturating_sub(i as u64),
                "timestamp": c.timestamp.and_then(chrono::DateTime::from_timestamp_millis).map(|t| t.to_rfc3339()),
                "operation": c.operation,
            })
        })
        .collect();
    json!(list)
}

/// The last successful run that wrote the dataset (from `_ops.runs`).
async fn freshness(ctx: &SessionContext, id: &str) -> Value {
    let q = async {
        let df = ctx
            .table(TableReference::partial("_ops", "runs"))
            .await?
            .filter(
                col("pipeline")
                    .eq(lit(id))
                    .and(col("status").eq(lit("success"))),
            )?
            .sort(vec![col("finished_at").sort(false, false)])?
            .limit(0, Some(1))?
            .select_columns(&["run_id", "finished_at", "rows_written", "table_version"])?;
        df.collect().await
    };
    match q.await {
        Ok(b) => match json_rows(&b) {
            Ok(mut rows) if !rows.is_empty() => rows.remove(0),
            _ => Value::Null,
        },
        Err(_) => Value::Null,
    }
}

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

fn json_rows(batches: &[RecordBatch]) -> Result<Vec<Value>, String> {
    serde_json::from_slice(&json_array(batches)?).map_err(|e| e.to_string())
}

/// One filter of `/rows`: `column:op:value`.
fn filter(schema: &SchemaRef, spec: &str) -> Result<datafusion::prelude::Expr, ApiError> {
    let mut parts = spec.splitn(3, ':');
    let (c, op) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let value = parts.next();
    let field = schema.field_with_name(c).map_err(|_| {
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        ApiError::bad(format!(
            "where={spec}: no column {c:?}; columns: {}",
            names.join(", ")
        ))
    })?;
    let typed = |v: &str| -> Result<ScalarValue, ApiError> {
        let bad = || {
            ApiError::bad(format!(
                "where={spec}: {v:?} is not a valid {} for column {c}",
                field.data_type()
            ))
        };
        match ScalarValue::try_from_string(v.to_string(), field.data_type()) {
            Ok(s) if !s.is_null() => Ok(s),
            _ => Err(bad()),
        }
    };
    let column = col(datafusion::common::Column::new_unqualified(c));
    let need =
        || value.ok_or_else(|| ApiError::bad(format!("where={spec}: write column:{op}:value")));
    Ok(match op {
        "eq" => column.eq(lit(typed(need()?)?)),
        "ne" => column.not_eq(lit(typed(need()?)?)),
        "lt" => column.lt(lit(typed(need()?)?)),
        "le" => column.lt_eq(lit(typed(need()?)?)),
        "gt" => column.gt(lit(typed(need()?)?)),
        "ge" => column.gt_eq(lit(typed(need()?)?)),
        "in" => {
            let vals = need()?
                .split('|')
                .map(|v| typed(v).map(lit))
                .collect::<Result<Vec<_>, _>>()?;
            column.in_list(vals, false)
        }
        "like" => {
            if !matches!(
                field.data_type(),
                DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
            ) {
                return Err(ApiError::bad(format!(
                    "where={spec}: like applies to text columns"
                )));
            }
            column.like(lit(need()?.to_string()))
        }
        "null" => column.is_null(),
        "notnull" => column.is_not_null(),
        _ => {
            return Err(ApiError::bad(format!(
                "where={spec}: unknown operator {op:?}; use eq, ne, lt, le, gt, ge, in (a|b), like, null, notnull"
            )));
        }
    })
}

async fn rows(
    st: St,
    Path(id): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let st = &st.0;
    known(st, &id)?;
    let format = Format::negotiate(&headers, &params)?;
    let ctx = exec::query_context(&st.base, &st.limits).map_err(ApiError::query)?;
    let mut df = ctx
        .table(table_ref(&id)?)
        .await
        .map_err(|e| ApiError::query(exec::clean_error(&e)))?;
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let mut limit: Option<usize> = Some(100);
    let mut offset = 0usize;
    let mut order = Vec::new();
    let mut columns: Option<Vec<String>> = None;
    for (k, v) in &params {
        match k.as_str() {
            "where" => {
                let e = filter(&schema, v)?;
                df = df
                    .filter(e)
                    .map_err(|e| ApiError::query(exec::clean_error(&e)))?;
            }
            "limit" => {
                limit = Some(
                    v.parse()
                        .map_err(|_| ApiError::bad("limit: a number of rows"))?,
                )
            }
            "offset" => {
                offset = v
                    .parse()
                    .map_err(|_| ApiError::bad("offset: a number of rows"))?
            }
            "order" => {
                for o in v.split(',') {
                    let (name, asc) = match o.strip_prefix('-') {
                        Some(n) => (n, false),
                        None => (o, true),
                    };
                    schema
                        .field_with_name(name)
                        .map_err(|_| ApiError::bad(format!("order: no column {name:?}")))?;
                    order.push(
                        col(datafusion::common::Column::new_unqualified(name)).sort(asc, true),
                    );
                }
            }
            "columns" => {
                let cs: Vec<String> = v.split(',').map(|s| s.trim().to_string()).collect();
                for c in &cs {
                    schema
                        .field_with_name(c)
                        .map_err(|_| ApiError::bad(format!("columns: no column {c:?}")))?;
                }
                columns = Some(cs);
            }
            "format" => {}
            other => {
                return Err(ApiError::bad(format!(
                    "unknown parameter {other:?}: use where, limit, offset, order, columns, format"
                )));
            }
        }
    }
    if !order.is_empty() {
        df = df
            .sort(order)
            .map_err(|e| ApiError::query(exec::clean_error(&e)))?;
    }
    if let Some(cs) = columns {
        let refs: Vec<&str> = cs.iter().map(String::as_str).collect();
        df = df
            .select_columns(&refs)
            .map_err(|e| ApiError::query(exec::clean_error(&e)))?;
    }
    if format != Format::Json && limit == Some(100) && !params.iter().any(|(k, _)| k == "limit") {
        limit = None; // files get every row unless a limit is asked
    }
    if offset > 0 || limit.is_some() {
        df = df
            .limit(offset, limit)
            .map_err(|e| ApiError::query(exec::clean_error(&e)))?;
    }
    answer(df, format, st, started).await
}

#[derive(serde::Deserialize)]
struct SqlBody {
    sql: String,
}

async fn sql(
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
    let ctx = exec::query_context(&st.base, &st.limits).map_err(ApiError::query)?;
    let df = tokio::time::timeout(st.limits.timeout, exec::plan_sql(&ctx, &text))
        .await
        .map_err(|_| ApiError::query(exec::timeout_message(&st.limits)))?
        .map_err(ApiError::query)?;
    answer(df, format, st, started).await
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
    fn negotiate(headers: &HeaderMap, params: &[(String, String)]) -> Result<Format, ApiError> {
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
async fn answer(
    mut df: DataFrame,
    format: Format,
    st: &State,
    started: Instant,
) -> Result<Response, ApiError> {
    let max = st.limits.json_rows;
    if format == Format::Json {
        // One row more than allowed tells whether the answer was cut.
        df = df
            .limit(0, Some(max + 1))
            .map_err(|e| ApiError::query(exec::clean_error(&e)))?;
    }
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let stream = exec::stream(df, &st.limits, started)
        .await
        .map_err(ApiError::query)?;
    let batches: Vec<RecordBatch> = stream
        .map(|b| b.map_err(|e| exec::clean_error(&e)))
        .try_collect()
        .await
        .map_err(ApiError::query)?;
    let body = match format {
        Format::Json => {
            let total: usize = batches.iter().map(|b| b.num_rows()).sum();
            let truncated = total > max;
            let batches = if truncated {
                let all = arrow::compute::concat_batches(&schema, &batches)
                    .map_err(|e| ApiError::query(e.to_string()))?;
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
            let mut out = serde_json::to_vec(&head).map_err(|e| ApiError::query(e.to_string()))?;
            out.pop(); // the closing brace
            out.extend_from_slice(b",\"rows\":");
            out.extend_from_slice(&json_array(&batches).map_err(ApiError::query)?);
            out.push(b'}');
            out
        }
        Format::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(Vec::new());
            for b in &batches {
                w.write(b).map_err(|e| ApiError::query(e.to_string()))?;
            }
            if batches.is_empty() {
                // A header line even without rows.
                w.write(&RecordBatch::new_empty(schema.clone()))
                    .map_err(|e| ApiError::query(e.to_string()))?;
            }
            w.into_inner()
        }
        Format::Arrow => {
            let mut w = arrow::ipc::writer::StreamWriter::try_new(Vec::new(), &schema)
                .map_err(|e| ApiError::query(e.to_string()))?;
            for b in &batches {
                w.write(b).map_err(|e| ApiError::query(e.to_string()))?;
            }
            w.finish().map_err(|e| ApiError::query(e.to_string()))?;
            w.into_inner().map_err(|e| ApiError::query(e.to_string()))?
        }
        Format::Parquet => {
            let mut w = parquet::arrow::ArrowWriter::try_new(Vec::new(), schema.clone(), None)
                .map_err(|e| ApiError::query(e.to_string()))?;
            for b in &batches {
                w.write(b).map_err(|e| ApiError::query(e.to_string()))?;
            }
            w.into_inner().map_err(|e| ApiError::query(e.to_string()))?
        }
    };
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, format.content_type())
        .body(Body::from(body))
        .map_err(|e| ApiError::query(e.to_string()))?)
}
