//! From a pipeline to a query plan: the conformed input, `sql` columns, transform steps.
//! Also the project-wide check that every piece of SQL plans (`opencoll validate`).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use datafusion::prelude::{DataFrame, SessionContext};
use oc_extract::ReadSpec;
use oc_spec::project::PipelineFile;
use oc_spec::{Diagnostic, Diagnostics, Project, TransformStep};
use oc_sql::session::{new_context, read_only, references, register, register_views};

/// The table the conformed rows are registered as while a pipeline's SQL is planned.
pub const INPUT: &str = "input";

pub struct PipelinePlan {
    pub spec: ReadSpec,
    /// Schema of the conformed rows (`from` and `var` columns).
    pub input_schema: SchemaRef,
    /// True when rows go through DataFusion (sql columns or transform steps).
    pub needs_sql: bool,
}

impl PipelinePlan {
    pub fn new(pf: &PipelineFile) -> Result<PipelinePlan, String> {
        let spec = ReadSpec::from_pipeline(&pf.pipeline)?;
        let input_schema = spec.schema();
        let p = &pf.pipeline;
        let needs_sql =
            p.sql_steps().next().is_some() || p.columns.values().any(|c| c.sql.is_some());
        Ok(PipelinePlan {
            spec,
            input_schema,
            needs_sql,
        })
    }
}

/// Where a planning error is reported.
pub struct SqlSite {
    pub line: u64,
    pub column: u64,
    pub what: String,
}

/// Plans the pipeline's SQL on `ctx`, reading the conformed rows from `input`. The returned
/// DataFrame is the pipeline's output. On error, says which piece of SQL failed.
pub async fn plan_output(
    ctx: &SessionContext,
    pf: &PipelineFile,
    input: Arc<dyn TableProvider>,
) -> Result<DataFrame, (SqlSite, String)> {
    let p = &pf.pipeline;
    let opts = read_only();
    let site = |s: &oc_spec::Spanned<String>, what: String| SqlSite {
        line: s.referenced.line(),
        column: s.referenced.column(),
        what,
    };
    let reg = |ctx: &SessionContext, provider: Arc<dyn TableProvider>| {
        let _ = ctx.deregister_table(INPUT);
        ctx.register_table(INPUT, provider).map(|_| ())
    };
    reg(ctx, input).map_err(|e| {
        (
            SqlSite {
                line: 0,
                column: 0,
                what: "input".into(),
            },
            e.to_string(),
        )
    })?;

    // Computed columns see every `from`/`var` column and the computed columns before them;
    // a last projection restores the declared order.
    let mut df: Option<DataFrame> = None;
    if p.columns.values().any(|c| c.sql.is_some()) {
        for (name, spec) in &p.columns {
            if let Some(expr) = &spec.sql {
                let q = format!("SELECT *, ({}) AS {} FROM {INPUT}", expr.value, quote(name));
                let d = ctx
                    .sql_with_options(&q, opts)
                    .await
                    .map_err(|e| (site(expr, format!("column `{name}`")), e.to_string()))?;
                reg(ctx, d.into_view())
                    .map_err(|e| (site(expr, format!("column `{name}`")), e.to_string()))?;
            }
        }
        let cols = p
            .columns
            .iter()
            .flat_map(|(c, spec)| {
                let status = spec.status.then(|| quote(&format!("{c}_status")));
                std::iter::once(quote(c)).chain(status)
            })
            .collect::<Vec<_>>()
            .join(", ");
        let d = ctx
            .sql_with_options(&format!("SELECT {cols} FROM {INPUT}"), opts)
            .await
            .map_err(|e| {
                (
                    SqlSite {
                        line: 0,
                        column: 0,
                        what: "columns".into(),
                    },
                    e.to_string(),
                )
            })?;
        reg(ctx, d.clone().into_view()).map_err(|e| {
            (
                SqlSite {
                    line: 0,
                    column: 0,
                    what: "columns".into(),
                },
                e.to_string(),
            )
        })?;
        df = Some(d);
    }
    for (i, step) in p.transform.iter().enumerate() {
        let TransformStep::Sql(sql) = step else {
            continue; // unpivot runs in the reader
        };
        let d = ctx.sql_with_options(&sql.value, opts).await.map_err(|e| {
            (
                site(sql, format!("transform step {}", i + 1)),
                e.to_string(),
            )
        })?;
        reg(ctx, d.clone().into_view()).map_err(|e| {
            (
                site(sql, format!("transform step {}", i + 1)),
                e.to_string(),
            )
        })?;
        df = Some(d);
    }
    match df {
        Some(d) => Ok(d),
        None => ctx.table(INPUT).await.map_err(|e| {
            (
                SqlSite {
                    line: 0,
                    column: 0,
                    what: "input".into(),
                },
                e.to_string(),
            )
        }),
    }
}

fn quote(ident: &str) -> String {
    format!("\"{ident}\"")
}

/// The checks of a pipeline planned against its output (registered in `ctx` under its name):
/// a column that is not there is said now, not after the whole source was read. A
/// relationship's other table may not be registered here: those are left to the run.
async fn check_checks(ctx: &SessionContext, pf: &PipelineFile, diags: &mut Diagnostics) {
    for c in &pf.pipeline.checks {
        if c.relationship.is_some() {
            continue;
        }
        let Some(sql) = crate::checks::failing_rows_sql(c, &pf.pipeline.name.value) else {
            continue;
        };
        if let Err(e) = ctx.sql_with_options(&sql, read_only()).await {
            let (l, col) = oc_spec::locate_key(&pf.text, "checks");
            let message =
                first_line(&e.to_string()).replace(&format!("{}.", pf.pipeline.name.value), "");
            diags.push(
                Diagnostic::new(&pf.path, l, col, format!("check {}: {message}", c.label()))
                    .with_hint("checks name the pipeline's output columns"),
            );
        }
    }
}

/// Everything `opencoll validate` checks: the static checks of `oc-spec`, then every piece of
/// SQL planned against the declared schemas (no data needed, the lake is not read).
pub async fn validate_project(project: &Project) -> Diagnostics {
    validate_with_graph(project, &crate::graph::DependencyGraph::of(project)).await
}

/// [`validate_project`] with the project's dependency graph already built (a refresh builds
/// it once for validation, order and staleness).
pub async fn validate_with_graph(
    project: &Project,
    graph: &crate::graph::DependencyGraph,
) -> Diagnostics {
    let mut diags = project.validate();
    let ordered = graph.ordered(project, &mut diags);
    let ctx = new_context();
    let mut failed: BTreeSet<String> = BTreeSet::new();
    for pf in ordered {
        let plan = match PipelinePlan::new(pf) {
            Ok(p) => p,
            Err(e) => {
                // `validate` resolved the same source (`oc_spec::resolve`) and reported this
                // fault with its line; the reader's words are the first of them. Said here
                // only if a file had no diagnostic, which would be a bug.
                if !diags.0.iter().any(|d| d.file == pf.path) {
                    diags.push(Diagnostic::new(&pf.path, 0, 0, e));
                }
                continue;
            }
        };
        // A var's query runs on tables of earlier pipelines (registered below, in order).
        for (name, sql) in pf.pipeline.var_queries() {
            let place = sql.location_in(&pf.text);
            let at = |msg: String| Diagnostic::new(&pf.path, place.line(), place.column(), msg);
            match ctx.sql_with_options(&sql.value, read_only()).await {
                Ok(df) if df.schema().fields().len() != 1 => diags.push(
                    at(format!(
                        "source.vars.{name}: the query returns {} columns; it must return one (the values)",
                        df.schema().fields().len()
                    )),
                ),
                Ok(_) => {}
                Err(e) => diags.push(
                    at(format!("source.vars.{name}: {}", first_line(&e.to_string())))
                        .with_hint("a query on the lake's tables, e.g. SELECT code FROM ref.communes WHERE …"),
                ),
            }
        }
        let empty =
            Arc::new(MemTable::try_new(plan.input_schema.clone(), vec![vec![]]).expect("schema"));
        match plan_output(&ctx, pf, empty).await {
            Ok(df) => {
                let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
                let target = &pf.pipeline.target;
                let keys = [
                    ("partition", "partition_by", &target.partition_by),
                    ("cluster", "cluster_by", &target.cluster_by),
                ];
                for (what, key, cols) in keys {
                    for col in cols {
                        if schema.field_with_name(col).is_err() {
                            let (l, c) = oc_spec::locate_key(&pf.text, key);
                            diags.push(Diagnostic::new(
                                &pf.path,
                                l,
                                c,
                                format!("{what} column `{col}` is not in the pipeline's output"),
                            ));
                        }
                    }
                }
                check_docs(project, &pf.pipeline.name.value, &schema, &mut diags);
                let table = Arc::new(MemTable::try_new(schema, vec![vec![]]).expect("schema"));
                if let Err(e) = register(&ctx, &pf.pipeline.name.value, table) {
                    diags.push(Diagnostic::new(&pf.path, 0, 0, e.to_string()));
                }
                check_checks(&ctx, pf, &mut diags).await;
            }
            Err((site, msg)) => {
                failed.insert(pf.pipeline.name.value.clone());
                diags.push(
                    Diagnostic::new(
                        &pf.path,
                        site.line,
                        site.column,
                        format!("{}: {}", site.what, first_line(&msg)),
                    )
                    .with_hint("SQL runs in DataFusion; the conformed rows are the table `input`"),
                )
            }
        }
    }
    let _ = ctx.deregister_table(INPUT);
    // Operational tables exist in every lake.
    if let Err(e) = oc_sql::session::register_empty_ops(&ctx, |_| false) {
        diags.push(Diagnostic::new(Path::new("sql"), 0, 0, e.to_string()));
    }
    match register_views(&ctx, &project.views).await {
        Ok((created, broken)) => {
            for (v, msg) in broken {
                // A view over a pipeline that failed to plan: the pipeline's error says it all.
                let refs = references(&ctx, &v.sql).unwrap_or_default();
                if refs.iter().any(|r| failed.contains(r)) {
                    continue;
                }
                diags.push(
                    Diagnostic::new(&v.path, 1, 1, first_line(&msg))
                        .with_hint("views read lake tables as <domain>.<table>"),
                );
            }
            for name in created {
                if let Ok(df) = ctx.table(name.as_str()).await {
                    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
                    check_docs(project, &name, &schema, &mut diags);
                }
            }
        }
        Err(e) => diags.push(Diagnostic::new(Path::new("sql"), 0, 0, e.to_string())),
    }
    diags
}

/// Column docs in catalog.yaml must name real columns.
fn check_docs(project: &Project, name: &str, schema: &SchemaRef, diags: &mut Diagnostics) {
    if let Some(doc) = project.catalog.datasets.get(name) {
        for col in doc.columns.keys() {
            if schema.field_with_name(col).is_err() {
                let mut d = Diagnostic::new(
                    "catalog.yaml",
                    doc.line,
                    0,
                    format!("datasets.{name}: no column `{col}`"),
                );
                let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                if let Some(s) = oc_spec::diag::did_you_mean(col, names) {
                    d = d.with_hint(format!("did you mean `{s}`?"));
                }
                diags.push(d);
            }
        }
    }
}

fn first_line(msg: &str) -> String {
    msg.lines().next().unwrap_or(msg).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every error a reader can raise for a reason of the pipeline's text (not of the data)
    /// must stop `validate`, so that `refresh` never reaches it while reading.
    #[tokio::test]
    async fn validate_catches_every_spec_error_readers_would_raise() {
        let cases: [(&str, &str, &str); 24] = [
            (
                "data/x.json",
                "source: { path: data/x.json }\ncolumns:\n  a: { from: \"/^code$/\" }\n",
                "/regex/ is not supported for JSON",
            ),
            (
                "data/x.xlsx",
                "source: { path: data/x.xlsx, member: x.csv }\ncolumns:\n  a: { from: A }\n",
                "`member` applies to zip archives",
            ),
            (
                "data/x.pdf",
                "source: { path: data/x.pdf, member: x.csv }\ncolumns:\n  a: { from: A }\n",
                "`member` applies to zip archives",
            ),
            (
                "data/x.json",
                "source: { path: data/x.json }\ntransform:\n  - unpivot: { columns: \"/20/\", name: y, value: v }\ncolumns:\n  a: { from: y }\n",
                "unpivot applies to csv",
            ),
            (
                "data/x.csv",
                "source: { path: data/x.csv, csv: { delimiter: \";;\" } }\ncolumns:\n  a: { from: A }\n",
                "must be one ASCII character",
            ),
            (
                "data/x.csv",
                "source: { path: data/x.csv }\ncolumns:\n  a: { from: \"/(/\" }\n",
                "bad regex in `from`",
            ),
            (
                "data/x.csv",
                "source: { path: data/x.csv, csv: { quote: \"\" } }\ncolumns:\n  a: { from: A }\n",
                "must be one ASCII character or `none`",
            ),
            (
                "data/x.pdf",
                "source: { path: data/x.pdf, pdf: { strategy: \"columns=lines,rows=pixels\" } }\ncolumns:\n  a: { from: A }\n",
                "unknown boundaries `pixels`",
            ),
            (
                "data/x.dat",
                "source: { path: data/x.dat }\ncolumns:\n  a: { from: A }\n",
                "cannot tell the format",
            ),
            (
                "data/x.xlsx",
                "source: { path: data/x.xlsx, xlsx: { range: \"K5:A1\" } }\ncolumns:\n  a: { from: A }\n",
                "is not a cell range",
            ),
            (
                "data/x.csv",
                "source: { path: data/x.csv, json: { records: items } }\ncolumns:\n  a: { from: A }\n",
                "json options on a source that is not json",
            ),
            (
                "data/x.html",
                "source: { path: data/x.html, html: { table: \"css:table[\" } }\ncolumns:\n  a: { from: A }\n",
                "bad CSS selector",
            ),
            (
                "data/x.html",
                "source: { path: data/x.html, html: { table: 0 } }\ncolumns:\n  a: { from: A }\n",
                "table positions start at 1",
            ),
            (
                "data/x.html",
                "source: { path: data/x.html, html: { table: fiche } }\ncolumns:\n  a: { from: A }\n",
                "neither a position, a /regex/ nor css:SELECTOR",
            ),
            (
                "data/x.html",
                "source: { path: data/x.html, html: { capture: [\"/Population : ([0-9 ]+)/\"] } }\ncolumns:\n  a: { from: A }\n",
                "needs a named group",
            ),
            (
                "data/x.html",
                "source: { path: data/x.html, html: { sections: { column: s, match: \"/(/\" } } }\ncolumns:\n  a: { from: A }\n",
                "bad regex in `match`",
            ),
            (
                "data/x.csv",
                "source: { path: data/x.csv, html: { table: 2 } }\ncolumns:\n  a: { from: A }\n",
                "html options on a source that is not a web page",
            ),
            (
                "data/x.parquet",
                "source: { path: data/x.parquet, member: a.csv }\ncolumns:\n  a: { from: A }\n",
                "`member` applies to zip archives",
            ),
            (
                "data/x.csv",
                "source: { path: \"data/{c}.csv\", vars: { c: { sql: \"SELECT 1 AS a, 2 AS b\" } } }\ncolumns:\n  a: { from: A }\n",
                "source.vars.c: the query returns 2 columns",
            ),
            (
                "data/x.csv",
                "source: { path: \"data/{c}.csv\", vars: { c: { sql: \"SELECT code FROM ref.nowhere\" } } }\ncolumns:\n  a: { from: A }\n",
                "source.vars.c: Error during planning: table 'datafusion.ref.nowhere' not found",
            ),
            (
                "data/x.csv",
                "source: { path: data/x.csv, fetch: { rate: 0 } }\ncolumns:\n  a: { from: A }\n",
                "fetch.rate is requests per second per host",
            ),
            (
                "data/x.csv",
                "source: { database: { url: \"postgres://desl:secret@db/x\", query: \"SELECT 1 AS a\" } }\ncolumns:\n  a: { from: a }\n",
                "the URL holds a password: it must not sit in the pipeline",
            ),
            (
                "data/x.csv",
                "source: { database: { url: \"mysql://db/x\", query: \"SELECT 1 AS a\" } }\ncolumns:\n  a: { from: a }\n",
                "is not a database URL",
            ),
            (
                "data/x.csv",
                "source: { path: data/x.csv, incremental: { cursor: maj } }\ncolumns:\n  a: { from: A }\n",
                "incremental applies to database sources",
            ),
        ];
        for (data, pipeline, message) in cases {
            let dir = tempfile::tempdir().unwrap();
            let write = |rel: &str, text: &str| {
                let p = dir.path().join(rel);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(p, text).unwrap();
            };
            write("catalog.yaml", "domains:\n  ref: { title: R }\n");
            write(data, "A\n1\n");
            write("pipelines/x.yaml", &format!("name: ref.x\n{pipeline}"));
            let project = Project::load(dir.path()).unwrap();
            let found = validate_project(&project).await;
            let diags = found.to_string();
            assert!(
                diags.contains(message),
                "{pipeline}\nwants {message:?}, got:\n{diags}"
            );
            // Each said once, with its line (the reader's own unlocated words are not added).
            assert!(
                found.0.iter().all(|d| d.line > 0),
                "{pipeline}\nan error without its line:\n{diags}"
            );
            let lake = oc_lake::Lake::open(dir.path().join("lake").to_str().unwrap()).unwrap();
            let e = crate::refresh(
                &project,
                &lake,
                &[],
                &Default::default(),
                std::sync::Arc::new(crate::Quiet),
            )
            .await
            .unwrap_err();
            assert!(
                matches!(e, crate::RefreshError::Invalid { .. }),
                "{pipeline}: {e}"
            );
        }
    }
}
