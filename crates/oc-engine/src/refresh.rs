//! `refresh` and `plan`: which pipelines (a selection), in which order (waves of the
//! dependency graph), whether each must run (incremental decisions), and the runs, two at a
//! time. What happens is reported as [`Event`]s: the CLI prints them, the scheduler reuses the
//! same loop for the pipelines that are due.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use oc_lake::Lake;
use oc_spec::Project;
use oc_spec::project::PipelineFile;
use oc_sql::LakeTables;

use crate::checks::CheckResult;
use crate::error::RefreshError;
use crate::graph::DependencyGraph;
use crate::incremental::{Decision, LastRun, decide, last_successful_runs};
use crate::run::{ReadProgress, RunOptions, RunReport, run_pipeline};

/// What a refresh (or `opencoll test`) tells its observer, in order.
#[derive(Debug)]
pub enum Event<'a> {
    /// A pipeline was considered: it runs, or is skipped, and why.
    Decided {
        pipeline: &'a str,
        decision: &'a Decision,
    },
    /// These pipelines start now, side by side.
    WaveStarted {
        pipelines: &'a [String],
    },
    Started {
        pipeline: &'a str,
    },
    /// Rows and bytes read so far.
    Progress {
        pipeline: &'a str,
        read: ReadProgress,
    },
    Finished {
        report: &'a RunReport,
    },
    /// `opencoll test`: a dataset with checks is not in the lake.
    Missing {
        dataset: &'a str,
    },
    /// `opencoll test`: one check's result.
    Checked {
        result: &'a CheckResult,
    },
}

/// Receives the events of a refresh. Called from the refresh's tasks: keep it quick.
pub trait Observer: Send + Sync {
    fn on(&self, event: Event<'_>);
}

/// An observer that ignores everything.
pub struct Quiet;

impl Observer for Quiet {
    fn on(&self, _: Event<'_>) {}
}

/// Which pipelines a command names: all of them, by name, or a domain's with `domain.*`.
#[derive(Debug, Clone, Default)]
pub struct Selection(Vec<String>);

impl Selection {
    pub fn all() -> Selection {
        Selection(Vec::new())
    }

    /// Checks that every name is a pipeline of the project, or `domain.*` of a domain that has
    /// pipelines.
    pub fn parse(project: &Project, names: &[String]) -> Result<Selection, RefreshError> {
        for s in names {
            if let Some(domain) = s.strip_suffix(".*") {
                if !project
                    .pipelines
                    .iter()
                    .any(|p| domain_of(&p.pipeline.name.value) == Some(domain))
                    && !project
                        .views
                        .iter()
                        .any(|v| v.materialized && v.domain == domain)
                {
                    return Err(RefreshError::UnknownDomain(domain.to_string()));
                }
            } else if project.pipeline(s).is_none()
                && !project.views.iter().any(|v| v.materialized && v.name == *s)
            {
                let names = project
                    .pipelines
                    .iter()
                    .map(|p| p.pipeline.name.value.as_str());
                return Err(RefreshError::UnknownPipeline {
                    name: s.clone(),
                    hint: oc_spec::diag::did_you_mean(s, names).map(str::to_string),
                });
            }
        }
        Ok(Selection(names.to_vec()))
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.is_empty()
            || self.0.iter().any(|s| match s.strip_suffix(".*") {
                Some(domain) => domain_of(name) == Some(domain),
                None => s == name,
            })
    }
}

fn domain_of(name: &str) -> Option<&str> {
    name.split_once('.').map(|(d, _)| d)
}

#[derive(Debug, Clone)]
pub struct RefreshOptions {
    /// Run even the pipelines that are unchanged.
    pub full: bool,
    /// Only decide (what `opencoll plan` shows); run nothing.
    pub plan_only: bool,
    /// How long a run waits for another refresh of its table.
    pub lock_wait: Duration,
    /// Runs at once within a wave.
    pub concurrency: usize,
}

impl Default for RefreshOptions {
    fn default() -> Self {
        RefreshOptions {
            full: false,
            plan_only: false,
            lock_wait: Duration::ZERO,
            // The machine's two cores: a run reads on one thread and encodes on another.
            concurrency: 2,
        }
    }
}

#[derive(Debug, Default)]
pub struct RefreshSummary {
    pub runs: Vec<RunReport>,
    pub skipped: Vec<String>,
}

impl RefreshSummary {
    pub fn failures(&self) -> usize {
        self.runs.iter().filter(|r| !r.ok).count()
    }
}

/// Validates the project, then refreshes the pipelines `selected` names (all when empty; see
/// [`Selection`]) in dependency order.
pub async fn refresh(
    project: &Project,
    lake: &Lake,
    selected: &[String],
    opts: &RefreshOptions,
    observer: Arc<dyn Observer>,
) -> Result<RefreshSummary, RefreshError> {
    let graph = DependencyGraph::of(project);
    let diagnostics = crate::plan::validate_with_graph(project, &graph).await;
    if !diagnostics.is_empty() {
        return Err(RefreshError::Invalid {
            count: diagnostics.len(),
            diagnostics,
        });
    }
    let selection = Selection::parse(project, selected)?;
    let runs = LakeTables::load(lake, [oc_lake::ops::RUNS]).await?;
    let last = last_successful_runs(&runs).await?;
    let mut summary = RefreshSummary::default();
    let waves = graph.waves(project, &mut oc_spec::Diagnostics::default());
    for wave in waves {
        let wave: Vec<&PipelineFile> = wave
            .into_iter()
            .filter(|pf| selection.contains(&pf.pipeline.name.value))
            .collect();
        let reports = run_wave(project, lake, &graph, &wave, &last, opts, &observer).await?;
        summary.skipped.extend(reports.skipped);
        summary.runs.extend(reports.runs);
    }
    let views =
        crate::materialize::materialize(project, lake, &selection, &last, opts, &observer).await?;
    summary.skipped.extend(views.skipped);
    summary.runs.extend(views.runs);
    Ok(summary)
}

/// Decides and runs the pipelines of one wave. The lake tables they read (and their own) are
/// loaded once, and every decision and run of the wave uses those versions.
pub async fn run_wave(
    project: &Project,
    lake: &Lake,
    graph: &DependencyGraph,
    wave: &[&PipelineFile],
    last: &HashMap<String, LastRun>,
    opts: &RefreshOptions,
    observer: &Arc<dyn Observer>,
) -> Result<RefreshSummary, RefreshError> {
    let mut summary = RefreshSummary::default();
    if wave.is_empty() {
        return Ok(summary);
    }
    let names: BTreeSet<&str> = wave
        .iter()
        .flat_map(|pf| {
            let me = pf.pipeline.name.value.as_str();
            std::iter::once(me).chain(graph.reads(me))
        })
        .collect();
    let tables = Arc::new(LakeTables::load(lake, names).await?);
    let mut todo = Vec::new();
    for pf in wave {
        let name = pf.pipeline.name.value.as_str();
        let decision = decide(&project.root, graph, &tables, pf, last.get(name), opts.full).await;
        observer.on(Event::Decided {
            pipeline: name,
            decision: &decision,
        });
        match decision {
            Decision::Skip { .. } => summary.skipped.push(name.to_string()),
            Decision::Run { .. } if opts.plan_only => {}
            Decision::Run { sources, .. } => todo.push((*pf, sources)),
        }
    }
    if todo.is_empty() {
        return Ok(summary);
    }
    let started: Vec<String> = todo
        .iter()
        .map(|(pf, _)| pf.pipeline.name.value.clone())
        .collect();
    observer.on(Event::WaveStarted {
        pipelines: &started,
    });
    let root: &Path = &project.root;
    let mut runs = futures::stream::iter(todo.into_iter().map(|(pf, sources)| {
        let observer = observer.clone();
        let tables = tables.clone();
        async move {
            let name = pf.pipeline.name.value.clone();
            observer.on(Event::Started { pipeline: &name });
            let progress = {
                let observer = observer.clone();
                let name = name.clone();
                Arc::new(move |read: ReadProgress| {
                    observer.on(Event::Progress {
                        pipeline: &name,
                        read,
                    })
                }) as Arc<dyn Fn(ReadProgress) + Send + Sync>
            };
            let run_opts = RunOptions {
                progress: Some(progress),
                lock_wait: opts.lock_wait,
                sources,
                full: opts.full,
                tables: Some(tables),
                reads: Some(graph.reads(&name).map(str::to_string).collect()),
            };
            run_pipeline(root, lake, pf, &run_opts).await
        }
    }))
    .buffer_unordered(opts.concurrency.max(1));
    while let Some(report) = runs.next().await {
        observer.on(Event::Finished { report: &report });
        summary.runs.push(report);
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Records decisions and finished runs.
    #[derive(Default)]
    struct Log(Mutex<Vec<String>>);

    impl Observer for Log {
        fn on(&self, event: Event<'_>) {
            let line = match event {
                Event::Decided { pipeline, decision } => format!(
                    "{} {pipeline}: {}",
                    if decision.runs() { "run" } else { "skip" },
                    decision.reason()
                ),
                Event::Finished { report } => format!(
                    "done {}: {}",
                    report.pipeline,
                    report
                        .error
                        .as_ref()
                        .map(|e| e.to_string())
                        .unwrap_or("ok".into())
                ),
                _ => return,
            };
            self.0.lock().unwrap().push(line);
        }
    }

    /// Four pipelines: `ref.a` reads a file; `ref.b` reads it in a transform, `ref.c` in a
    /// computed column, `ref.d` through a relationship check.
    fn project() -> (tempfile::TempDir, Project) {
        let dir = tempfile::tempdir().unwrap();
        let files = [
            (
                "catalog.yaml",
                "lake: lake\ndomains:\n  ref: { title: R }\n",
            ),
            ("data/a.csv", "code;n\n01;1\n02;2\n"),
            (
                "pipelines/a.yaml",
                "name: ref.a\nsource: { path: data/a.csv, csv: { delimiter: \";\" } }\ncolumns:\n  code: { from: code, type: code }\n  n: { from: n, type: int64 }\n",
            ),
            (
                "pipelines/b.yaml",
                "name: ref.b\nsource: { path: data/a.csv, csv: { delimiter: \";\" } }\ncolumns:\n  code: { from: code, type: code }\ntransform:\n  - sql: SELECT i.code FROM input i JOIN ref.a USING (code)\n",
            ),
            (
                "pipelines/c.yaml",
                "name: ref.c\nsource: { path: data/a.csv, csv: { delimiter: \";\" } }\ncolumns:\n  code: { from: code, type: code }\n  total: { sql: \"(SELECT sum(n) FROM ref.a)\" }\n",
            ),
            (
                "pipelines/d.yaml",
                "name: ref.d\nsource: { path: data/a.csv, csv: { delimiter: \";\" } }\ncolumns:\n  code: { from: code, type: code }\nchecks:\n  - relationship: { column: code, to: ref.a.code }\n",
            ),
        ];
        for (name, text) in files {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let project = Project::load(dir.path()).unwrap();
        (dir, project)
    }

    #[test]
    fn every_kind_of_dependency_orders_the_refresh() {
        let (_dir, project) = project();
        let graph = DependencyGraph::of(&project);
        for p in ["ref.b", "ref.c", "ref.d"] {
            assert_eq!(graph.reads(p).collect::<Vec<_>>(), ["ref.a"], "{p}");
        }
        let mut diags = oc_spec::Diagnostics::default();
        let waves: Vec<Vec<&str>> = graph
            .waves(&project, &mut diags)
            .iter()
            .map(|w| w.iter().map(|p| p.pipeline.name.value.as_str()).collect())
            .collect();
        assert!(diags.is_empty(), "{diags}");
        assert_eq!(waves, vec![vec!["ref.a"], vec!["ref.b", "ref.c", "ref.d"]]);
    }

    #[tokio::test]
    async fn every_kind_of_dependency_makes_a_pipeline_stale() {
        let (dir, project) = project();
        let lake = Lake::open(dir.path().join("lake").to_str().unwrap()).unwrap();
        let run = |names: &[&str], full: bool| {
            let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
            let (project, lake) = (&project, &lake);
            async move {
                let log = Arc::new(Log::default());
                let opts = RefreshOptions {
                    full,
                    ..Default::default()
                };
                let s = refresh(project, lake, &names, &opts, log.clone())
                    .await
                    .unwrap();
                let mut lines = log.0.lock().unwrap().clone();
                lines.sort();
                (s, lines)
            }
        };
        let (s, lines) = run(&[], false).await;
        assert_eq!(s.failures(), 0, "{lines:?}");
        assert_eq!(s.runs.len(), 4, "{lines:?}");
        // the computed column read the table as the wave loaded it
        let dep = &s
            .runs
            .iter()
            .find(|r| r.pipeline == "ref.c")
            .unwrap()
            .dependencies;
        assert_eq!(dep.get("ref.a"), Some(&0), "{dep:?}");

        let (s, lines) = run(&[], false).await;
        assert!(s.runs.is_empty(), "{lines:?}");
        assert_eq!(s.skipped.len(), 4);

        // a new version of ref.a makes each of its readers stale, whatever the kind of read
        let (s, _) = run(&["ref.a"], true).await;
        assert_eq!(s.runs.len(), 1);
        let (s, lines) = run(&["ref.*"], false).await;
        assert_eq!(
            lines[..6],
            [
                "done ref.b: ok",
                "done ref.c: ok",
                "done ref.d: ok",
                "run ref.b: input table changed: ref.a",
                "run ref.c: input table changed: ref.a",
                "run ref.d: input table changed: ref.a",
            ]
        );
        assert!(
            lines[6].starts_with("skip ref.a: unchanged since run "),
            "{lines:?}"
        );
        assert_eq!(lines.len(), 7);
        assert_eq!(s.skipped, ["ref.a"]);
    }

    #[tokio::test]
    async fn a_decision_to_run_carries_the_sources_it_examined() {
        let (dir, project) = project();
        let lake = Lake::open(dir.path().join("lake").to_str().unwrap()).unwrap();
        let quiet: Arc<dyn Observer> = Arc::new(Quiet);
        refresh(&project, &lake, &[], &Default::default(), quiet.clone())
            .await
            .unwrap();
        std::fs::write(dir.path().join("data/a.csv"), "code;n\n01;1\n02;2\n03;3\n").unwrap();
        let graph = DependencyGraph::of(&project);
        let runs = LakeTables::load(&lake, [oc_lake::ops::RUNS]).await.unwrap();
        let last = last_successful_runs(&runs).await.unwrap();
        let pf = project.pipeline("ref.a").unwrap();
        let tables = LakeTables::load(&lake, ["ref.a"]).await.unwrap();
        match decide(&project.root, &graph, &tables, pf, last.get("ref.a"), false).await {
            Decision::Run {
                reason,
                sources: Some(crate::incremental::Sources { files, .. }),
            } => {
                assert_eq!(reason, "source changed: data/a.csv");
                assert_eq!(files.len(), 1);
                assert_eq!(files[0].display, "data/a.csv");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn selections_name_pipelines_or_domains() {
        let (_dir, project) = project();
        let s = Selection::parse(&project, &["ref.*".into()]).unwrap();
        assert!(s.contains("ref.d"));
        let e = Selection::parse(&project, &["ref.bb".into()]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no pipeline named ref.bb (did you mean ref.b?)"
        );
        let e = Selection::parse(&project, &["fin.*".into()]).unwrap_err();
        assert_eq!(e.to_string(), "no pipeline in domain fin");
        assert!(Selection::all().contains("anything.at_all"));
    }
}
