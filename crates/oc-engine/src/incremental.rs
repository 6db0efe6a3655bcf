//! Incremental refresh: a pipeline is skipped when its definition, its source files and the
//! lake tables its SQL reads are all unchanged since its last successful run, and its table is
//! still at the version that run committed.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use oc_extract::expand_sources;
use oc_lake::Lake;
use oc_spec::project::PipelineFile;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Why a pipeline runs or is skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Run(String),
    Skip(String),
}

#[derive(Debug, Clone, Deserialize)]
pub struct SourceSig {
    pub file: String,
    pub sha256: String,
    pub bytes: u64,
    #[serde(default)]
    pub mtime: Option<String>,
}

#[derive(Debug, Clone)]
pub struct LastRun {
    pub run_id: String,
    pub finished_at: String,
    pub definition_sha256: String,
    pub sources: Vec<SourceSig>,
    pub dependencies: BTreeMap<String, u64>,
    pub table_version: Option<u64>,
}

/// The definition as it matters for the output: the pipeline file's bytes.
pub fn definition_sha256(pf: &PipelineFile) -> String {
    hex::encode(Sha256::digest(pf.text.as_bytes()))
}

/// Modification time of a file, as text (nanoseconds since the epoch), if known.
pub fn mtime(path: &Path) -> Option<String> {
    let m = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(
        m.duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_nanos()
            .to_string(),
    )
}

/// Lake tables read by the pipeline's SQL (transform steps and computed columns).
pub fn sql_references(pf: &PipelineFile) -> Vec<String> {
    let ctx = oc_sql::session::new_context();
    let mut out = Vec::new();
    let mut add = |sql: &str| {
        if let Ok(refs) = oc_sql::session::references(&ctx, sql) {
            out.extend(refs.into_iter().filter(|r| r.contains('.')));
        }
    };
    for sql in pf.pipeline.sql_steps() {
        add(&sql.value);
    }
    for spec in pf.pipeline.columns.values() {
        if let Some(expr) = &spec.sql {
            add(&format!("SELECT {} FROM input", expr.value));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Current versions of the lake tables the pipeline reads.
pub async fn dependency_versions(
    lake: &Lake,
    pf: &PipelineFile,
) -> Result<BTreeMap<String, u64>, String> {
    let mut out = BTreeMap::new();
    for name in sql_references(pf) {
        if let Some(t) = lake.load(&name).await.map_err(|e| e.to_string())?
            && let Some(v) = t.version()
        {
            out.insert(name, v);
        }
    }
    Ok(out)
}

/// The last successful run of each pipeline, from `_ops.runs`.
pub async fn last_successful_runs(lake: &Lake) -> Result<HashMap<String, LastRun>, String> {
    let ctx = oc_sql::session::new_context();
    if !oc_sql::session::register_lake_table(&ctx, lake, oc_lake::ops::RUNS)
        .await
        .map_err(|e| e.to_string())?
    {
        return Ok(HashMap::new());
    }
    let q = "SELECT pipeline, run_id, CAST(finished_at AS VARCHAR) AS finished, definition_sha256, sources, dependencies, table_version \
             FROM _ops.runs WHERE status = 'success' ORDER BY finished_at";
    let batches = ctx
        .sql(q)
        .await
        .map_err(|e| e.to_string())?
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    let mut out = HashMap::new();
    for b in batches {
        let text: Vec<_> = (0..6)
            .map(|i| cast(b.column(i), &DataType::Utf8).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        let s = |c: usize, i: usize| text[c].as_string::<i32>().value(i).to_string();
        let version = cast(b.column(6), &DataType::Int64).map_err(|e| e.to_string())?;
        let version = version.as_primitive::<arrow::datatypes::Int64Type>();
        for i in 0..b.num_rows() {
            let run = LastRun {
                run_id: s(1, i),
                finished_at: s(2, i),
                definition_sha256: s(3, i),
                sources: serde_json::from_str(&s(4, i)).unwrap_or_default(),
                dependencies: serde_json::from_str(&s(5, i)).unwrap_or_default(),
                table_version: version.is_valid(i).then(|| version.value(i) as u64),
            };
            // Rows are in time order: the last one wins.
            out.insert(s(0, i), run);
        }
    }
    Ok(out)
}

/// Decides whether `pf` must run. Source files whose size and modification time are those
/// recorded are not re-read; otherwise their sha256 decides.
pub async fn decide(
    root: &Path,
    lake: &Lake,
    pf: &PipelineFile,
    last: Option<&LastRun>,
    full: bool,
) -> Decision {
    let name = &pf.pipeline.name.value;
    if full {
        return Decision::Run("--full".into());
    }
    let Some(last) = last else {
        return Decision::Run("never refreshed".into());
    };
    if last.definition_sha256 != definition_sha256(pf) {
        return Decision::Run("definition changed".into());
    }
    let current = match lake.load(name).await {
        Ok(Some(t)) => t.version(),
        Ok(None) => return Decision::Run("table missing from the lake".into()),
        Err(e) => return Decision::Run(format!("table unreadable ({e})")),
    };
    if current != last.table_version {
        return Decision::Run(format!(
            "table is at version {} but the last run committed {}",
            current.map(|v| v.to_string()).unwrap_or_default(),
            last.table_version
                .map(|v| v.to_string())
                .unwrap_or_default()
        ));
    }
    let mut files = expand_sources(&pf.pipeline, root);
    if let Err(e) = crate::fetch::materialize(root, &mut files).await {
        return Decision::Run(format!("cannot fetch a source ({e})"));
    }
    if files.len() != last.sources.len() {
        return Decision::Run("the set of source files changed".into());
    }
    for f in &files {
        let Some(sig) = last.sources.iter().find(|s| s.file == f.display) else {
            return Decision::Run(format!("new source file {}", f.display));
        };
        let Ok(meta) = std::fs::metadata(&f.path) else {
            return Decision::Run(format!("source file {} is unreadable", f.display));
        };
        if meta.len() == sig.bytes && sig.mtime.is_some() && mtime(&f.path) == sig.mtime {
            continue;
        }
        match oc_extract::input::hash_file(&f.path) {
            Ok((sha, _)) if sha == sig.sha256 => {}
            _ => return Decision::Run(format!("source changed: {}", f.display)),
        }
    }
    match dependency_versions(lake, pf).await {
        Ok(deps) if deps == last.dependencies => {}
        Ok(deps) => {
            let changed: Vec<&String> = deps
                .iter()
                .filter(|(k, v)| last.dependencies.get(*k) != Some(*v))
                .map(|(k, _)| k)
                .collect();
            return Decision::Run(format!(
                "input table changed: {}",
                changed
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Err(e) => return Decision::Run(format!("cannot read input tables ({e})")),
    }
    Decision::Skip(format!(
        "unchanged since run {} ({})",
        last.run_id, last.finished_at
    ))
}
