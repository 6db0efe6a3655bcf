//! When and where a pipeline writes: its schedule, its data tests, its target (partitions,
//! clustering, mode).

use crate::diag::{Diagnostic, Diagnostics, did_you_mean};
use crate::project::PipelineFile;
use crate::yaml::locate_key;

use super::check_check;

pub(super) fn check(pf: &PipelineFile, diags: &mut Diagnostics) {
    let p = &pf.pipeline;
    let file = &pf.path;
    if let Some(s) = &p.schedule
        && let Err(e) = s.value.parse::<croner::Cron>()
    {
        diags.push(
            Diagnostic::new(
                file,
                s.referenced.line(),
                s.referenced.column(),
                format!("schedule `{}`: {e}", s.value),
            )
            .with_hint("a cron expression: `0 4 * * 1` is every Monday at 04:00 (UTC)"),
        );
    }
    for c in &p.checks {
        let (l, col) = locate_key(&pf.text, "checks");
        check_check(file, l, col, c, diags);
    }
    if p.target.mode == crate::WriteMode::ReplacePartitions && p.target.partition_by.is_empty() {
        let (l, c) = locate_key(&pf.text, "mode");
        diags.push(
            Diagnostic::new(
                file,
                l,
                c,
                "mode replace_partitions needs target.partition_by",
            )
            .with_hint("declare the partition columns, or use mode: replace"),
        );
    }
    for col in &p.target.cluster_by {
        if p.target.partition_by.contains(col) {
            let (l, c) = locate_key(&pf.text, "cluster_by");
            diags.push(
                Diagnostic::new(
                    file,
                    l,
                    c,
                    format!(
                        "`{col}` is a partition column: each file already holds one value of it"
                    ),
                )
                .with_hint("cluster by the columns queries filter on within a partition"),
            );
        }
    }
    if p.sql_steps().next().is_none() {
        let keys = [
            ("partition", "partition_by", &p.target.partition_by),
            ("cluster", "cluster_by", &p.target.cluster_by),
        ];
        for (what, key, cols) in keys {
            for col in cols {
                if !p.columns.contains_key(col) {
                    let (l, c) = locate_key(&pf.text, key);
                    let mut d = Diagnostic::new(
                        file,
                        l,
                        c,
                        format!("{what} column `{col}` is not declared"),
                    );
                    if let Some(s) = did_you_mean(col, p.columns.keys().map(String::as_str)) {
                        d = d.with_hint(format!("did you mean `{s}`?"));
                    }
                    diags.push(d);
                }
            }
        }
    }
}
