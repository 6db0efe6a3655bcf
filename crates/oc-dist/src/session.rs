//! The analyst's session on a cluster: the same tables, views and functions as the local one
//! (`oc_sql::LakeSession`), but every plan that reads the lake runs on Ballista. Plans that
//! read only the session's own catalog (information_schema, pg_catalog, `SELECT 1`) stay
//! here: no other node has that catalog.

use std::sync::Arc;

use async_trait::async_trait;
use ballista_core::config::BallistaConfig;
use ballista_core::extension::{SessionConfigExt, SessionStateExt};
use ballista_core::planner::BallistaQueryPlanner;
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::source_as_provider;
use datafusion::error::Result;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};
use datafusion::prelude::SessionContext;
use datafusion_proto::bytes::{
    logical_plan_from_bytes_with_extension_codec, logical_plan_to_bytes_with_extension_codec,
};
use datafusion_proto::protobuf::LogicalPlanNode;
use oc_lake::Lake;
use oc_spec::ViewDef;
use oc_sql::LakeSession;

use crate::DistError;
use crate::cancel::CancelOnDrop;
use crate::codec::{LakeLogicalCodec, LakePhysicalCodec};
use crate::submit::ClusterExec;
use oc_sql::LakeTable;

/// The scheduler's gRPC URL (`http://host:port`) from `ballista://host:port`.
pub fn scheduler_url(engine: &str) -> Result<String, DistError> {
    let bad = |why: &str| {
        DistError::Engine(format!(
            "--engine {engine}: {why}; write ballista://HOST:PORT (the address `opencoll scheduler` listens on), or `local`"
        ))
    };
    let url = url::Url::parse(engine).map_err(|e| bad(&e.to_string()))?;
    if url.scheme() != "ballista" {
        return Err(bad("unknown engine"));
    }
    let host = url.host_str().ok_or_else(|| bad("no host"))?;
    let port = url.port().ok_or_else(|| bad("no port"))?;
    Ok(format!("http://{host}:{port}"))
}

/// Whether `plan` reads a lake table (the only tables a cluster can read).
fn reads_lake(plan: &LogicalPlan) -> Result<bool> {
    let mut lake = false;
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && source_as_provider(&scan.source).is_ok_and(|p| p.is::<LakeTable>())
        {
            lake = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(lake)
}

/// Sends plans that read the lake to the cluster, plans the others here. A lake plan goes as
/// a logical plan (the scheduler plans it, Ballista's usual path) when it survives a round
/// trip through datafusion-proto; otherwise it is planned here and sent as a physical plan.
struct RoutingPlanner {
    cluster: BallistaQueryPlanner<LogicalPlanNode>,
    local: DefaultPhysicalPlanner,
    codec: Arc<LakeLogicalCodec>,
    scheduler_url: String,
}

impl std::fmt::Debug for RoutingPlanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoutingPlanner")
            .field("scheduler_url", &self.scheduler_url)
            .finish_non_exhaustive()
    }
}

impl RoutingPlanner {
    /// Whether the scheduler will read `plan` back as it is (the same schema).
    fn travels(&self, plan: &LogicalPlan, state: &dyn Session) -> bool {
        let Ok(bytes) = logical_plan_to_bytes_with_extension_codec(plan, self.codec.as_ref())
        else {
            return false;
        };
        let ctx = state.task_ctx();
        logical_plan_from_bytes_with_extension_codec(&bytes, &ctx, self.codec.as_ref())
            .is_ok_and(|back| back.schema().as_arrow() == plan.schema().as_arrow())
    }
}

#[async_trait]
impl QueryPlanner for RoutingPlanner {
    async fn create_physical_plan(
        &self,
        plan: &LogicalPlan,
        state: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if !reads_lake(plan)? || matches!(plan, LogicalPlan::Explain(_)) {
            return self.local.create_physical_plan(plan, state).await;
        }
        if self.travels(plan, state) {
            let job = self.cluster.create_physical_plan(plan, state).await?;
            return Ok(Arc::new(CancelOnDrop::new(job, self.scheduler_url.clone())));
        }
        let physical = self.local.create_physical_plan(plan, state).await?;
        Ok(Arc::new(ClusterExec::new(
            physical,
            self.scheduler_url.clone(),
        )))
    }
}

/// A context with our settings and functions whose lake plans run on the scheduler at
/// `scheduler_url`.
pub fn client_context(scheduler_url: &str) -> Result<SessionContext, DistError> {
    let local = oc_sql::session::new_context_with_runtime(crate::store::runtime(None)?);
    let logical = Arc::new(LakeLogicalCodec::default());
    let planner = RoutingPlanner {
        cluster: BallistaQueryPlanner::with_extension(
            scheduler_url.to_string(),
            BallistaConfig::default(),
            logical.clone(),
        ),
        local: DefaultPhysicalPlanner::default(),
        codec: logical.clone(),
        scheduler_url: scheduler_url.to_string(),
    };
    let state = local.state();
    // Physical plans made here may be sent to the cluster: only rules whose plans travel.
    let rules = oc_sql::session::serializable_physical_rules(&state);
    let config = state
        .config()
        .clone()
        .upgrade_for_ballista()
        // The client asks for the job's state instead of waiting for the scheduler to push
        // it: the job id is then known as soon as the job is accepted, so that a job nobody
        // reads any more can be cancelled (`cancel.rs`).
        .set_bool(ballista_core::config::BALLISTA_CLIENT_PULL, true)
        .with_ballista_logical_extension_codec(logical)
        .with_ballista_physical_extension_codec(Arc::new(LakePhysicalCodec::default()))
        .with_ballista_query_planner(Arc::new(planner));
    let state = SessionStateBuilder::new_from_existing(state)
        .with_config(config)
        .with_physical_optimizer_rules(rules)
        .build()
        .upgrade_for_ballista(scheduler_url.to_string())?;
    let ctx = SessionContext::new_with_state(state);
    // The upgrade replaced the session's functions with Ballista's list: ours again.
    oc_sql::udf::register(&ctx);
    Ok(ctx)
}

/// [`LakeSession::open`] on a cluster: the lake's tables as [`LakeTable`]s (their current
/// versions), the views of `sql/` on them.
pub async fn open_session(
    lake: &Lake,
    views: &[ViewDef],
    scheduler_url: &str,
) -> Result<LakeSession, DistError> {
    let ctx = client_context(scheduler_url)?;
    let mut tables = Vec::new();
    let mut broken_tables = Vec::new();
    for name in lake.list_tables().await? {
        let table = match lake.load(&name).await {
            Ok(Some(t)) => LakeTable::from_delta(&name, &t, false)
                .await
                .map_err(DistError::from),
            Ok(None) => continue,
            Err(e) => Err(e.into()),
        };
        match table {
            Ok(t) => {
                oc_sql::session::register(&ctx, &name, Arc::new(t))?;
                tables.push(name);
            }
            Err(e) => broken_tables.push((name, e.to_string())),
        }
    }
    oc_sql::session::register_empty_ops(&ctx, |n| tables.iter().any(|t| t == n))?;
    let (views, broken_views) = oc_sql::session::register_views(&ctx, views).await?;
    Ok(LakeSession {
        ctx,
        tables,
        views,
        broken_views,
        broken_tables,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_urls() {
        assert_eq!(
            scheduler_url("ballista://10.0.0.5:50050").unwrap(),
            "http://10.0.0.5:50050"
        );
        for bad in ["ballista://host", "spark://h:1", "h:50050", "ballista://:1"] {
            let e = scheduler_url(bad).unwrap_err().to_string();
            assert!(e.contains("ballista://HOST:PORT"), "{bad}: {e}");
        }
    }
}
