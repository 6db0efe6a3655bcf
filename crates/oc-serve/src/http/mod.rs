//! The HTTP API (axum): catalog, dataset details, filtered rows, SQL, health, OpenAPI.
//! Filters are DataFusion expressions built from typed values, never SQL text.

mod answer;
mod datasets;
mod rows;
mod sql;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State as AxState};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::State;
use crate::error::ServeError;

pub use answer::Format;

type St = AxState<Arc<State>>;

/// The API's routes; the client's address comes from `oc_http::serve` (`ConnectInfo`).
/// `pages` (the portal's) are mounted beside them, public: the paths do not overlap (a
/// static segment such as `/datasets` wins over the pages' `/{niveau}/{code}`), and an
/// unknown path then gets the pages' French "page introuvable" instead of the API's JSON.
pub fn router(state: Arc<State>, pages: Option<Router>) -> Router {
    let protected = Router::new()
        .route("/datasets", get(datasets::list))
        .route("/datasets/{id}", get(datasets::one))
        .route("/datasets/{id}/rows", get(rows::rows))
        .route("/sql", post(sql::sql))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    let api = Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(openapi))
        .merge(protected);
    match pages {
        Some(pages) => api.with_state(state).merge(pages),
        None => api
            .fallback(|| async {
                ApiError::new(StatusCode::NOT_FOUND, "no such endpoint: see /openapi.json")
            })
            .with_state(state),
    }
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
}

/// Each kind of failure has its status: refusals 403, limits 413/422/504, a silent store 503,
/// the rest 400.
impl From<ServeError> for ApiError {
    fn from(e: ServeError) -> Self {
        let status =
            StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        ApiError::new(status, e.to_string())
    }
}

impl From<datafusion::error::DataFusionError> for ApiError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        ServeError::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(json!({ "error": self.message }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        r
    }
}

async fn require_token(st: St, req: Request, next: Next) -> Result<Response, ApiError> {
    let Some(auth) = &st.0.auth else {
        return Ok(next.run(req).await);
    };
    let addr = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let peer = addr.map(|a| a.to_string()).unwrap_or_default();
    if let Some(wait) = addr.and_then(|a| st.0.throttle.wait(a.ip())) {
        tracing::warn!(
            client = peer,
            "http request refused: too many failed logins"
        );
        let secs = wait.as_secs().max(1);
        let mut r = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many failed logins from your address: try again in {secs} s"),
        )
        .into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return Ok(r);
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        // the scheme's name is case-insensitive (RFC 9110, 11.1)
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(token)
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
            if let Some(a) = addr {
                st.0.throttle.failed(a.ip());
            }
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
