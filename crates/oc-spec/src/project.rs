//! A project on disk: `catalog.yaml`, `pipelines/**/*.yaml`, `sql/<domain>/<view>.sql`.

use std::path::{Path, PathBuf};

use crate::catalog::{Catalog, RawCatalog};
use crate::diag::{Diagnostic, Diagnostics};
use crate::pipeline::Pipeline;
use crate::yaml::parse;

pub const CATALOG_FILE: &str = "catalog.yaml";
/// Domains the tool writes itself.
pub const RESERVED_DOMAINS: &[&str] = &["_ops"];

#[derive(Debug, Clone)]
pub struct Project {
    pub root: PathBuf,
    pub catalog: Catalog,
    pub pipelines: Vec<PipelineFile>,
    pub views: Vec<ViewDef>,
}

#[derive(Debug, Clone)]
pub struct PipelineFile {
    /// Path relative to the project root (as shown in diagnostics).
    pub path: PathBuf,
    pub text: String,
    pub pipeline: Pipeline,
}

#[derive(Debug, Clone)]
pub struct ViewDef {
    /// `<domain>.<view>`
    pub name: String,
    pub domain: String,
    pub view: String,
    /// Relative to the project root.
    pub path: PathBuf,
    pub sql: String,
    /// `materialize: table` in catalog.yaml: computed by `refresh` into a lake table of the
    /// same name, which sessions read instead of computing the view.
    pub materialized: bool,
}

impl Project {
    /// The nearest directory at or above `start` that holds a `catalog.yaml`.
    pub fn discover(start: &Path) -> Option<PathBuf> {
        let start = start.canonicalize().ok()?;
        start
            .ancestors()
            .find(|d| d.join(CATALOG_FILE).is_file())
            .map(Path::to_path_buf)
    }

    /// Reads and parses every project file. Syntax and shape errors of all files are collected.
    pub fn load(root: &Path) -> Result<Project, Diagnostics> {
        let mut diags = Diagnostics::default();
        let catalog_path = root.join(CATALOG_FILE);
        let catalog = match std::fs::read_to_string(&catalog_path) {
            Ok(text) => match parse::<RawCatalog>(Path::new(CATALOG_FILE), &text) {
                Ok(c) => Some(Catalog::from(c)),
                Err(d) => {
                    diags.push(d);
                    None
                }
            },
            Err(e) => {
                diags.push(
                    Diagnostic::new(CATALOG_FILE, 0, 0, format!("cannot read: {e}"))
                        .with_hint("run opencoll inside a project, or pass --project DIR"),
                );
                None
            }
        };

        let mut pipelines = Vec::new();
        for path in files_with_ext(&root.join("pipelines"), &["yaml", "yml"]) {
            let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
            match std::fs::read_to_string(&path) {
                Ok(text) => match parse::<Pipeline>(&rel, &text) {
                    Ok(pipeline) => pipelines.push(PipelineFile {
                        path: rel,
                        text,
                        pipeline,
                    }),
                    Err(d) => diags.push(d),
                },
                Err(e) => diags.push(Diagnostic::new(&rel, 0, 0, format!("cannot read: {e}"))),
            }
        }

        let mut views = Vec::new();
        for path in files_with_ext(&root.join("sql"), &["sql"]) {
            let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
            let parts: Vec<String> = rel
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            if parts.len() != 3 {
                diags.push(
                    Diagnostic::new(&rel, 0, 0, "a view must be at sql/<domain>/<view>.sql")
                        .with_hint("move the file into a folder named after its domain"),
                );
                continue;
            }
            let domain = parts[1].clone();
            let view = parts[2].trim_end_matches(".sql").to_string();
            match std::fs::read_to_string(&path) {
                Ok(sql) => views.push(ViewDef {
                    name: format!("{domain}.{view}"),
                    domain,
                    view,
                    path: rel,
                    sql,
                    materialized: false,
                }),
                Err(e) => diags.push(Diagnostic::new(&rel, 0, 0, format!("cannot read: {e}"))),
            }
        }

        if let Some(catalog) = &catalog {
            for v in &mut views {
                v.materialized = catalog
                    .datasets
                    .get(&v.name)
                    .is_some_and(|d| d.materialize == crate::catalog::Materialize::Table);
            }
        }
        match catalog {
            Some(catalog) if diags.is_empty() => Ok(Project {
                root: root.to_path_buf(),
                catalog,
                pipelines,
                views,
            }),
            _ => Err(diags),
        }
    }

    pub fn pipeline(&self, name: &str) -> Option<&PipelineFile> {
        self.pipelines
            .iter()
            .find(|p| p.pipeline.name.value == name)
    }

    /// Documentation of a table or view (see [`DatasetMeta`]).
    pub fn dataset_meta(&self, name: &str) -> crate::DatasetMeta {
        let doc = self.catalog.datasets.get(name);
        let p = self.pipeline(name).map(|p| &p.pipeline);
        let pick = |d: Option<&Option<String>>, p: Option<&Option<String>>| {
            d.and_then(Clone::clone)
                .or_else(|| p.and_then(Clone::clone))
        };
        let mut columns: indexmap::IndexMap<String, String> = p
            .map(|p| {
                p.columns
                    .iter()
                    .filter_map(|(c, s)| Some((c.clone(), s.doc.clone()?)))
                    .collect()
            })
            .unwrap_or_default();
        for (c, d) in doc.map(|d| &d.columns).into_iter().flatten() {
            columns.insert(c.clone(), d.clone());
        }
        crate::DatasetMeta {
            title: pick(doc.map(|d| &d.title), p.map(|p| &p.title)),
            description: pick(doc.map(|d| &d.description), p.map(|p| &p.description)),
            producer: pick(doc.map(|d| &d.producer), p.map(|p| &p.producer)),
            licence: pick(doc.map(|d| &d.licence), p.map(|p| &p.licence)),
            columns,
            publish: doc.is_some_and(|d| d.publish),
        }
    }

    pub fn dataset_names(&self) -> Vec<String> {
        self.pipelines
            .iter()
            .map(|p| p.pipeline.name.value.clone())
            .chain(self.views.iter().map(|v| v.name.clone()))
            .collect()
    }

    /// The lake location from the catalog (default `data/lake`), resolved against the root.
    pub fn lake_location(&self) -> String {
        let lake = self
            .catalog
            .lake
            .clone()
            .unwrap_or_else(|| "data/lake".to_string());
        if lake.contains("://") || Path::new(&lake).is_absolute() {
            lake
        } else {
            self.root.join(lake).to_string_lossy().into_owned()
        }
    }
}

fn files_with_ext(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| exts.contains(&e))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(files: &[(&str, &str)]) -> (tempdir::Dir, Result<Project, Diagnostics>) {
        let dir = tempdir::Dir::new();
        for (name, text) in files {
            let p = dir.0.join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let r = Project::load(&dir.0);
        (dir, r)
    }

    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Self {
                let p = std::env::temp_dir().join(format!(
                    "oc-spec-{}-{}",
                    std::process::id(),
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_nanos()
                ));
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    const CATALOG: &str = "lake: data/lake\ndomains:\n  ref: { title: Référentiels }\n";

    #[test]
    fn a_good_project_validates() {
        let (_d, p) = project(&[
            ("catalog.yaml", CATALOG),
            ("data/c.csv", "a;b\n1;2\n"),
            (
                "pipelines/c.yaml",
                "name: ref.c\nsource:\n  path: data/c.csv\n  csv: { delimiter: \";\" }\ncolumns:\n  a: { from: a, type: code, width: 5 }\n  b: { from: /^b$/, type: int32 }\n",
            ),
            ("sql/ref/v.sql", "SELECT * FROM ref.c"),
        ]);
        let p = p.unwrap();
        let diags = p.validate();
        assert!(diags.is_empty(), "{diags}");
        assert_eq!(p.dataset_names(), vec!["ref.c", "ref.v"]);
    }

    #[test]
    fn dataset_docs_merge_catalog_over_pipeline() {
        let (_d, p) = project(&[
            (
                "catalog.yaml",
                "domains:\n  ref: { title: R }\ndatasets:\n  ref.c:\n    title: From the catalog\n    columns: { b: Catalog doc of b }\n    publish: true\n",
            ),
            ("data/c.csv", "a;b\n1;2\n"),
            (
                "pipelines/c.yaml",
                "name: ref.c\ntitle: From the pipeline\nproducer: DGFiP\nsource:\n  path: data/c.csv\ncolumns:\n  a: { from: a, doc: Pipeline doc of a }\n  b: { from: b, doc: Pipeline doc of b }\n",
            ),
        ]);
        let m = p.unwrap().dataset_meta("ref.c");
        assert_eq!(m.title.as_deref(), Some("From the catalog"));
        assert_eq!(m.producer.as_deref(), Some("DGFiP"));
        assert_eq!(m.licence, None);
        assert_eq!(m.column_doc("a"), Some("Pipeline doc of a"));
        assert_eq!(m.column_doc("b"), Some("Catalog doc of b"));
        assert!(m.publish);
    }

    #[test]
    fn semantic_errors_point_at_lines() {
        let (_d, p) = project(&[
            ("catalog.yaml", CATALOG),
            (
                "pipelines/c.yaml",
                "name: refs.c\nsource:\n  path: data/c_{year}.csv\ncolumns:\n  a: { from: a, type: integer }\n  b: { type: code }\n",
            ),
        ]);
        let diags = p.unwrap().validate();
        let text = diags.to_string();
        assert!(
            text.contains("pipelines/c.yaml:1:7: error: domain `refs` is not declared"),
            "{text}"
        );
        assert!(text.contains("did you mean `ref`?"), "{text}");
        assert!(
            text.contains("`{year}` is used in source.path but not declared"),
            "{text}"
        );
        assert!(
            text.contains("pipelines/c.yaml:5:") && text.contains("unknown type `integer`"),
            "{text}"
        );
        assert!(
            text.contains("pipelines/c.yaml:6:3: error: column `b` needs exactly one of"),
            "{text}"
        );
    }

    #[test]
    fn pdf_options_are_checked() {
        let (_d, p) = project(&[
            ("catalog.yaml", CATALOG),
            ("data/r.pdf", "%PDF-1.4\n"),
            (
                "pipelines/r.yaml",
                "name: ref.r\nsource:\n  path: data/r.pdf\n  pdf: { pages: \"3-1\", strategy: latice, min_quality: 2 }\ncolumns:\n  a: { from: A }\n",
            ),
        ]);
        let text = p.unwrap().validate().to_string();
        assert!(
            text.contains("unknown strategy `latice`") && text.contains("did you mean `lattice`?"),
            "{text}"
        );
        assert!(text.contains("page list `3-1` is not valid"), "{text}");
        assert!(
            text.contains("min_quality 2 is not between 0 and 1"),
            "{text}"
        );
        // unknown keys under pdf: are refused with a suggestion
        let (_d, p) = project(&[
            ("catalog.yaml", CATALOG),
            (
                "pipelines/r.yaml",
                "name: ref.r\nsource:\n  path: r.pdf\n  pdf: { header_row: 2 }\ncolumns:\n  a: { from: A }\n",
            ),
        ]);
        let text = p.unwrap_err().to_string();
        assert!(text.contains("did you mean `header_rows`?"), "{text}");
    }

    #[test]
    fn pdf_strategy_per_axis() {
        use crate::pdf_strategy::{Boundaries::*, Strategy};
        use crate::pipeline::PdfStrategy;
        // block and flow maps, and the CLI form, are accepted
        for (pdf, want) in [
            (
                "  pdf:\n    strategy:\n      columns: text\n      rows: lines\n",
                Strategy::Axes {
                    columns: Text,
                    rows: Lines,
                },
            ),
            (
                "  pdf: { strategy: { rows: text, columns: lines } }\n",
                Strategy::Axes {
                    columns: Lines,
                    rows: Text,
                },
            ),
            (
                "  pdf: { strategy: \"columns=lines,rows=text\" }\n",
                Strategy::Axes {
                    columns: Lines,
                    rows: Text,
                },
            ),
            ("  pdf: { strategy: stream }\n", Strategy::Stream),
        ] {
            let (_d, p) = project(&[
                ("catalog.yaml", CATALOG),
                ("data/r.pdf", "%PDF-1.4\n"),
                (
                    "pipelines/r.yaml",
                    &format!(
                        "name: ref.r\nsource:\n  path: data/r.pdf\n{pdf}columns:\n  a: {{ from: A }}\n"
                    ),
                ),
            ]);
            let p = p.unwrap();
            let diags = p.validate();
            assert!(diags.is_empty(), "{pdf}: {diags}");
            let pipeline = &p.pipelines[0].pipeline;
            assert_eq!(
                pipeline.resolve_source().unwrap().pdf.strategy,
                want,
                "{pdf}"
            );
            let s = pipeline
                .source
                .pdf
                .as_ref()
                .unwrap()
                .strategy
                .as_ref()
                .unwrap();
            if let PdfStrategy::Axes(kv) = &s.value {
                assert!(kv[0].0.referenced.line() >= 4, "{kv:?}");
            }
        }
        // a bad key and a bad value are located and get a suggestion
        let (_d, p) = project(&[
            ("catalog.yaml", CATALOG),
            ("data/r.pdf", "%PDF-1.4\n"),
            (
                "pipelines/r.yaml",
                "name: ref.r\nsource:\n  path: data/r.pdf\n  pdf:\n    strategy:\n      colums: text\n      rows: line\ncolumns:\n  a: { from: A }\n",
            ),
        ]);
        let text = p.unwrap().validate().to_string();
        assert!(
            text.contains("pipelines/r.yaml:6:7: error: unknown strategy axis `colums`")
                && text.contains("did you mean `columns`?"),
            "{text}"
        );
        assert!(
            text.contains("pipelines/r.yaml:7:13: error: unknown boundaries `line` for rows")
                && text.contains("did you mean `lines`?"),
            "{text}"
        );
        assert!(text.contains("strategy misses columns"), "{text}");
        // separators conflict with columns from lines
        let (_d, p) = project(&[
            ("catalog.yaml", CATALOG),
            ("data/r.pdf", "%PDF-1.4\n"),
            (
                "pipelines/r.yaml",
                "name: ref.r\nsource:\n  path: data/r.pdf\n  pdf: { strategy: { columns: lines, rows: text }, columns: [100] }\ncolumns:\n  a: { from: A }\n",
            ),
        ]);
        let text = p.unwrap().validate().to_string();
        assert!(
            text.contains("pipelines/r.yaml:4:")
                && text.contains("cannot be used when columns come from lines"),
            "{text}"
        );
    }

    #[test]
    fn syntax_errors_of_every_file_are_collected() {
        let (_d, p) = project(&[
            ("catalog.yaml", "lake: x\ndomain: {}\n"),
            (
                "pipelines/a.yaml",
                "name: ref.a\nsource: { path: a.csv, formt: csv }\ncolumns: {}\n",
            ),
        ]);
        let diags = p.unwrap_err();
        assert_eq!(diags.len(), 2, "{diags}");
        let text = diags.to_string();
        assert!(
            text.contains("catalog.yaml:2:1: error: unknown key `domain`"),
            "{text}"
        );
        assert!(text.contains("did you mean `domains`?"), "{text}");
        assert!(
            text.contains("pipelines/a.yaml:2:") && text.contains("did you mean `format`?"),
            "{text}"
        );
    }
}
