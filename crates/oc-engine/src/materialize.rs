//! Materialized views (`materialize: table` on a view in catalog.yaml, dbt's
//! `materialized: table`): after the pipelines, `refresh` computes each such view into a Delta
//! table of the same name, in one commit, and records the run in `_ops.runs` like a
//! pipeline's. A view is recomputed only when its SQL (or `cluster_by`) changed or a lake table
//! it reads, directly or through plain views, has a new version. Sessions then read the table
//! instead of computing the view (`oc_sql::session::register_views`), and releases publish it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use oc_lake::{Lake, SchemaChange, TableWrite, WriteMode};
use oc_spec::Project;
use oc_spec::project::ViewDef;
use oc_sql::LakeTables;
use oc_sql::session::{read_only, references, register_views};
use sha2::{Digest, Sha256};

use crate::error::{RefreshError, RunError};
use crate::incremental::{Decision, LastRun};
use crate::refresh::{Event, Observer, RefreshOptions, RefreshSummary, Selection};
use crate::run::{RunReport, record};

fn cluster_by<'a>(project: &'a Project, view: &ViewDef) -> &'a [String] {
    project
        .catalog
        .datasets
        .get(&view.name)
        .map(|d| d.cluster_by.as_slice())
        .unwrap_or(&[])
}

/// What a view reads, through the plain views it names: those plain views (name → SQL) and
/// the other names it reaches (lake tables and materialized views, which are tables once
/// refreshed). The one walk behind ordering, staleness and the definition's hash.
struct Reads<'a> {
    through: BTreeMap<&'a str, &'a str>,
    reached: BTreeSet<String>,
}

fn reads<'a>(
    ctx: &datafusion::prelude::SessionContext,
    project: &'a Project,
    view: &'a ViewDef,
) -> Reads<'a> {
    let mut out = Reads {
        through: BTreeMap::new(),
        reached: BTreeSet::new(),
    };
    let mut todo = vec![view.sql.as_str()];
    while let Some(sql) = todo.pop() {
        for r in references(ctx, sql).unwrap_or_default() {
            if r == view.name || out.reached.contains(&r) || out.through.contains_key(r.as_str()) {
                continue;
            }
            match project.views.iter().find(|v| v.name == r) {
                Some(v) if !v.materialized => {
                    out.through.insert(v.name.as_str(), v.sql.as_str());
                    todo.push(&v.sql);
                }
                _ => {
                    out.reached.insert(r);
                }
            }
        }
    }
    out
}

/// What the output depends on besides its inputs' versions: its SQL, its clustering, and the
/// SQL of every plain view it reads through (editing one of those changes the output too).
fn definition_sha256(project: &Project, view: &ViewDef, reads: &Reads) -> String {
    let mut h = Sha256::new();
    h.update(view.sql.as_bytes());
    h.update(b"\ncluster_by:");
    h.update(cluster_by(project, view).join(",").as_bytes());
    for (name, sql) in &reads.through {
        h.update(b"\nview ");
        h.update(name.as_bytes());
        h.update(b"\n");
        h.update(sql.as_bytes());
    }
    hex::encode(h.finalize())
}

fn decide(
    name: &str,
    definition: &str,
    deps: &BTreeMap<String, u64>,
    in_lake: bool,
    last: Option<&LastRun>,
    full: bool,
) -> Decision {
    let run = |reason: String| Decision::Run {
        reason,
        sources: None,
    };
    let Some(last) = last else {
        return run("never materialized".into());
    };
    if full {
        return run("--full".into());
    }
    if !in_lake {
        return run(format!("table {name} is not in the lake"));
    }
    if last.definition_sha256 != definition {
        return run("its SQL, cluster_by or a view it reads changed".into());
    }
    let changed: Vec<String> = deps
        .iter()
        .filter(|(t, v)| last.dependencies.get(*t) != Some(v))
        .map(|(t, v)| match last.dependencies.get(t) {
            Some(old) => format!("{t} v{old} → v{v}"),
            None => format!("{t} v{v} (new input)"),
        })
        .collect();
    if !changed.is_empty() {
        return run(format!("inputs changed: {}", changed.join(", ")));
    }
    Decision::Skip {
        reason: format!("unchanged since run {} ({})", last.run_id, last.finished_at),
    }
}

/// The project's materialized views in an order where each comes after the materialized
/// views it reads.
fn ordered(project: &Project) -> Vec<&ViewDef> {
    let ctx = oc_sql::session::new_context();
    let mat: Vec<&ViewDef> = project.views.iter().filter(|v| v.materialized).collect();
    let deps: HashMap<&str, BTreeSet<String>> = mat
        .iter()
        .map(|v| (v.name.as_str(), reads(&ctx, project, v).reached))
        .collect();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    let pending_names: BTreeSet<&str> = mat.iter().map(|v| v.name.as_str()).collect();
    let mut pending = mat;
    while !pending.is_empty() {
        let (ready, rest): (Vec<&ViewDef>, Vec<&ViewDef>) = pending.into_iter().partition(|v| {
            deps[v.name.as_str()]
                .iter()
                .all(|d| done.contains(d) || !pending_names.contains(d.as_str()))
        });
        if ready.is_empty() {
            // A cycle: views cannot be created either (register_views says so); keep going.
            out.extend(rest);
            break;
        }
        done.extend(ready.iter().map(|v| v.name.clone()));
        out.extend(ready);
        pending = rest;
    }
    out
}

/// Decides and computes the selected materialized views, one after the other (each may read
/// the ones before it).
pub async fn materialize(
    project: &Project,
    lake: &Lake,
    selection: &Selection,
    last: &HashMap<String, LastRun>,
    opts: &RefreshOptions,
    observer: &Arc<dyn Observer>,
) -> Result<RefreshSummary, RefreshError> {
    let mut summary = RefreshSummary::default();
    // The lake as the previous views left it: loaded once, again only after a view was
    // written (a refresh where nothing changed loads it once).
    let mut loaded = None;
    for view in ordered(project) {
        if !selection.contains(&view.name) {
            continue;
        }
        if loaded.is_none() {
            let tables = LakeTables::load_all(lake).await?;
            let ctx = tables.context()?;
            let (_, broken) = register_views(&ctx, &project.views).await?;
            loaded = Some((tables, ctx, broken));
        }
        let Some((tables, ctx, broken)) = loaded.as_ref() else {
            continue;
        };
        // The lake tables it reads with their versions (a materialized view counts as the
        // table it is).
        let walk = reads(ctx, project, view);
        let deps: BTreeMap<String, u64> = walk
            .reached
            .iter()
            .filter_map(|t| Some((t.clone(), tables.version(t)?)))
            .collect();
        let definition = definition_sha256(project, view, &walk);
        let decision = decide(
            &view.name,
            &definition,
            &deps,
            tables.contains(&view.name),
            last.get(&view.name),
            opts.full,
        );
        observer.on(Event::Decided {
            pipeline: &view.name,
            decision: &decision,
        });
        if !decision.runs() {
            summary.skipped.push(view.name.clone());
            continue;
        }
        if opts.plan_only {
            continue;
        }
        let started = std::slice::from_ref(&view.name);
        observer.on(Event::WaveStarted { pipelines: started });
        observer.on(Event::Started {
            pipeline: &view.name,
        });
        let report = run(project, lake, ctx, view, deps, &definition, opts, broken).await;
        observer.on(Event::Finished { report: &report });
        summary.runs.push(report);
        loaded = None;
    }
    Ok(summary)
}

#[allow(clippy::too_many_arguments)]
async fn run(
    project: &Project,
    lake: &Lake,
    ctx: &datafusion::prelude::SessionContext,
    view: &ViewDef,
    deps: BTreeMap<String, u64>,
    definition: &str,
    opts: &RefreshOptions,
    broken: &[(ViewDef, String)],
) -> RunReport {
    let run_id = uuid::Uuid::now_v7().to_string();
    let started = Utc::now();
    let clock = Instant::now();
    let mut report = RunReport {
        pipeline: view.name.clone(),
        run_id: run_id.clone(),
        ok: false,
        rows_read: 0,
        rows_written: 0,
        rows_rejected: 0,
        rows_filtered: 0,
        table_version: None,
        error: None,
        rejects_sample: vec![],
        seconds: 0.0,
        files: vec![],
        dependencies: deps,
        checks: vec![],
        sources_failed: Vec::new(),
    };
    // A lock held by another refresh is a failed run too, recorded like any other.
    let (lock, result) = match lake.lock(&view.name, &run_id, opts.lock_wait).await {
        Ok(l) => (
            Some(l),
            compute(project, lake, ctx, view, &run_id, broken).await,
        ),
        Err(e) => (None, Err(RunError::Lake(e))),
    };
    let error = match result {
        Ok((rows, version)) => {
            report.rows_read = rows;
            report.rows_written = rows;
            report.table_version = Some(version);
            report.ok = true;
            None
        }
        Err(e) => Some(e),
    };
    report.seconds = clock.elapsed().as_secs_f64();
    let definition = definition.to_string();
    record(
        lake,
        &mut report,
        started,
        "[]".into(),
        String::new(),
        definition,
        error,
    )
    .await;
    if let Some(l) = lock {
        l.release().await;
    }
    report
}

async fn compute(
    project: &Project,
    lake: &Lake,
    ctx: &datafusion::prelude::SessionContext,
    view: &ViewDef,
    run_id: &str,
    broken: &[(ViewDef, String)],
) -> Result<(u64, u64), RunError> {
    let sql_err = |e: &datafusion::error::DataFusionError| {
        // A view it reads that could not be created is the likelier cause: say so.
        let because = broken
            .iter()
            .filter(|(b, _)| view.sql.contains(&b.name))
            .map(|(b, why)| format!("; view {} is unavailable: {why}", b.name))
            .collect::<String>();
        RunError::sql(format!("{}: ", view.path.display()), e).then(&because)
    };
    let df = ctx
        .sql_with_options(&view.sql, read_only())
        .await
        .map_err(|e| sql_err(&e))?;
    let mut stream = df.execute_stream().await.map_err(|e| sql_err(&e))?;
    let writer = TableWrite::begin(
        lake,
        &view.name,
        stream.schema(),
        &[],
        WriteMode::Replace,
        SchemaChange::Fail,
    )
    .await?
    .with_cluster_by(cluster_by(project, view))?;
    let writer = crate::run::write_all(writer, &mut stream, sql_err).await?;
    let rows = writer.rows();
    let meta = HashMap::from([
        (
            oc_lake::RUN_ID_KEY.to_string(),
            serde_json::Value::String(run_id.to_string()),
        ),
        (
            "opencoll.view".to_string(),
            serde_json::Value::String(view.name.clone()),
        ),
    ]);
    let version = writer.commit(meta).await?;
    Ok((rows, version))
}
