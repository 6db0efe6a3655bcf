//! `opencoll test`: every check declared on the selected datasets (pipelines' `checks:` on
//! their tables, catalog.yaml's on views), run on the lake as it is, recorded in `_ops.checks`.

use oc_lake::Lake;
use oc_spec::{CheckSpec, Project};
use oc_sql::LakeSession;

use crate::checks::{Status, run_checks};
use crate::error::RefreshError;
use crate::refresh::{Event, Observer};

#[derive(Debug, Default)]
pub struct TestSummary {
    /// Datasets with checks among the selected ones.
    pub datasets: usize,
    pub passed: usize,
    pub warned: usize,
    /// Failed checks, and datasets with checks that are not in the lake.
    pub failed: usize,
}

impl TestSummary {
    pub fn total(&self) -> usize {
        self.passed + self.warned + self.failed
    }
}

/// Runs the checks of the datasets named in `selected` (all when empty) on `session`.
pub async fn test(
    project: &Project,
    lake: &Lake,
    session: &LakeSession,
    selected: &[String],
    observer: &dyn Observer,
) -> Result<TestSummary, RefreshError> {
    // A name that is no dataset of the project is a typo, not a dataset without checks.
    let known = || {
        project
            .pipelines
            .iter()
            .map(|p| p.pipeline.name.value.as_str())
            .chain(project.views.iter().map(|v| v.name.as_str()))
            .chain(project.catalog.datasets.keys().map(String::as_str))
    };
    if let Some(s) = selected.iter().find(|s| !known().any(|k| k == s.as_str())) {
        return Err(RefreshError::UnknownPipeline {
            name: s.clone(),
            hint: oc_spec::diag::did_you_mean(s, known()).map(str::to_string),
        });
    }
    let wanted = |name: &str| selected.is_empty() || selected.iter().any(|s| s == name);
    let mut targets: Vec<(&str, &[CheckSpec])> = Vec::new();
    for pf in &project.pipelines {
        if !pf.pipeline.checks.is_empty() && wanted(&pf.pipeline.name.value) {
            targets.push((&pf.pipeline.name.value, &pf.pipeline.checks));
        }
    }
    for (name, doc) in &project.catalog.datasets {
        if !doc.checks.is_empty() && wanted(name) {
            targets.push((name, &doc.checks));
        }
    }
    let mut summary = TestSummary {
        datasets: targets.len(),
        ..Default::default()
    };
    let run_id = uuid::Uuid::now_v7().to_string();
    let mut records = Vec::new();
    for (name, checks) in targets {
        if !session.tables.iter().any(|t| t == name) && !session.views.iter().any(|v| v == name) {
            observer.on(Event::Missing { dataset: name });
            summary.failed += 1;
            continue;
        }
        for r in run_checks(&session.ctx, name, name, checks).await {
            observer.on(Event::Checked { result: &r });
            match r.status {
                Status::Pass => summary.passed += 1,
                Status::Warn => summary.warned += 1,
                Status::Fail => summary.failed += 1,
            }
            records.push(crate::run::check_record(&r));
        }
    }
    oc_lake::ops::record_checks(lake, &run_id, chrono::Utc::now(), &records).await?;
    Ok(summary)
}
