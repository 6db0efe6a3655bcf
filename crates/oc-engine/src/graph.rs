//! The one dependency graph of a project: the lake tables each pipeline reads, from its
//! transform SQL, its `sql:` columns, its vars' queries and the targets of its relationship
//! checks. Refresh order
//! (waves) and staleness (incremental refresh) both come from it, so a kind of dependency can
//! never order a refresh without also making it stale, or the reverse.

use std::collections::{BTreeMap, BTreeSet};

use oc_spec::project::PipelineFile;
use oc_spec::{Diagnostic, Diagnostics, Project};

#[derive(Debug, Clone, Default)]
pub struct DependencyGraph {
    /// Pipeline → the `<domain>.<table>` names it reads (any lake table, not only the project's
    /// pipelines; views are named too and simply have no version).
    reads: BTreeMap<String, BTreeSet<String>>,
}

/// The lake tables one pipeline reads.
pub fn reads(pf: &PipelineFile) -> BTreeSet<String> {
    reads_in(&oc_sql::session::new_context(), pf)
}

/// [`reads`] with a context made once for every pipeline (SQL is only parsed in it).
fn reads_in(ctx: &datafusion::prelude::SessionContext, pf: &PipelineFile) -> BTreeSet<String> {
    let me = pf.pipeline.name.value.as_str();
    let mut out = BTreeSet::new();
    let mut add = |sql: &str| {
        if let Ok(refs) = oc_sql::session::references(ctx, sql) {
            out.extend(refs.into_iter().filter(|r| r.contains('.')));
        }
    };
    for sql in pf.pipeline.sql_steps() {
        add(&sql.value);
    }
    // A var's values from the lake: the files to read depend on that table.
    for (_, sql) in pf.pipeline.var_queries() {
        add(&sql.value);
    }
    for spec in pf.pipeline.columns.values() {
        if let Some(expr) = &spec.sql {
            add(&format!("SELECT {} FROM input", expr.value));
        }
    }
    // A relationship check reads its target table (its own table is the run's output).
    for c in &pf.pipeline.checks {
        if let Some(r) = &c.relationship
            && let Some((table, _)) = r.to.rsplit_once('.')
            && table.contains('.')
            && table != me
        {
            out.insert(table.to_string());
        }
    }
    out
}

impl DependencyGraph {
    pub fn of(project: &Project) -> DependencyGraph {
        let ctx = oc_sql::session::new_context();
        DependencyGraph {
            reads: project
                .pipelines
                .iter()
                .map(|pf| (pf.pipeline.name.value.clone(), reads_in(&ctx, pf)))
                .collect(),
        }
    }

    /// The lake tables `pipeline` reads (empty for an unknown name).
    pub fn reads(&self, pipeline: &str) -> impl Iterator<Item = &str> {
        self.reads
            .get(pipeline)
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    /// The project's pipelines `pipeline` must run after.
    fn upstream<'a>(&'a self, pipeline: &'a str) -> impl Iterator<Item = &'a str> {
        self.reads(pipeline)
            .filter(move |t| *t != pipeline && self.reads.contains_key(*t))
    }

    /// Pipelines in waves: each wave only reads tables of earlier waves, so the pipelines of
    /// one wave can run in parallel. Cycles are reported as diagnostics and left out.
    pub fn waves<'p>(
        &self,
        project: &'p Project,
        diags: &mut Diagnostics,
    ) -> Vec<Vec<&'p PipelineFile>> {
        let mut done: BTreeSet<&str> = BTreeSet::new();
        let mut out = Vec::new();
        let mut pending: Vec<&'p PipelineFile> = project.pipelines.iter().collect();
        while !pending.is_empty() {
            let (ready, rest): (Vec<_>, Vec<_>) = pending.into_iter().partition(|pf| {
                self.upstream(&pf.pipeline.name.value)
                    .all(|d| done.contains(d))
            });
            if ready.is_empty() {
                let names = rest
                    .iter()
                    .map(|p| p.pipeline.name.value.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                for pf in &rest {
                    let n = &pf.pipeline.name;
                    diags.push(Diagnostic::new(
                        &pf.path,
                        n.referenced.line(),
                        n.referenced.column(),
                        format!("pipelines read each other in a cycle: {names}"),
                    ));
                }
                break;
            }
            done.extend(ready.iter().map(|p| p.pipeline.name.value.as_str()));
            out.push(ready);
            pending = rest;
        }
        out
    }

    /// Pipelines in an order where each comes after the tables it reads.
    pub fn ordered<'p>(
        &self,
        project: &'p Project,
        diags: &mut Diagnostics,
    ) -> Vec<&'p PipelineFile> {
        self.waves(project, diags).into_iter().flatten().collect()
    }
}
