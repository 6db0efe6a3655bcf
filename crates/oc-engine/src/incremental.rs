//! Incremental refresh: a pipeline is skipped when its definition, its source files and the
//! lake tables it reads are all unchanged since its last successful run, and its table is
//! still at the version that run committed.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use oc_extract::{SourceFile, expand_sources};
use oc_spec::project::PipelineFile;
use oc_sql::LakeTables;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::graph::DependencyGraph;

/// Whether a pipeline runs, and why.
#[derive(Debug, Clone)]
pub enum Decision {
    /// Runs. `sources` are the files already expanded and fetched while deciding (remote
    /// sources included), handed to the run so nothing is fetched twice.
    Run {
        reason: String,
        sources: Option<Sources>,
    },
    Skip {
        reason: String,
    },
}

/// A pipeline's source files, expanded and fetched, and those that could not be fetched.
#[derive(Debug, Clone)]
pub struct Sources {
    pub files: Vec<SourceFile>,
    pub failed: Vec<crate::fetch::FetchError>,
}

impl Decision {
    pub fn reason(&self) -> &str {
        match self {
            Decision::Run { reason, .. } | Decision::Skip { reason } => reason,
        }
    }
    pub fn runs(&self) -> bool {
        matches!(self, Decision::Run { .. })
    }
    fn run(reason: impl Into<String>) -> Decision {
        Decision::Run {
            reason: reason.into(),
            sources: None,
        }
    }
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
    oc_extract::input::mtime_text(&std::fs::metadata(path).ok()?)
}

/// Versions of the lake tables `reads` (what a pipeline reads), as loaded in `tables`.
pub fn dependency_versions<'a>(
    reads: impl IntoIterator<Item = &'a str>,
    tables: &LakeTables,
) -> BTreeMap<String, u64> {
    reads
        .into_iter()
        .filter_map(|t| Some((t.to_string(), tables.version(t)?)))
        .collect()
}

/// The last successful run of each pipeline, from `_ops.runs`.
pub async fn last_successful_runs(
    tables: &LakeTables,
) -> Result<HashMap<String, LastRun>, oc_sql::SqlError> {
    let ctx = tables.context()?;
    let mut out = HashMap::new();
    // Rows come in time order: the last one wins.
    for r in oc_sql::ops::successful_runs(&ctx, None).await? {
        out.insert(
            r.pipeline,
            LastRun {
                run_id: r.run_id,
                finished_at: r.finished_at,
                definition_sha256: r.definition_sha256,
                sources: serde_json::from_str(&r.sources).unwrap_or_default(),
                dependencies: serde_json::from_str(&r.dependencies).unwrap_or_default(),
                table_version: r.table_version.map(|v| v as u64),
            },
        );
    }
    Ok(out)
}

/// Decides whether `pf` must run. `tables` holds the versions of the lake tables it reads and
/// of its own table, loaded for its wave. Source files whose size and modification time are
/// those recorded are not re-read; otherwise their sha256 decides.
pub async fn decide(
    root: &Path,
    graph: &DependencyGraph,
    tables: &LakeTables,
    pf: &PipelineFile,
    last: Option<&LastRun>,
    full: bool,
) -> Decision {
    let name = &pf.pipeline.name.value;
    if full {
        return Decision::run("--full");
    }
    let Some(last) = last else {
        return Decision::run("never refreshed");
    };
    if last.definition_sha256 != definition_sha256(pf) {
        return Decision::run("definition changed");
    }
    if let Some((_, e)) = tables.broken.iter().find(|(t, _)| t == name) {
        return Decision::run(format!("table unreadable ({e})"));
    }
    if !tables.contains(name) {
        return Decision::run("table missing from the lake");
    }
    let current = tables.version(name);
    if current != last.table_version {
        return Decision::run(format!(
            "table is at version {} but the last run committed {}",
            current.map(|v| v.to_string()).unwrap_or_default(),
            last.table_version
                .map(|v| v.to_string())
                .unwrap_or_default()
        ));
    }
    if let Some(db) = &pf.pipeline.source.database {
        let sqlite = db
            .url
            .as_ref()
            .is_some_and(|u| u.value.starts_with("sqlite:"));
        if !sqlite {
            // a server's tables have no file to compare: read them (incremental: the new rows)
            return Decision::run("a database server is read at every refresh");
        }
    }
    let queried = match crate::vars::resolve(&pf.pipeline, tables).await {
        Ok(q) => q,
        Err(e) => return Decision::run(format!("cannot list the sources ({e})")),
    };
    let mut files = expand_sources(&pf.pipeline, root, &queried);
    let failed =
        crate::fetch::materialize(root, &mut files, pf.pipeline.source.fetch.as_ref()).await;
    if let Some(e) = failed.first() {
        // the run goes on with what was fetched, and records what was not (no second try)
        return Decision::Run {
            reason: format!("cannot fetch a source ({e})"),
            sources: Some(Sources { files, failed }),
        };
    }
    let run = |reason: String| Decision::Run {
        reason,
        sources: Some(Sources {
            files: files.clone(),
            failed: Vec::new(),
        }),
    };
    if files.len() != last.sources.len() {
        return run("the set of source files changed".into());
    }
    for f in &files {
        let Some(sig) = last.sources.iter().find(|s| s.file == f.display) else {
            return run(format!("new source file {}", f.display));
        };
        let Ok(meta) = std::fs::metadata(&f.path) else {
            return run(format!("source file {} is unreadable", f.display));
        };
        if meta.len() == sig.bytes && sig.mtime.is_some() && mtime(&f.path) == sig.mtime {
            continue;
        }
        match oc_extract::input::hash_file(&f.path) {
            Ok((sha, _)) if sha == sig.sha256 => {}
            _ => return run(format!("source changed: {}", f.display)),
        }
    }
    let deps = dependency_versions(graph.reads(name), tables);
    if deps != last.dependencies {
        let changed: Vec<&str> = deps
            .iter()
            .filter(|(k, v)| last.dependencies.get(*k) != Some(*v))
            .map(|(k, _)| k.as_str())
            .chain(
                last.dependencies
                    .keys()
                    .filter(|k| !deps.contains_key(*k))
                    .map(String::as_str),
            )
            .collect();
        return run(format!("input table changed: {}", changed.join(", ")));
    }
    Decision::Skip {
        reason: format!("unchanged since run {} ({})", last.run_id, last.finished_at),
    }
}
