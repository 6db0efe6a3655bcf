//! A cluster job whose results nobody reads any more is cancelled: Ballista 55's client keeps
//! the job running when its result stream is dropped (a `serve` client gone, a time limit
//! fired), which would leave executors busy for nothing.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use ballista_core::execution_plans::DistributedQueryExec;
use ballista_core::serde::protobuf::CancelJobParams;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::Result;
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use datafusion_proto::protobuf::LogicalPlanNode;
use futures::Stream;
use tonic::transport::Channel;

/// Wraps Ballista's `DistributedQueryExec`; shows as it (EXPLAIN, tests).
#[derive(Debug)]
pub struct CancelOnDrop {
    inner: Arc<dyn ExecutionPlan>,
    scheduler_url: String,
}

impl CancelOnDrop {
    pub fn new(inner: Arc<dyn ExecutionPlan>, scheduler_url: String) -> CancelOnDrop {
        CancelOnDrop {
            inner,
            scheduler_url,
        }
    }

    /// The scheduler's id of the job, once it accepted it.
    pub fn job_id(&self) -> Option<String> {
        self.inner
            .downcast_ref::<DistributedQueryExec<LogicalPlanNode>>()
            .and_then(|d| d.job_id())
            .map(|j| j.to_string())
    }
}

/// A job's state as the scheduler tells it: `queued`, `running`, `successful`,
/// `failed: REASON`, or `unknown` (never seen, or forgotten since).
pub async fn job_state(scheduler_url: &str, job_id: &str) -> Result<String, crate::DistError> {
    let mut client = SchedulerGrpcClient::connect(scheduler_url.to_string())
        .await
        .map_err(|e| crate::DistError::Cluster(format!("{scheduler_url}: {e}")))?;
    state_of(&mut client, job_id)
        .await
        .map_err(|e| crate::DistError::Cluster(e.to_string()))
}

async fn state_of(
    client: &mut SchedulerGrpcClient<Channel>,
    job_id: &str,
) -> Result<String, tonic::Status> {
    use ballista_core::serde::protobuf::GetJobStatusParams;
    use ballista_core::serde::protobuf::job_status::Status;
    let status = client
        .get_job_status(GetJobStatusParams {
            job_id: job_id.to_string(),
        })
        .await?
        .into_inner()
        .status
        .and_then(|s| s.status);
    Ok(match status {
        Some(Status::Queued(_)) => "queued".into(),
        Some(Status::Running(_)) => "running".into(),
        Some(Status::Successful(_)) => "successful".into(),
        Some(Status::Failed(f)) => format!("failed: {}", f.error),
        None => "unknown".into(),
    })
}

/// How often, and for how long at most, a cancellation is repeated until the job ends.
const RETRY: Duration = Duration::from_millis(100);
const PATIENCE: Duration = Duration::from_secs(300);

/// Cancels `job_id` until the scheduler reports it ended. Ballista 55 drops the cancellation
/// of a job it is still planning (`queued`: not in its cache yet) with a warning, then runs
/// the job to its end; so the request is repeated while the job is queued or running. Best
/// effort: a scheduler that cannot be reached has no job to cancel either.
pub(crate) async fn cancel_until_ended(mut client: SchedulerGrpcClient<Channel>, job_id: String) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let params = CancelJobParams {
            job_id: job_id.clone(),
        };
        if client.cancel_job(params).await.is_err() {
            return;
        }
        match state_of(&mut client, &job_id).await.as_deref() {
            Ok("queued" | "running") if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(RETRY).await
            }
            _ => return,
        }
    }
}

impl DisplayAs for CancelOnDrop {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        self.inner.fmt_as(t, f)
    }
}

impl ExecutionPlan for CancelOnDrop {
    fn name(&self) -> &'static str {
        "DistributedQueryExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.inner.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        Ok(Box::pin(Guarded {
            stream: self.inner.execute(partition, context)?,
            plan: self.inner.clone(),
            scheduler_url: self.scheduler_url.clone(),
            done: false,
        }))
    }
}

struct Guarded {
    stream: SendableRecordBatchStream,
    plan: Arc<dyn ExecutionPlan>,
    scheduler_url: String,
    done: bool,
}

impl Stream for Guarded {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = self.stream.as_mut().poll_next(cx);
        if matches!(next, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            self.done = true;
        }
        next
    }
}

impl RecordBatchStream for Guarded {
    fn schema(&self) -> SchemaRef {
        self.stream.schema()
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let Some(job) = self
            .plan
            .downcast_ref::<DistributedQueryExec<LogicalPlanNode>>()
            .and_then(|d| d.job_id())
            .map(|j| j.to_string())
        else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let url = self.scheduler_url.clone();
        runtime.spawn(async move {
            if let Ok(client) = SchedulerGrpcClient::connect(url).await {
                cancel_until_ended(client, job).await;
            }
        });
    }
}
