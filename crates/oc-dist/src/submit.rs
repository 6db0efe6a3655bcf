//! A query planned by the client and run by the cluster, for the plans whose logical form
//! datafusion-proto cannot carry to the scheduler yet (an `unnest` of an expression, in
//! DataFusion 55, names a placeholder column the decoder does not find). The physical plan is
//! what the client would have run itself: Ballista splits it into stages at its exchanges.
//!
//! Submitted here rather than by `ballista_core::execute_physical_plan`, which keeps the job's
//! id to itself: a job whose results nobody reads any more (a `serve` client gone, a time
//! limit fired) must be cancelled, not left to occupy the executors.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ballista_core::client::BallistaClient;
use ballista_core::config::BallistaConfig;
use ballista_core::serde::protobuf::execute_query_params::Query;
use ballista_core::serde::protobuf::get_job_status_result::FlightProxy;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::serde::protobuf::{
    CancelJobParams, ExecuteQueryParams, GetJobStatusParams, KeyValuePair, PartitionLocation,
    SuccessfulJob, execute_query_result, job_status,
};
use ballista_core::utils::{GrpcClientConfig, create_grpc_client_endpoint};
use ballista_core::{BALLISTA_VERSION, version};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties, displayable,
};
use datafusion::prelude::SessionConfig;
use datafusion_proto::physical_plan::AsExecutionPlan;
use datafusion_proto::protobuf::PhysicalPlanNode;
use futures::{StreamExt, TryStreamExt};
use tokio::sync::oneshot;

use crate::codec::LakePhysicalCodec;

/// How often the job's state is asked while it runs (Ballista's own client waits as long).
const POLL: Duration = Duration::from_millis(50);

/// Runs `plan` on the scheduler at `scheduler_url`; one output partition.
#[derive(Debug)]
pub struct ClusterExec {
    plan: Arc<dyn ExecutionPlan>,
    scheduler_url: String,
    properties: Arc<PlanProperties>,
    job_id: Arc<Mutex<Option<String>>>,
}

impl ClusterExec {
    pub fn new(plan: Arc<dyn ExecutionPlan>, scheduler_url: String) -> ClusterExec {
        let properties = PlanProperties::new(
            EquivalenceProperties::new(plan.schema()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        ClusterExec {
            plan,
            scheduler_url,
            properties: Arc::new(properties),
            job_id: Arc::default(),
        }
    }

    /// The scheduler's id of the job, once it accepted it.
    pub fn job_id(&self) -> Option<String> {
        self.job_id.lock().ok().and_then(|j| j.clone())
    }
}

impl DisplayAs for ClusterExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "ClusterExec: scheduler={}, plan=[{}]",
            self.scheduler_url,
            displayable(self.plan.as_ref()).one_line()
        )
    }
}

impl ExecutionPlan for ClusterExec {
    fn name(&self) -> &'static str {
        "ClusterExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    /// None to the local optimizers: the plan inside was optimized already and runs elsewhere.
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
        _partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let query = query(&self.plan, &context)?;
        let job = Job {
            scheduler_url: self.scheduler_url.clone(),
            config: BallistaConfig::default(),
            job_id: self.job_id.clone(),
        };
        let (grpc, url) = (
            GrpcClientConfig::from(&job.config),
            self.scheduler_url.clone(),
        );
        // The job is followed by a task of its own, which outlives this stream: when the
        // stream is dropped before the job ends, the task sees its receiver gone and cancels
        // the job, even one whose submission was still under way.
        let (done, finished) = oneshot::channel();
        let runtime = tokio::runtime::Handle::try_current().map_err(|e| {
            DataFusionError::Execution(format!("a cluster job needs a runtime: {e}"))
        })?;
        runtime.spawn(job.follow(query, done));
        let stream = futures::stream::once(async move {
            let (locations, proxy) = finished.await.map_err(|_| {
                DataFusionError::Execution("the cluster job's follower stopped".into())
            })??;
            let fetches = locations.into_iter().map(move |l| {
                futures::stream::once(fetch(l, grpc.clone(), proxy.clone(), url.clone()))
                    .try_flatten()
            });
            Ok::<_, DataFusionError>(futures::stream::iter(fetches).flatten())
        })
        .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.plan.schema(),
            stream.boxed(),
        )))
    }
}

/// What a successful job leaves: where its output partitions are, and how to reach them.
type Outcome = (Vec<PartitionLocation>, Option<FlightProxy>);

/// The submission of `plan` with the session's settings.
fn query(plan: &Arc<dyn ExecutionPlan>, context: &TaskContext) -> Result<ExecuteQueryParams> {
    let node =
        PhysicalPlanNode::try_from_physical_plan(plan.clone(), &LakePhysicalCodec::default())?;
    let mut buf = Vec::new();
    node.try_encode(&mut buf)?;
    let config: &SessionConfig = context.session_config();
    let settings = config
        .options()
        .entries()
        .into_iter()
        .map(|e| KeyValuePair {
            key: e.key,
            value: e.value,
        })
        .collect();
    Ok(ExecuteQueryParams {
        session_id: context.session_id(),
        settings,
        operation_id: uuid::Uuid::now_v7().to_string(),
        query: Some(Query::PhysicalPlan(buf)),
    })
}

struct Job {
    scheduler_url: String,
    config: BallistaConfig,
    job_id: Arc<Mutex<Option<String>>>,
}

impl Job {
    /// Submits the job and waits for its end, or for nobody to want it any more.
    async fn follow(self, query: ExecuteQueryParams, mut done: oneshot::Sender<Result<Outcome>>) {
        let followed = async {
            let mut scheduler = self.connect().await?;
            let job_id = self.submit(&mut scheduler, query).await?;
            if let Ok(mut slot) = self.job_id.lock() {
                *slot = Some(job_id.clone());
            }
            Ok::<_, DataFusionError>((scheduler, job_id))
        };
        // A receiver gone during the submission still gets the job cancelled below.
        let (mut scheduler, job_id) = match followed.await {
            Ok(submitted) => submitted,
            Err(e) => {
                let _ = done.send(Err(e));
                return;
            }
        };
        let outcome = loop {
            tokio::select! {
                _ = done.closed() => {
                    crate::cancel::cancel_until_ended(scheduler, job_id).await;
                    return;
                }
                state = scheduler.get_job_status(GetJobStatusParams { job_id: job_id.clone() }) => {
                    let state = match state {
                        Ok(s) => s.into_inner(),
                        Err(e) => break Err(cluster(format!("job {job_id}: {}", e.message()))),
                    };
                    match state.status.and_then(|s| s.status) {
                        Some(job_status::Status::Successful(SuccessfulJob { partition_location, .. })) => {
                            break Ok((partition_location, state.flight_proxy));
                        }
                        Some(job_status::Status::Failed(f)) => {
                            break Err(cluster(format!("job {job_id} failed: {}", f.error)));
                        }
                        _ => {}
                    }
                }
            }
            tokio::select! {
                _ = done.closed() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        };
        let _ = done.send(outcome);
    }

    async fn connect(&self) -> Result<SchedulerGrpcClient<tonic::transport::Channel>> {
        let grpc = GrpcClientConfig::from(&self.config);
        let channel = create_grpc_client_endpoint(self.scheduler_url.clone(), Some(&grpc))
            .map_err(|e| cluster(format!("{}: {e}", self.scheduler_url)))?
            .connect()
            .await
            .map_err(|e| cluster(format!("{}: {e}", self.scheduler_url)))?;
        let max = self.config.grpc_client_max_message_size();
        Ok(SchedulerGrpcClient::new(channel)
            .max_encoding_message_size(max)
            .max_decoding_message_size(max))
    }

    /// The job's id, once the scheduler accepted it (with this client's version, which
    /// schedulers require since 55.0.0).
    async fn submit(
        &self,
        scheduler: &mut SchedulerGrpcClient<tonic::transport::Channel>,
        query: ExecuteQueryParams,
    ) -> Result<String> {
        let mut request = tonic::Request::new(query);
        version::insert_version_header(request.metadata_mut());
        let response = scheduler
            .execute_query(request)
            .await
            .map_err(|e| cluster(e.message().to_string()))?;
        let compatible = version::check_compatibility(
            Some(BALLISTA_VERSION),
            version::version_from_metadata(response.metadata()),
        );
        match response.into_inner().result {
            Some(execute_query_result::Result::Success(s)) => {
                if let Err(e) = compatible {
                    let _ = scheduler
                        .cancel_job(CancelJobParams { job_id: s.job_id })
                        .await;
                    return Err(cluster(e));
                }
                Ok(s.job_id)
            }
            Some(execute_query_result::Result::Failure(f)) => {
                compatible.map_err(cluster)?;
                Err(cluster(format!("the scheduler refused the job: {f:?}")))
            }
            None => Err(cluster("the scheduler answered without a job".into())),
        }
    }
}

/// The batches of one output partition, from the executor that holds it or the proxy the
/// scheduler named.
async fn fetch(
    location: PartitionLocation,
    grpc: GrpcClientConfig,
    proxy: Option<FlightProxy>,
    scheduler_url: String,
) -> Result<SendableRecordBatchStream> {
    let layout = location.layout();
    let executor = location
        .executor_meta
        .ok_or_else(|| cluster("a partition without its executor".into()))?;
    let partition = location
        .partition_id
        .ok_or_else(|| cluster("a partition without its id".into()))?;
    let (host, port) = match proxy {
        Some(FlightProxy::External(address)) => host_port(&format!("http://{address}"))?,
        Some(FlightProxy::Local(true)) => host_port(&scheduler_url)?,
        Some(FlightProxy::Local(false)) | None => (executor.host.clone(), executor.port as u16),
    };
    let mut client = BallistaClient::try_new(
        &host,
        port,
        grpc.max_message_size,
        false,
        None,
        grpc.io_retries_times,
        grpc.io_retry_wait_time_ms,
        grpc.initial_connection_window_size,
        grpc.initial_stream_window_size,
    )
    .await
    .map_err(|e| cluster(format!("{host}:{port}: {e}")))?;
    client
        .fetch_partition_proxied(
            &executor.id,
            &partition.into(),
            location.file_id,
            layout,
            &executor.host,
            executor.port as u16,
            true,
        )
        .await
        .map_err(|e| cluster(e.to_string()))
}

fn host_port(address: &str) -> Result<(String, u16)> {
    let url = url::Url::parse(address).map_err(|e| cluster(format!("{address}: {e}")))?;
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => Ok((host.to_string(), port)),
        _ => Err(cluster(format!("{address}: no host and port"))),
    }
}

fn cluster(message: String) -> DataFusionError {
    DataFusionError::Execution(format!("cluster: {message}"))
}
