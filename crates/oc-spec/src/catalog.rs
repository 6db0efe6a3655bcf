//! `catalog.yaml`: project settings (lake location), domains, and documentation of datasets
//! (tables and views) for analysts and portals.

use crate::span::Spanned;
use indexmap::IndexMap;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    pub project: Option<String>,
    /// Lake root: a directory (relative to the project) or a URL. Default `data/lake`.
    pub lake: Option<String>,
    /// Where `opencoll publish` writes releases (folder relative to the project). Default `data/published`.
    pub published: Option<String>,
    #[serde(default)]
    pub domains: IndexMap<String, DomainDoc>,
    /// Documentation per dataset, keyed `<domain>.<name>` (pipelines and views alike).
    #[serde(default)]
    pub datasets: IndexMap<String, DatasetDoc>,
}

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DomainDoc {
    pub title: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetDoc {
    /// Where this entry is written, for diagnostics.
    #[serde(skip)]
    pub line: u64,
    pub title: Option<String>,
    pub description: Option<String>,
    pub producer: Option<String>,
    pub licence: Option<String>,
    #[serde(default)]
    pub columns: IndexMap<String, String>,
    /// Included in `opencoll publish` releases.
    #[serde(default)]
    pub publish: bool,
    /// Data tests on this dataset (for views; tables declare theirs in the pipeline).
    #[serde(default)]
    pub checks: Vec<crate::checks::CheckSpec>,
    /// For a view: `table` computes it at refresh time into a Delta table of the same name
    /// (recomputed only when its inputs or its SQL changed), which queries and releases then
    /// read; `view` (default) computes it at every query.
    #[serde(default)]
    pub materialize: Materialize,
    /// For a materialized view: columns its rows are sorted by within each file (the
    /// lookups readers make), as `target.cluster_by` does for a pipeline.
    #[serde(default)]
    pub cluster_by: Vec<String>,
}

/// How a view of `sql/` is computed (dbt's `materialized`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Materialize {
    #[default]
    View,
    Table,
}

/// The raw form used while parsing, to keep the location of each dataset key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCatalog {
    pub project: Option<String>,
    pub lake: Option<String>,
    pub published: Option<String>,
    #[serde(default)]
    pub domains: IndexMap<String, DomainDoc>,
    #[serde(default)]
    pub datasets: IndexMap<String, Spanned<DatasetDoc>>,
}

impl From<RawCatalog> for Catalog {
    fn from(r: RawCatalog) -> Self {
        Catalog {
            project: r.project,
            lake: r.lake,
            published: r.published,
            domains: r.domains,
            datasets: r
                .datasets
                .into_iter()
                .map(|(k, v)| {
                    let mut d = v.value;
                    d.line = v.referenced.line();
                    (k, d)
                })
                .collect(),
        }
    }
}

/// What is known of a dataset for people: catalog.yaml's entry first, then the pipeline's own
/// title, description, producer, licence and column docs. The one merge used by `opencoll
/// catalog`, the HTTP API and releases.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatasetMeta {
    pub title: Option<String>,
    pub description: Option<String>,
    pub producer: Option<String>,
    pub licence: Option<String>,
    /// Column docs, catalog.yaml's over the pipeline's.
    pub columns: IndexMap<String, String>,
    pub publish: bool,
}

impl DatasetMeta {
    pub fn column_doc(&self, column: &str) -> Option<&str> {
        self.columns.get(column).map(String::as_str)
    }
}
