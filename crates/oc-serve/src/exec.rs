//! Running one query with the server's limits: a memory pool of its own, a deadline that also
//! covers the streaming of the answer, and read-only planning.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{GreedyMemoryPool, TrackConsumersPool};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::prelude::{DataFrame, SessionContext};
use futures::Stream;
use tokio::time::{Instant, Sleep};

use crate::error::ServeError;
use crate::guard::{self, Kind};

#[derive(Debug, Clone)]
pub struct Limits {
    /// Wall-clock limit of one query, planning and streaming included.
    pub timeout: Duration,
    /// Memory one query may take (DataFusion's pool: joins, sorts, aggregations).
    pub memory: usize,
    /// Rows of a JSON answer (other formats stream every row).
    pub json_rows: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(60),
            memory: 512 * 1024 * 1024,
            json_rows: 10_000,
        }
    }
}

/// The lake's context with a runtime of its own for one query: same tables, views, object
/// stores and Parquet metadata cache (shared with every query), a fresh memory pool capped at
/// `limits.memory`.
pub fn query_context(base: &SessionContext, limits: &Limits) -> Result<SessionContext, ServeError> {
    let base_rt = base.runtime_env();
    let pool = TrackConsumersPool::new(
        GreedyMemoryPool::new(limits.memory),
        std::num::NonZeroUsize::new(3).expect("3 is not zero"),
    );
    let rt = RuntimeEnvBuilder::new()
        .with_object_store_registry(base_rt.object_store_registry.clone())
        // Footers and page indexes read by one query serve the next ones (a fresh runtime
        // would have a cache of its own, empty, and every query would read them again); the
        // cache is bounded (DataFusion's default, 50 MiB) and keyed by file.
        .with_cache_manager(
            CacheManagerConfig::default()
                .with_file_metadata_cache(Some(base_rt.cache_manager.get_file_metadata_cache())),
        )
        .with_memory_pool(Arc::new(pool))
        // No spilling: a query over its memory share fails instead of filling the disk.
        .with_disk_manager_builder(
            DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
        )
        .build_arc()?;
    let state = SessionStateBuilder::new_from_existing(base.state())
        .with_runtime_env(rt)
        .build();
    Ok(SessionContext::new_with_state(state))
}

/// Plans one SQL text for the HTTP API: exactly one statement, checked by the guard, planned
/// with DataFusion's read-only options.
pub async fn plan_sql(ctx: &SessionContext, sql: &str) -> Result<DataFrame, ServeError> {
    let stmts = guard::check_sql(sql)?;
    match stmts.as_slice() {
        [] => {
            return Err(ServeError::BadRequest(
                "empty query: send one SELECT statement".into(),
            ));
        }
        [(_, Kind::Query)] => {}
        [(_, Kind::Session)] => {
            return Err(ServeError::BadRequest(
                "only queries run over HTTP (SET, SHOW and transactions are for Postgres clients)"
                    .into(),
            ));
        }
        _ => {
            return Err(ServeError::BadRequest(
                "send one statement per request".into(),
            ));
        }
    }
    Ok(ctx.sql_with_options(sql, oc_sql::read_only()).await?)
}

/// Checks a plan built elsewhere (extended protocol) with the read-only options.
pub fn verify_plan(plan: &LogicalPlan) -> Result<(), ServeError> {
    oc_sql::read_only()
        .verify_plan(plan)
        .map_err(|e| ServeError::Refused(ServeError::from(e).to_string()))
}

pub fn timeout(limits: &Limits) -> ServeError {
    ServeError::Timeout(format!(
        "the query ran longer than the server's limit of {} s and was cancelled: filter or aggregate more",
        limits.timeout.as_secs_f64()
    ))
}

/// A record batch stream that fails once its deadline has passed. Dropping it (client gone,
/// error) drops the DataFusion stream, which cancels the query.
pub struct Deadline {
    inner: SendableRecordBatchStream,
    sleep: Pin<Box<Sleep>>,
    error: ServeError,
    done: bool,
}

impl Deadline {
    pub fn new(inner: SendableRecordBatchStream, deadline: Instant, error: ServeError) -> Self {
        Deadline {
            inner,
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
            error,
            done: false,
        }
    }

    pub fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }
}

impl Stream for Deadline {
    type Item = Result<RecordBatch, DataFusionError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.done = true;
            // The typed error travels inside DataFusion's external-error variant.
            let e = DataFusionError::External(Box::new(self.error.clone()));
            return Poll::Ready(Some(Err(e)));
        }
        let r = self.inner.as_mut().poll_next(cx);
        if let Poll::Ready(Some(Err(_)) | None) = &r {
            self.done = true;
        }
        r
    }
}

/// Executes a planned query as a stream bounded by the deadline.
pub async fn stream(
    df: DataFrame,
    limits: &Limits,
    started: Instant,
) -> Result<Deadline, ServeError> {
    let deadline = started + limits.timeout;
    let s = tokio::time::timeout_at(deadline, df.execute_stream())
        .await
        .map_err(|_| timeout(limits))??;
    Ok(Deadline::new(s, deadline, timeout(limits)))
}

/// An error of a result stream: the deadline's own, or DataFusion's.
pub fn stream_error(e: &DataFusionError) -> ServeError {
    if let DataFusionError::External(inner) = e.find_root()
        && let Some(s) = inner.downcast_ref::<ServeError>()
    {
        return s.clone();
    }
    ServeError::from_datafusion(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[tokio::test]
    async fn memory_and_time_limits_fail_the_query_not_the_process() {
        let base = oc_sql::session::new_context();
        let limits = Limits {
            timeout: Duration::from_secs(30),
            memory: 1024 * 1024,
            json_rows: 10,
        };
        let ctx = query_context(&base, &limits).unwrap();
        // A sort of 5 million rows does not fit in 1 MiB: DataFusion reports it, no crash.
        let df = plan_sql(
            &ctx,
            "SELECT v, repeat('x', 20) AS pad FROM generate_series(1, 5000000) t(v) ORDER BY v DESC",
        )
        .await
        .unwrap();
        let mut s = stream(df, &limits, Instant::now()).await.unwrap();
        let mut err = None;
        while let Some(b) = s.next().await {
            if let Err(e) = b {
                err = Some(stream_error(&e));
                break;
            }
        }
        let err = err.expect("the sort should exceed the memory limit");
        assert!(matches!(err, ServeError::Memory(_)), "{err}");
        assert!(err.to_string().contains("memory"), "{err}");

        let limits = Limits {
            timeout: Duration::from_millis(200),
            ..limits
        };
        let ctx = query_context(&base, &limits).unwrap();
        let df = plan_sql(
            &ctx,
            "SELECT count(*) FROM generate_series(1, 2000000000) a(x) WHERE x % 7 = 3",
        )
        .await
        .unwrap();
        let t = Instant::now();
        let mut s = stream(df, &limits, Instant::now()).await.unwrap();
        let mut err = None;
        while let Some(b) = s.next().await {
            if let Err(e) = b {
                err = Some(stream_error(&e));
            }
        }
        let err = err.unwrap();
        assert!(matches!(err, ServeError::Timeout(_)), "{err}");
        assert!(err.to_string().contains("limit"));
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    /// Each query has a runtime of its own (its memory cap), but the footers and page indexes
    /// it reads stay for the next ones.
    #[tokio::test]
    async fn queries_keep_the_parquet_metadata_they_read_for_the_next_ones() {
        use datafusion::dataframe::DataFrameWriteOptions;
        use datafusion::prelude::ParquetReadOptions;
        let dir = std::env::temp_dir().join(format!("oc-serve-metadata-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("t.parquet");
        let file = file.to_str().unwrap();
        let base = oc_sql::session::new_context();
        base.sql("SELECT v, v * 2 AS w FROM generate_series(1, 1000) t(v)")
            .await
            .unwrap()
            .write_parquet(file, DataFrameWriteOptions::new(), None)
            .await
            .unwrap();
        base.register_parquet("t", file, ParquetReadOptions::default())
            .await
            .unwrap();
        let cache = base.runtime_env().cache_manager.get_file_metadata_cache();
        cache.clear();
        for _ in 0..2 {
            let ctx = query_context(&base, &Limits::default()).unwrap();
            let df = plan_sql(&ctx, "SELECT sum(w) AS s FROM t WHERE v > 10")
                .await
                .unwrap();
            let batches = df.collect().await.unwrap();
            let sum = arrow::util::pretty::pretty_format_batches(&batches)
                .unwrap()
                .to_string();
            // 2 × (11 + … + 1000)
            assert!(sum.contains("| 1000890 |"), "{sum}");
            assert_eq!(
                cache.len(),
                1,
                "the file's metadata, read once for both queries"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
