//! The declarative model of an Open Collectivités project: pipelines (`pipelines/*.yaml`),
//! the catalog (`catalog.yaml`) and SQL views (`sql/<domain>/<view>.sql`).
//!
//! This crate only reads the project's own files. It parses them strictly (unknown keys are
//! errors, with a did-you-mean hint) and checks what can be checked without running anything:
//! names, types, templates, that source files exist. SQL is planned later, by `oc-sql`.

pub mod catalog;
mod check;
pub mod checks;
pub mod diag;
pub mod pdf_strategy;
pub mod pipeline;
pub mod project;
pub mod resolve;
pub mod schema;
pub mod span;
pub mod syntax;
pub mod template;
pub mod types;
mod yaml;

#[cfg(test)]
mod mutations;

pub use catalog::{Catalog, DatasetDoc, DatasetMeta, DomainDoc};
pub use checks::{CheckSpec, Severity, Threshold};
pub use diag::{Diagnostic, Diagnostics};
pub use pipeline::{CellRange, parse_range};
pub use pipeline::{
    ColumnSpec, CsvOptions, DatabaseOptions, Encoding, FetchOptions, Format, HtmlOptions,
    Incremental, JsonOptions, OnExtraColumns, OnSchemaChange, Pipeline, Sections, SheetRef, Source,
    SourceFormat, Target, TransformStep, Unpivot, VarQuery, VarSpec, WriteMode, XlsxOptions,
};
pub use pipeline::{PdfOptions, PdfStrategy};
pub use project::{Project, ViewDef};
pub use span::{Location, Spanned, parse_pipeline};
pub use types::ColumnType;
pub use yaml::locate_key;

/// Splits a `<domain>.<table>` name. Both parts must be lowercase SQL identifiers so that they
/// can be used unquoted in SQL.
pub fn split_name(name: &str) -> Option<(&str, &str)> {
    let (d, t) = name.split_once('.')?;
    if is_ident(d) && is_ident(t) {
        Some((d, t))
    } else {
        None
    }
}

pub fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_domain_dot_table() {
        assert_eq!(split_name("ref.communes"), Some(("ref", "communes")));
        assert_eq!(
            split_name("finances.balances_communes"),
            Some(("finances", "balances_communes"))
        );
        assert_eq!(split_name("Ref.communes"), None);
        assert_eq!(split_name("communes"), None);
        assert_eq!(split_name("a.b.c"), None);
        assert_eq!(split_name("ref.1x"), None);
    }
}
