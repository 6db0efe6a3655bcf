//! A query planned by the client and run by the cluster, for the plans whose logical form
//! datafusion-proto cannot carry to the scheduler yet (an `unnest` of an expression, in
//! DataFusion 55, names a placeholder column the decoder does not find). The physical plan is
//! what the client would have run itself: Ballista splits it into stages at its exchanges.

use std::fmt;
use std::sync::Arc;

use ballista_core::config::BallistaConfig;
use ballista_core::execution_plans::execute_physical_plan;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::Result;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties, displayable,
};
use datafusion_proto::protobuf::PhysicalPlanNode;
use futures::{StreamExt, TryStreamExt};

use crate::codec::LakePhysicalCodec;

/// Runs `plan` on the scheduler at `scheduler_url`; one output partition.
#[derive(Debug)]
pub struct ClusterExec {
    plan: Arc<dyn ExecutionPlan>,
    scheduler_url: String,
    properties: Arc<PlanProperties>,
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
        }
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
        let (plan, url) = (self.plan.clone(), self.scheduler_url.clone());
        let config = context.session_config().clone();
        let session = context.session_id();
        let stream = futures::stream::once(async move {
            execute_physical_plan::<PhysicalPlanNode>(
                url,
                &BallistaConfig::default(),
                plan,
                &LakePhysicalCodec::default(),
                session,
                config,
            )
            .await
        })
        .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.plan.schema(),
            stream.boxed(),
        )))
    }
}
