//! `opencoll validate` without SQL: every check that needs no engine, as small validators per
//! concern (the pipeline's name, its source, its columns, its target and checks, the options
//! of each format), each reporting located diagnostics and going on, so that one run lists
//! every error of every file.

mod columns;
mod source;
mod target;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::diag::{Diagnostic, Diagnostics, did_you_mean};
use crate::project::{CATALOG_FILE, PipelineFile, Project, RESERVED_DOMAINS};

impl Project {
    /// Checks everything that needs no SQL engine (SQL is planned by `oc-engine`). SQL is planned by `oc-sql`.
    pub fn validate(&self) -> Diagnostics {
        let mut diags = Diagnostics::default();
        let domains: Vec<&str> = self.catalog.domains.keys().map(String::as_str).collect();
        for d in &domains {
            if !crate::is_ident(d) {
                diags.push(
                    Diagnostic::new(
                        CATALOG_FILE,
                        0,
                        0,
                        format!("domain `{d}` is not a lowercase identifier"),
                    )
                    .with_hint("use letters, digits and _ (e.g. finances)"),
                );
            }
        }

        let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
        for pf in &self.pipelines {
            check_pipeline(&self.root, pf, &domains, &mut diags);
            let name = &pf.pipeline.name;
            if let Some(other) = seen.insert(name.value.clone(), pf.path.clone()) {
                diags.push(Diagnostic::new(
                    &pf.path,
                    name.referenced.line(),
                    name.referenced.column(),
                    format!("`{}` is also defined in {}", name.value, other.display()),
                ));
            }
        }
        for v in &self.views {
            if !crate::is_ident(&v.view) {
                diags.push(
                    Diagnostic::new(
                        &v.path,
                        0,
                        0,
                        format!("view name `{}` is not a lowercase identifier", v.view),
                    )
                    .with_hint("rename the file with letters, digits and _"),
                );
            }
            check_domain(&v.path, 1, 1, &v.domain, &domains, &mut diags);
            if v.sql.trim().is_empty() {
                diags.push(Diagnostic::new(
                    &v.path,
                    1,
                    1,
                    "empty view: write one SELECT query",
                ));
            }
            if let Some(other) = seen.insert(v.name.clone(), v.path.clone()) {
                diags.push(Diagnostic::new(
                    &v.path,
                    0,
                    0,
                    format!("`{}` is also defined in {}", v.name, other.display()),
                ));
            }
        }

        let names = self.dataset_names();
        for (key, doc) in &self.catalog.datasets {
            for c in &doc.checks {
                check_check(Path::new(CATALOG_FILE), doc.line, 0, c, &mut diags);
            }
            let is_view = self.views.iter().any(|v| &v.name == key);
            if (doc.materialize == crate::catalog::Materialize::Table || !doc.cluster_by.is_empty())
                && names.iter().any(|n| n == key)
                && !is_view
            {
                diags.push(
                    Diagnostic::new(
                        CATALOG_FILE,
                        doc.line,
                        0,
                        format!("datasets: `{key}` is a pipeline's table: `materialize` and `cluster_by` are for views of sql/"),
                    )
                    .with_hint("a pipeline sets its clustering with target.cluster_by"),
                );
            }
            if !names.iter().any(|n| n == key) {
                let mut d = Diagnostic::new(
                    CATALOG_FILE,
                    doc.line,
                    0,
                    format!("datasets: `{key}` is neither a pipeline nor a view"),
                );
                if let Some(s) = did_you_mean(key, names.iter().map(String::as_str)) {
                    d = d.with_hint(format!("did you mean `{s}`?"));
                }
                diags.push(d);
            }
        }
        diags
    }
}

/// Every check of one pipeline file.
fn check_pipeline(root: &Path, pf: &PipelineFile, domains: &[&str], diags: &mut Diagnostics) {
    check_name(pf, domains, diags);
    source::check(root, pf, diags);
    columns::check(pf, diags);
    target::check(pf, diags);
}

fn check_name(pf: &PipelineFile, domains: &[&str], diags: &mut Diagnostics) {
    let p = &pf.pipeline;
    let file = &pf.path;
    let (nl, nc) = (p.name.referenced.line(), p.name.referenced.column());
    match crate::split_name(&p.name.value) {
        None => diags.push(
            Diagnostic::new(
                file,
                nl,
                nc,
                format!("name `{}` must be `<domain>.<table>`", p.name.value),
            )
            .with_hint("lowercase identifiers, e.g. finances.balances_communes"),
        ),
        Some((domain, _)) => check_domain(file, nl, nc, domain, domains, diags),
    }
}

pub(super) fn check_check(
    file: &Path,
    line: u64,
    col: u64,
    c: &crate::checks::CheckSpec,
    diags: &mut Diagnostics,
) {
    let kinds = c.kinds();
    if kinds.len() != 1 {
        let found = if kinds.is_empty() {
            "none".to_string()
        } else {
            kinds.join(", ")
        };
        diags.push(
            Diagnostic::new(file, line, col, format!("a check needs exactly one kind, found: {found}"))
                .with_hint("not_null, unique, accepted_values, relationship, expression, identity or row_count"),
        );
    }
    if let Err(e) = c.thresholds() {
        diags.push(Diagnostic::new(
            file,
            line,
            col,
            format!("check {}: {e}", c.label()),
        ));
    }
    if let Some(r) = &c.relationship
        && r.to.matches('.').count() != 2
    {
        diags.push(
            Diagnostic::new(
                file,
                line,
                col,
                format!(
                    "relationship.to `{}` must be <domain>.<table>.<column>",
                    r.to
                ),
            )
            .with_hint("e.g. ref.communes.code"),
        );
    }
}

pub(super) fn check_domain(
    file: &Path,
    line: u64,
    col: u64,
    domain: &str,
    domains: &[&str],
    diags: &mut Diagnostics,
) {
    if RESERVED_DOMAINS.contains(&domain) {
        diags.push(Diagnostic::new(
            file,
            line,
            col,
            format!("domain `{domain}` is reserved for the tool"),
        ));
    } else if !domains.contains(&domain) {
        let mut d = Diagnostic::new(
            file,
            line,
            col,
            format!("domain `{domain}` is not declared in catalog.yaml"),
        );
        d = match did_you_mean(domain, domains.iter().copied()) {
            Some(s) => d.with_hint(format!("did you mean `{s}`? (or add it under `domains:`)")),
            None => d.with_hint("add it under `domains:` in catalog.yaml"),
        };
        diags.push(d);
    }
}
