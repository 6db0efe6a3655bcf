//! `GET /datasets` and `GET /datasets/{id}`: the catalog, a dataset's columns, row count,
//! Delta versions and freshness (its last successful run).

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use datafusion::common::TableReference;
use datafusion::prelude::{DataFrame, SessionContext};
use futures::TryStreamExt;
use serde_json::{Value, json};

use super::{ApiError, St};
use crate::State;
use crate::error::ServeError;
use crate::exec;

/// Documentation of a dataset (catalog.yaml over its pipeline's own).
fn docs(st: &State, id: &str) -> (Value, oc_spec::DatasetMeta) {
    let m = st.project.dataset_meta(id);
    let v = json!({
        "title": m.title,
        "description": m.description,
        "producer": m.producer,
        "licence": m.licence,
    });
    (v, m)
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

pub(super) fn table_ref(id: &str) -> Result<TableReference, ApiError> {
    let (d, t) = id
        .split_once('.')
        .ok_or_else(|| ApiError::bad(format!("dataset ids are domain.name, not {id}")))?;
    Ok(TableReference::partial(d, t))
}

pub(super) fn known(st: &State, id: &str) -> Result<&'static str, ApiError> {
    kind_of(st, id).ok_or_else(|| {
        ServeError::NotFound(format!("no dataset {id}: GET /datasets lists them")).into()
    })
}

pub(super) async fn list(st: St) -> impl IntoResponse {
    let st = &st.0;
    let items: Vec<Value> = st
        .tables()
        .iter()
        .map(|t| (t.clone(), "table"))
        .chain(st.views().iter().map(|v| (v.clone(), "view")))
        .map(|(id, kind)| {
            let (mut d, _) = docs(st, &id);
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

pub(super) async fn one(st: St, Path(id): Path<String>) -> Result<Response, ApiError> {
    let st = &st.0;
    let kind = known(st, &id)?;
    let ctx = exec::query_context(&st.base, &st.limits)?;
    let df = ctx.table(table_ref(&id)?).await?;
    let schema = df.schema().as_arrow().clone();
    let (mut out, meta) = docs(st, &id);
    let columns: Vec<Value> = schema
        .fields()
        .iter()
        .map(|f| {
            json!({
                "name": f.name(),
                "type": f.data_type().to_string(),
                "nullable": f.is_nullable(),
                "doc": meta.column_doc(f.name()),
            })
        })
        .collect();
    let rows = count(df, st).await.ok();
    let versions = if kind == "table" {
        versions(st, &id).await
    } else {
        Value::Null
    };
    out["id"] = json!(id);
    out["kind"] = json!(kind);
    out["columns"] = json!(columns);
    out["rows"] = json!(rows);
    out["versions"] = versions;
    out["freshness"] = freshness(&ctx, &id).await;
    Ok(axum::Json(out).into_response())
}

async fn count(df: DataFrame, st: &State) -> Result<usize, ServeError> {
    Ok(tokio::time::timeout(st.limits.timeout, df.count())
        .await
        .map_err(|_| exec::timeout(&st.limits))??)
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
    match oc_sql::ops::successful_runs(ctx, Some(id)).await {
        Ok(runs) => match runs.last() {
            Some(r) => json!({
                "run_id": r.run_id,
                "finished_at": r.finished_at,
                "rows_written": r.rows_written,
                "table_version": r.table_version,
            }),
            None => Value::Null,
        },
        Err(_) => Value::Null,
    }
}
