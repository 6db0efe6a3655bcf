//! `GET /datasets/{id}/rows`: typed filters (`where=column:op:value`), order, columns,
//! paging, in any answer format.

use std::sync::Arc;

use arrow::datatypes::{DataType, SchemaRef};
use axum::extract::{Path, Query};
use axum::http::HeaderMap;
use axum::response::Response;
use datafusion::common::ScalarValue;
use datafusion::prelude::{col, lit};
use tokio::time::Instant;

use super::answer::{Format, answer};
use super::datasets::{known, table_ref};
use super::{ApiError, St};
use crate::error::ServeError;
use crate::exec;

/// `where=` parameters accepted in one request.
const MAX_FILTERS: usize = 100;

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

pub(super) async fn rows(
    st: St,
    Path(id): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let st = &st.0;
    known(st, &id)?;
    let format = Format::negotiate(&headers, &params)?;
    let ctx = exec::query_context(&st.base, &st.limits)?;
    let mut df = ctx.table(table_ref(&id)?).await?;
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let mut limit: Option<usize> = Some(100);
    let mut offset = 0usize;
    let mut order = Vec::new();
    let mut columns: Option<Vec<String>> = None;
    // Each filter is a node of the plan, which the optimizer walks by recursion: thousands of
    // them could exhaust a stack (see oc_sql::shape). `in` takes long lists in one filter.
    let filters = params.iter().filter(|(k, _)| k == "where").count();
    if filters > MAX_FILTERS {
        return Err(ServeError::TooComplex(format!(
            "{filters} where= filters, more than the {MAX_FILTERS} allowed: combine values with `in` (where=column:in:a|b|c)"
        ))
        .into());
    }
    for (k, v) in &params {
        match k.as_str() {
            "where" => {
                let e = filter(&schema, v)?;
                df = df.filter(e)?;
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
        df = df.sort(order)?;
    }
    if let Some(cs) = columns {
        let refs: Vec<&str> = cs.iter().map(String::as_str).collect();
        df = df.select_columns(&refs)?;
    }
    if format != Format::Json && limit == Some(100) && !params.iter().any(|(k, _)| k == "limit") {
        limit = None; // files get every row unless a limit is asked
    }
    if offset > 0 || limit.is_some() {
        df = df.limit(offset, limit)?;
    }
    answer(df, format, st, started).await
}
