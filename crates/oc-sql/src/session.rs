//! The session analysts query: lake tables, views, functions.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::error::DataFusionError;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::config::SessionConfig;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::{DataFrame, SessionContext};
use oc_lake::{Lake, LakeError};
use oc_spec::ViewDef;

use crate::schema::DomainSchema;

#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    #[error("{0}")]
    DataFusion(#[from] DataFusionError),
    #[error("{0}")]
    Lake(Box<LakeError>),
    #[error(transparent)]
    Shape(#[from] crate::shape::ShapeError),
    #[error("{0}")]
    Other(String),
}

impl From<LakeError> for SqlError {
    fn from(e: LakeError) -> Self {
        SqlError::Lake(Box::new(e))
    }
}

/// Statements that would change the lake or reach files are refused: only queries run.
pub fn read_only() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// A DataFusion context with our settings and functions, and nothing registered.
/// DataFusion settings can be tuned with its environment variables (`DATAFUSION_EXECUTION_
/// TARGET_PARTITIONS=4`, …); ours below apply unless such a variable sets them.
pub fn new_context() -> SessionContext {
    new_context_with_runtime(Arc::new(RuntimeEnv::default()))
}

/// [`new_context`] on an existing runtime (memory pool, object stores).
pub fn new_context_with_runtime(runtime: Arc<RuntimeEnv>) -> SessionContext {
    let mut config = SessionConfig::from_env().unwrap_or_else(|e| {
        // Not fatal (a scheduled refresh must not stop on a tuning variable), but said.
        eprintln!("warning: DATAFUSION_* environment variables ignored: {e}");
        SessionConfig::new()
    });
    for (key, value) in [
        ("datafusion.execution.parquet.pushdown_filters", "true"),
        ("datafusion.execution.parquet.reorder_filters", "true"),
        // A hash join pushes a membership test of its build side into the probe side's scan.
        // Our joins are mostly against reference tables that hold every key (population,
        // COG), where the test prunes nothing and costs a hash lookup per row: 0.85 s instead
        // of 1.0 s for bench q3 at 20M rows; a selective join lost 0.02 s without it.
        (
            "datafusion.optimizer.enable_join_dynamic_filter_pushdown",
            "false",
        ),
        // The Parquet reader keeps the decoded filter columns of each row group to hand them
        // to the output too (its "predicate cache"), for every row, while our filters keep a
        // few: q2 at 20M rows 139 → 99 ms, q5 394 → 342 ms, q1 312 → 290 ms, the unfiltered
        // scans unchanged (bench/README.md). Measured when delta-rs' provider kept filter
        // columns in the scan's output; again with `LakeTable`, which does not: q2 166 → 128
        // ms, q5 365 → 346 ms, q1 289 → 293 ms (cache on → off; why q2 still gains was not
        // profiled).
        ("datafusion.execution.parquet.max_predicate_cache_size", "0"),
    ] {
        let set_by_env = |k: &str| std::env::var_os(k.to_uppercase().replace('.', "_")).is_some();
        // DataFusion's umbrella switch sets all the dynamic filters, the join's included.
        let umbrella = key.contains("dynamic_filter")
            && set_by_env("datafusion.optimizer.enable_dynamic_filter_pushdown");
        if !set_by_env(key) && !umbrella {
            config = config.set_str(key, value);
        }
    }
    let config = config
        .with_information_schema(true)
        .with_default_catalog_and_schema("datafusion", "public");
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        .with_physical_optimizer_rule(Arc::new(crate::scan_predicates::DedupScanPredicates))
        // `CASE … THEN debit - credit ELSE 0` and decimal differences (fast_exprs/)
        .with_physical_optimizer_rule(Arc::new(crate::fast_exprs::FastExprs))
        // Filter-only code columns read as dictionaries (dictionary_filters.rs)
        .with_physical_optimizer_rule(Arc::new(crate::dictionary_filters::DictionaryFilters))
        // One row per dictionary entry read below a DISTINCT of one column (first_keys.rs)
        .with_physical_optimizer_rule(Arc::new(crate::first_keys::FirstKeys))
        // Runs of equal keys summed before the aggregation's sums (run_sums.rs)
        .with_physical_optimizer_rule(Arc::new(crate::run_sums::RunSums))
        // The decimals only those sums read, read as the INT64 they are stored as
        // (decimal64_sums.rs)
        .with_physical_optimizer_rule(Arc::new(crate::decimal64_sums::Decimal64Sums))
        // Joins that give the thread back between batches, where a cancelled query stops
        // (yielding_joins.rs).
        .with_physical_optimizer_rule(Arc::new(crate::yielding_joins::YieldingJoins))
        // Keys that repeat the row before dropped below a DISTINCT (distinct_runs.rs). Last:
        // its filter is only right directly below the aggregation it was put under.
        .with_physical_optimizer_rule(Arc::new(crate::distinct_runs::DistinctRuns))
        .build();
    let ctx = SessionContext::new_with_state(state);
    crate::udf::register(&ctx);
    crate::bounded_functions::register(&ctx);
    ctx
}

/// The physical optimizer rules of `state` whose plans datafusion-proto can serialize: all but
/// `fast_exprs`, `distinct_runs` and `first_keys`, whose expressions exist in this process
/// only, `dictionary_filters`, whose reader factory and expression adapter do too, `run_sums`,
/// whose plan node does, and `decimal64_sums`, whose reader factory does. A session that sends physical plans to other
/// processes (oc-dist's cluster client) plans with these.
pub fn serializable_physical_rules(
    state: &datafusion::execution::SessionState,
) -> Vec<Arc<dyn datafusion::physical_optimizer::PhysicalOptimizerRule + Send + Sync>> {
    state
        .physical_optimizers()
        .iter()
        .filter(|r| {
            r.name() != crate::fast_exprs::RULE_NAME
                && r.name() != crate::dictionary_filters::RULE_NAME
                && r.name() != crate::first_keys::RULE_NAME
                && r.name() != crate::distinct_runs::RULE_NAME
                && r.name() != crate::run_sums::RULE_NAME
                && r.name() != crate::decimal64_sums::RULE_NAME
        })
        .cloned()
        .collect()
}

/// Makes sure the schema `<domain>` exists in the default catalog.
pub fn ensure_schema(ctx: &SessionContext, domain: &str) -> Result<(), SqlError> {
    let catalog = ctx
        .catalog("datafusion")
        .ok_or_else(|| SqlError::Other("no default catalog".into()))?;
    if catalog.schema(domain).is_none() {
        catalog.register_schema(domain, Arc::new(DomainSchema::default()))?;
    }
    Ok(())
}

/// Registers `provider` as `<domain>.<table>`, replacing any previous one.
pub fn register(
    ctx: &SessionContext,
    name: &str,
    provider: Arc<dyn TableProvider>,
) -> Result<(), SqlError> {
    let (domain, table) = name
        .split_once('.')
        .ok_or_else(|| SqlError::Other(format!("bad name {name}")))?;
    ensure_schema(ctx, domain)?;
    let schema = ctx
        .catalog("datafusion")
        .and_then(|c| c.schema(domain))
        .ok_or_else(|| SqlError::Other(format!("no schema {domain}")))?;
    if !schema.is::<DomainSchema>() {
        // A schema made by someone else (`CREATE SCHEMA` in the shell) refuses a name twice.
        schema.deregister_table(table)?;
    }
    // One step: a query planned meanwhile finds the old table or the new one (schema.rs).
    schema.register_table(table.to_string(), provider)?;
    Ok(())
}

/// Registers one Delta table of the lake.
pub async fn register_lake_table(
    ctx: &SessionContext,
    lake: &Lake,
    name: &str,
) -> Result<bool, SqlError> {
    let Some(table) = lake.load(name).await? else {
        return Ok(false);
    };
    let (provider, _) = provider_of(ctx, name, &table).await?;
    register(ctx, name, provider)?;
    Ok(true)
}

/// A table's provider (its current version, pinned) with its object store made known to
/// `ctx`'s runtime: a [`LakeTable`](crate::LakeTable), or delta-rs' own provider for a table
/// whose files a plain Parquet scan would misread (deletion vectors, column mapping), and for
/// every table with `OPENCOLL_LAKE_SCAN=delta-rs` (the provider before `LakeTable`: a way back
/// should the plain scan misread a table, and what the tests compare it with).
async fn provider_of(
    ctx: &SessionContext,
    name: &str,
    table: &deltalake::DeltaTable,
) -> Result<(Arc<dyn TableProvider>, Option<u64>), SqlError> {
    table
        .update_datafusion_session(&ctx.state())
        .map_err(|e| SqlError::from(LakeError::delta(name, e)))?;
    if std::env::var("OPENCOLL_LAKE_SCAN").as_deref() != Ok("delta-rs") {
        match crate::LakeTable::from_delta(name, table, true).await {
            Ok(t) => return Ok((Arc::new(t), table.version())),
            Err(crate::LakeTableError::Unsupported { .. }) => {}
            Err(e) => return Err(SqlError::Other(e.to_string())),
        }
    }
    let provider = table
        .table_provider()
        .await
        .map_err(|e| SqlError::Other(format!("table {name}: {e}")))?;
    Ok((provider, table.version()))
}

/// Lake tables loaded once, at the versions current when loaded: a refresh wave loads the
/// tables its pipelines read once, and every run of the wave plans against the same versions.
/// Object stores are registered in one runtime shared by the contexts made from it.
pub struct LakeTables {
    runtime: SessionContext,
    tables: BTreeMap<String, (Arc<dyn TableProvider>, Option<u64>)>,
    /// Tables that could not be opened, with the reason.
    pub broken: Vec<(String, String)>,
}

impl LakeTables {
    /// Loads `names` (tables missing from the lake are left out; unreadable ones are listed in
    /// `broken`). The runtime is a context of its own because delta-rs registers a table's
    /// object store through a session state.
    pub async fn load<'a>(
        lake: &Lake,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<LakeTables, SqlError> {
        Self::load_in(lake, names, Arc::new(RuntimeEnv::default())).await
    }

    /// [`LakeTables::load`] registering the tables' object stores in `runtime` (a service
    /// reloading its tables keeps one registry for all its queries).
    pub async fn load_in<'a>(
        lake: &Lake,
        names: impl IntoIterator<Item = &'a str>,
        runtime: Arc<RuntimeEnv>,
    ) -> Result<LakeTables, SqlError> {
        let runtime = new_context_with_runtime(runtime);
        if !lake.is_local() {
            // The lake's bucket, for plans that read files directly (checks on staged files).
            let (store, _) = oc_lake::store::open_store(lake.root(), lake.storage_options())
                .map_err(|e| SqlError::Other(format!("lake {}: {e}", lake.root())))?;
            let mut bucket = lake.root().clone();
            bucket.set_path("/");
            runtime.register_object_store(&bucket, std::sync::Arc::from(store));
        }
        let mut tables = BTreeMap::new();
        let mut broken = Vec::new();
        for name in names {
            if tables.contains_key(name) {
                continue;
            }
            let loaded = match lake.load(name).await {
                Ok(Some(t)) => provider_of(&runtime, name, &t).await,
                Ok(None) => continue,
                Err(e) => Err(e.into()),
            };
            match loaded {
                Ok(p) => {
                    tables.insert(name.to_string(), p);
                }
                // One unreadable table must not take the others down: it is reported instead.
                Err(e) => broken.push((name.to_string(), e.to_string())),
            }
        }
        Ok(LakeTables {
            runtime,
            tables,
            broken,
        })
    }

    /// Every table of the lake.
    pub async fn load_all(lake: &Lake) -> Result<LakeTables, SqlError> {
        Self::load_all_in(lake, Arc::new(RuntimeEnv::default())).await
    }

    /// Every table of the lake, their object stores registered in `runtime`.
    pub async fn load_all_in(
        lake: &Lake,
        runtime: Arc<RuntimeEnv>,
    ) -> Result<LakeTables, SqlError> {
        let names = lake.list_tables().await?;
        Self::load_in(lake, names.iter().map(String::as_str), runtime).await
    }

    /// The version loaded, for tables present in the lake.
    pub fn version(&self, name: &str) -> Option<u64> {
        self.tables.get(name).and_then(|(_, v)| *v)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.tables.contains_key(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tables.keys().map(String::as_str)
    }

    /// A new context holding these tables (and the operational tables, empty when the lake
    /// has none yet): what a run or a check plans against. Contexts share the runtime (object
    /// stores), not their catalogs, so what one registers (`input`) stays its own.
    pub fn context(&self) -> Result<SessionContext, SqlError> {
        let ctx = new_context_with_runtime(self.runtime.runtime_env());
        for (name, (provider, _)) in &self.tables {
            register(&ctx, name, provider.clone())?;
        }
        register_empty_ops(&ctx, |n| self.tables.contains_key(n))?;
        Ok(ctx)
    }
}

/// Registers, empty, the operational tables for which `present` says no.
pub fn register_empty_ops(
    ctx: &SessionContext,
    present: impl Fn(&str) -> bool,
) -> Result<(), SqlError> {
    for (name, schema) in oc_lake::ops::TABLES {
        if !present(name) {
            // EmptyTable, not an empty MemTable: plans that read it can be sent to a cluster.
            let empty = datafusion::datasource::empty::EmptyTable::new(schema());
            register(ctx, name, Arc::new(empty))?;
        }
    }
    Ok(())
}

pub struct LakeSession {
    pub ctx: SessionContext,
    pub tables: Vec<String>,
    pub views: Vec<String>,
    /// Views that could not be created, with the reason (e.g. a table not refreshed yet).
    pub broken_views: Vec<(ViewDef, String)>,
    /// Lake tables that could not be opened, with the reason.
    pub broken_tables: Vec<(String, String)>,
}

impl LakeSession {
    pub async fn open(lake: &Lake, views: &[ViewDef]) -> Result<LakeSession, SqlError> {
        Self::open_in(lake, views, Arc::new(RuntimeEnv::default())).await
    }

    /// [`LakeSession::open`] on `runtime` (its object stores, where the tables' are registered).
    pub async fn open_in(
        lake: &Lake,
        views: &[ViewDef],
        runtime: Arc<RuntimeEnv>,
    ) -> Result<LakeSession, SqlError> {
        let loaded = LakeTables::load_all_in(lake, runtime).await?;
        let ctx = loaded.context()?;
        let (views, broken_views) = register_views(&ctx, views).await?;
        Ok(LakeSession {
            ctx,
            tables: loaded.names().map(str::to_string).collect(),
            views,
            broken_views,
            broken_tables: loaded.broken,
        })
    }

    /// Why the tables and views `sql` names are unavailable, one line each (a view whose
    /// inputs are not refreshed yet, say): warnings for a query, not for the whole lake.
    pub fn unavailable_in(&self, sql: &str) -> Vec<String> {
        let Ok(refs) = references(&self.ctx, sql) else {
            return Vec::new();
        };
        let first = |e: &str| e.lines().next().unwrap_or("").to_string();
        let tables = self
            .broken_tables
            .iter()
            .filter(|(t, _)| refs.contains(t))
            .map(|(t, e)| format!("table {t} is unavailable: {}", first(e)));
        let views = self
            .broken_views
            .iter()
            .filter(|(v, _)| refs.contains(&v.name))
            .map(|(v, e)| {
                format!(
                    "view {} ({}) is unavailable: {}",
                    v.name,
                    v.path.display(),
                    first(e)
                )
            });
        tables.chain(views).collect()
    }

    /// Plans one read-only query (refused when too long or too deep to plan safely).
    pub async fn query(&self, sql: &str) -> Result<DataFrame, SqlError> {
        crate::shape::check(sql)?;
        self.ctx
            .sql_with_options(sql, read_only())
            .await
            .map_err(|e| match crate::shape::from_datafusion(&e) {
                Some(s) => SqlError::Shape(s),
                None => self.unknown_table(&e).unwrap_or_else(|| e.into()),
            })
    }

    /// DataFusion's "table 'datafusion.public.communes' not found" said with the lake's
    /// names: the one closest, or where to see them all.
    fn unknown_table(&self, e: &DataFusionError) -> Option<SqlError> {
        let text = e.find_root().to_string();
        let start = text.find("table '")? + "table '".len();
        let name = &text[start..start + text[start..].find("' not found")?];
        let name = name.strip_prefix("datafusion.").unwrap_or(name);
        let name = name.strip_prefix("public.").unwrap_or(name);
        let known = self.tables.iter().chain(&self.views).map(String::as_str);
        let hint = match oc_spec::diag::did_you_mean(name, known) {
            Some(close) => format!("did you mean {close}?"),
            None => "`opencoll catalog` lists the lake's tables and views (a pipeline's table is there once it has been refreshed)".into(),
        };
        Some(SqlError::Other(format!(
            "no table or view {name} in the lake: {hint}"
        )))
    }
}

/// Tables and views a query reads, as `schema.table` (lowercased, unqualified names as is).
pub fn references(ctx: &SessionContext, sql: &str) -> Result<Vec<String>, SqlError> {
    let state = ctx.state();
    let dialect = state.config().options().sql_parser.dialect;
    let stmt = state.sql_to_statement(sql, &dialect)?;
    let refs = state.resolve_table_references(&stmt)?;
    let mut out: Vec<String> = refs
        .iter()
        .map(|r| match r.schema() {
            Some(s) => format!("{s}.{}", r.table()),
            None => r.table().to_string(),
        })
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// Creates the views in dependency order. A view that fails (bad SQL, a missing table) is
/// returned with its error and the others are still created. A materialized view whose table
/// is in the lake is read from that table (already in `ctx`); until its first refresh it is
/// computed as a view.
pub async fn register_views(
    ctx: &SessionContext,
    views: &[ViewDef],
) -> Result<(Vec<String>, Vec<(ViewDef, String)>), SqlError> {
    let by_name: BTreeMap<&str, &ViewDef> = views.iter().map(|v| (v.name.as_str(), v)).collect();
    let mut deps: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut broken: Vec<(ViewDef, String)> = Vec::new();
    for v in views {
        match references(ctx, &v.sql) {
            Ok(refs) => {
                deps.insert(
                    &v.name,
                    refs.into_iter()
                        .filter(|r| by_name.contains_key(r.as_str()) && r != &v.name)
                        .collect(),
                );
            }
            Err(e) => broken.push(((*v).clone(), e.to_string())),
        }
    }
    let mut created = Vec::new();
    let mut failed: BTreeSet<String> = broken.iter().map(|(v, _)| v.name.clone()).collect();
    let mut pending: Vec<&str> = deps.keys().copied().collect();
    while !pending.is_empty() {
        let ready: Vec<&str> = pending
            .iter()
            .copied()
            .filter(|n| {
                deps[n]
                    .iter()
                    .all(|d| created.contains(d) || failed.contains(d))
            })
            .collect();
        if ready.is_empty() {
            for n in &pending {
                broken.push((
                    (*by_name[n]).clone(),
                    format!(
                        "views depend on each other in a cycle: {}",
                        pending.join(", ")
                    ),
                ));
            }
            break;
        }
        for n in ready {
            pending.retain(|p| *p != n);
            let v = by_name[n];
            if v.materialized && ctx.table_exist(v.name.as_str()).unwrap_or(false) {
                created.push(n.to_string());
                continue;
            }
            if let Some(d) = deps[n].iter().find(|d| failed.contains(*d)) {
                broken.push((v.clone(), format!("depends on view {d}, which failed")));
                failed.insert(n.to_string());
                continue;
            }
            match ctx.sql_with_options(&v.sql, read_only()).await {
                Ok(df) => {
                    register(ctx, &v.name, df.into_view())?;
                    created.push(n.to_string());
                }
                Err(e) => {
                    broken.push((v.clone(), e.to_string()));
                    failed.insert(n.to_string());
                }
            }
        }
    }
    Ok((created, broken))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn view(name: &str, sql: &str) -> ViewDef {
        let (d, v) = name.split_once('.').unwrap();
        ViewDef {
            name: name.into(),
            domain: d.into(),
            view: v.into(),
            path: PathBuf::from(format!("sql/{d}/{v}.sql")),
            sql: sql.into(),
            materialized: false,
        }
    }

    #[test]
    fn datafusion_environment_variables_tune_the_session() {
        let pushdown = |ctx: &SessionContext| {
            ctx.state()
                .config()
                .options()
                .execution
                .parquet
                .pushdown_filters
        };
        // Our defaults, then DataFusion's variable over it. (Only this test sets the variable.)
        assert!(pushdown(&new_context()));
        let join_filter = |ctx: &SessionContext| {
            ctx.state()
                .config()
                .options()
                .optimizer
                .enable_join_dynamic_filter_pushdown
        };
        assert!(!join_filter(&new_context()));
        let cache = |ctx: &SessionContext| {
            ctx.state()
                .config()
                .options()
                .execution
                .parquet
                .max_predicate_cache_size
        };
        assert_eq!(cache(&new_context()), Some(0));
        let var = "DATAFUSION_EXECUTION_PARQUET_PUSHDOWN_FILTERS";
        // SAFETY: no other test of this crate reads or writes this variable.
        unsafe { std::env::set_var(var, "false") };
        let tuned = new_context();
        unsafe { std::env::remove_var(var) };
        assert!(!pushdown(&tuned));
        assert!(pushdown(&new_context()));
        // DataFusion's umbrella switch for dynamic filters wins over our join default.
        for var in [
            "DATAFUSION_OPTIMIZER_ENABLE_JOIN_DYNAMIC_FILTER_PUSHDOWN",
            "DATAFUSION_OPTIMIZER_ENABLE_DYNAMIC_FILTER_PUSHDOWN",
        ] {
            // SAFETY: as above; other tests only get dynamic filters, not other results.
            unsafe { std::env::set_var(var, "true") };
            let tuned = new_context();
            unsafe { std::env::remove_var(var) };
            assert!(join_filter(&tuned), "{var}");
        }
    }

    /// 300 queries racing a refresh that registers the table again and again always find it
    /// (they found no table between a deregister and a register before `DomainSchema`).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_table_registered_again_is_never_missing_for_a_query() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let ctx = new_context();
        let provider = |n: i64| {
            let batch = datafusion::arrow::record_batch::RecordBatch::try_from_iter([(
                "n",
                Arc::new(datafusion::arrow::array::Int64Array::from(vec![n]))
                    as datafusion::arrow::array::ArrayRef,
            )])
            .unwrap();
            Arc::new(
                datafusion::datasource::MemTable::try_new(batch.schema(), vec![vec![batch]])
                    .unwrap(),
            ) as Arc<dyn TableProvider>
        };
        register(&ctx, "a.t", provider(0)).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (ctx, stop) = (ctx.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    register(&ctx, "a.t", provider(n)).unwrap();
                }
            })
        };
        let mut seen = BTreeSet::new();
        for _ in 0..300 {
            let batches = ctx.sql("SELECT n FROM a.t").await.unwrap().collect().await;
            let b = batches.unwrap();
            let n = b[0]
                .column(0)
                .as_any()
                .downcast_ref::<datafusion::arrow::array::Int64Array>()
                .unwrap()
                .value(0);
            seen.insert(n);
        }
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();
        assert!(seen.len() > 1, "the queries saw one version only: {seen:?}");
    }

    #[tokio::test]
    async fn views_are_created_in_dependency_order_and_failures_isolated() {
        let ctx = new_context();
        let views = vec![
            view("a.top", "SELECT x * 2 AS y FROM a.base"),
            view("a.base", "SELECT 21 AS x"),
            view("a.bad", "SELECT * FROM nowhere.t"),
            view("a.after_bad", "SELECT * FROM a.bad"),
        ];
        let (created, broken) = register_views(&ctx, &views).await.unwrap();
        assert_eq!(created, vec!["a.base", "a.top"]);
        let names: Vec<_> = broken.iter().map(|(v, _)| v.name.as_str()).collect();
        assert_eq!(names, vec!["a.bad", "a.after_bad"]);
        let out = ctx
            .sql("SELECT y FROM a.top")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let y = arrow::util::pretty::pretty_format_batches(&out)
            .unwrap()
            .to_string();
        assert!(y.contains("42"), "{y}");
    }

    #[tokio::test]
    async fn queries_are_read_only() {
        let ctx = new_context();
        for sql in [
            "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'",
            "COPY (SELECT 1) TO '/tmp/x.csv'",
            "CREATE TABLE t AS SELECT 1",
            "DROP TABLE t",
            "SET datafusion.execution.batch_size = 1",
        ] {
            assert!(
                ctx.sql_with_options(sql, read_only()).await.is_err(),
                "{sql}"
            );
        }
    }

    #[tokio::test]
    async fn domain_functions_in_sql() {
        let ctx = new_context();
        let out = ctx
            .sql("SELECT insee_from_dgfip('02A', '004') AS a, insee_from_dgfip('101', 101) AS b, dep_from_dgfip('038') AS c, dep_from_dgfip(NULL) AS d")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let s = arrow::util::pretty::pretty_format_batches(&out)
            .unwrap()
            .to_string();
        assert!(s.contains("| 2A004 | 97101 | 38 |   |"), "{s}");
    }
}

/// What the tests of the plan rules share: our session with or without one rule (without it,
/// DataFusion's plan for what the rule changes), and a query's result as text.
#[cfg(test)]
pub(crate) mod rule_tests {
    use datafusion::execution::SessionStateBuilder;
    use datafusion::prelude::SessionContext;

    /// Our session, less the physical rule `without`, with `settings` (`datafusion.…` keys).
    pub(crate) fn context(without: Option<&str>, settings: &[(&str, &str)]) -> SessionContext {
        let state = super::new_context().state();
        let mut config = state.config().clone();
        for (k, v) in settings {
            config = config.set_str(k, v);
        }
        let rules = state
            .physical_optimizers()
            .iter()
            .filter(|r| Some(r.name()) != without)
            .cloned()
            .collect();
        SessionContext::new_with_state(
            SessionStateBuilder::new_from_existing(state)
                .with_config(config)
                .with_physical_optimizer_rules(rules)
                .build(),
        )
    }

    /// [`context`] with the folder `dir` of Parquet files registered as `t`, partitioned by
    /// the `Int32` column `partition` (`partition=N/` subfolders), read in batches of
    /// `batch_size` rows.
    pub(crate) async fn partitioned_parquet(
        without: Option<&str>,
        batch_size: &str,
        dir: &std::path::Path,
        partition: &str,
    ) -> SessionContext {
        let ctx = context(without, &[("datafusion.execution.batch_size", batch_size)]);
        let options = datafusion::prelude::ParquetReadOptions::default().table_partition_cols(
            vec![(partition.to_string(), arrow::datatypes::DataType::Int32)],
        );
        ctx.register_parquet("t", dir.to_str().unwrap(), options)
            .await
            .unwrap();
        ctx
    }

    /// The physical plan of `sql`.
    pub(crate) async fn physical_plan(
        ctx: &SessionContext,
        sql: &str,
    ) -> std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan> {
        ctx.sql(sql)
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap()
    }

    /// The rows the plan nodes of type `T` output when `sql` runs.
    pub(crate) async fn output_rows<T: datafusion::physical_plan::ExecutionPlan>(
        ctx: &SessionContext,
        sql: &str,
    ) -> usize {
        use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
        let plan = physical_plan(ctx, sql).await;
        datafusion::physical_plan::collect(std::sync::Arc::clone(&plan), ctx.task_ctx())
            .await
            .unwrap();
        let mut n = 0;
        plan.apply(|node| {
            if node.is::<T>() {
                n += node.metrics().and_then(|m| m.output_rows()).unwrap_or(0);
            }
            Ok(TreeNodeRecursion::Continue)
        })
        .unwrap();
        n
    }

    /// The result of `sql`, as a table of text.
    pub(crate) async fn rows(ctx: &SessionContext, sql: &str) -> String {
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string()
    }
}
