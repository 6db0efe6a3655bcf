//! A project on disk: `catalog.yaml`, `pipelines/**/*.yaml`, `sql/<domain>/<view>.sql`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::catalog::{Catalog, RawCatalog};
use crate::diag::{Diagnostic, Diagnostics, did_you_mean};
use crate::pipeline::{CsvOptions, Format, Pipeline};
use crate::template;
use crate::types::ColumnType;
use crate::yaml::{locate_key, parse};

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
                }),
                Err(e) => diags.push(Diagnostic::new(&rel, 0, 0, format!("cannot read: {e}"))),
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

    /// Checks everything that needs no SQL engine. SQL is planned by `oc-sql`.
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
            self.validate_pipeline(pf, &domains, &mut diags);
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

    fn validate_pipeline(&self, pf: &PipelineFile, domains: &[&str], diags: &mut Diagnostics) {
        let p = &pf.pipeline;
        let file = &pf.path;
        let at = |s: &serde_saphyr::Spanned<String>| (s.referenced.line(), s.referenced.column());

        let (nl, nc) = at(&p.name);
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

        // Source: templates, format, files.
        let (pl, pc) = at(&p.source.path);
        let used = template::placeholders(&p.source.path.value);
        let vars = p.vars();
        for u in &used {
            if !vars.contains_key(u) {
                diags.push(
                    Diagnostic::new(
                        file,
                        pl,
                        pc,
                        format!("`{{{u}}}` is used in source.path but not declared"),
                    )
                    .with_hint(format!("add `vars: {{ {u}: [...] }}` under source")),
                );
            }
        }
        for (k, vals) in &vars {
            if !used.contains(k) {
                let (l, c) = locate_key(&pf.text, k);
                diags.push(
                    Diagnostic::new(file, l, c, format!("source.vars.{k} is not used in source.path: the same file would be read once per value"))
                        .with_hint(format!("put `{{{k}}}` in the path, or remove the variable")),
                );
            }
            if vals.is_empty() {
                let (l, c) = locate_key(&pf.text, k);
                diags.push(Diagnostic::new(
                    file,
                    l,
                    c,
                    format!("source.vars.{k} has no values"),
                ));
            }
        }
        let format = p.format();
        if format.is_none() {
            diags.push(
                Diagnostic::new(file, pl, pc, "cannot tell the format from the file name")
                    .with_hint("add `format: csv` or `format: json` under source"),
            );
        }
        if p.source.csv.is_some() && format != Some(Format::Csv) {
            let (l, c) = locate_key(&pf.text, "csv");
            diags.push(Diagnostic::new(
                file,
                l,
                c,
                "csv options on a source that is not csv",
            ));
        }
        if p.source.json.is_some() && format != Some(Format::Json) {
            let (l, c) = locate_key(&pf.text, "json");
            diags.push(Diagnostic::new(
                file,
                l,
                c,
                "json options on a source that is not json",
            ));
        }
        if p.source.pdf.is_some() && format != Some(Format::Pdf) {
            let (l, c) = locate_key(&pf.text, "pdf");
            diags.push(Diagnostic::new(
                file,
                l,
                c,
                "pdf options on a source that is not pdf",
            ));
        }
        if p.source.xlsx.is_some() && format != Some(Format::Xlsx) {
            let (l, c) = locate_key(&pf.text, "xlsx");
            diags.push(Diagnostic::new(
                file,
                l,
                c,
                "xlsx options on a source that is not a workbook",
            ));
        }
        if let Some(csv) = &p.source.csv {
            check_csv(file, &pf.text, csv, diags);
        }
        if let Some(pdf) = &p.source.pdf {
            check_pdf(file, &pf.text, pdf, diags);
        }
        if let Some(x) = &p.source.xlsx {
            check_xlsx(file, &pf.text, x, &vars, diags);
        }
        for (i, step) in p.transform.iter().enumerate() {
            if let crate::TransformStep::Unpivot(u) = step {
                let (l, c) = at(&u.columns);
                if i != 0 {
                    diags.push(
                        Diagnostic::new(file, l, c, "unpivot must be the first transform step")
                            .with_hint("it runs on the source columns as they are read, before typing and SQL"),
                    );
                }
                if let Err(e) = regex::Regex::new(u.regex()) {
                    diags.push(Diagnostic::new(
                        file,
                        l,
                        c,
                        format!("bad regex in unpivot `columns`: {e}"),
                    ));
                }
                if format == Some(Format::Json) {
                    diags.push(
                        Diagnostic::new(
                            file,
                            l,
                            c,
                            "unpivot applies to csv, workbook and pdf sources",
                        )
                        .with_hint(
                            "JSON records have no header row: select the fields with `from:`",
                        ),
                    );
                }
            }
        }
        if used.iter().all(|u| vars.contains_key(u)) && !is_remote(&p.source.path.value) {
            for b in template::bindings(&vars) {
                let rel = template::render(&p.source.path.value, &b);
                let full = self.root.join(&rel);
                if !full.is_file() {
                    diags.push(
                        Diagnostic::new(file, pl, pc, format!("source file not found: {rel}"))
                            .with_hint(
                                "paths are relative to the project folder (where catalog.yaml is)",
                            ),
                    );
                }
            }
        }

        // Named groups of a `sheet: /regex/` are vars too (one value per matching sheet).
        let sheet_groups: Vec<String> = match p.source.xlsx.as_ref().and_then(|x| x.sheet.as_ref())
        {
            Some(crate::SheetRef::Name(n)) => regex_of(n)
                .and_then(|re| regex::Regex::new(re).ok())
                .map(|re| re.capture_names().flatten().map(str::to_string).collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        // Columns.
        if p.columns.is_empty() {
            let (l, c) = locate_key(&pf.text, "columns");
            diags.push(Diagnostic::new(
                file,
                l.max(1),
                c,
                "declare at least one column under `columns:`",
            ));
        }
        for (out, spec) in &p.columns {
            let (kl, kc) = locate_key(&pf.text, out);
            if !crate::is_ident(out) {
                diags.push(
                    Diagnostic::new(
                        file,
                        kl,
                        kc,
                        format!("column name `{out}` is not a lowercase identifier"),
                    )
                    .with_hint("use letters, digits and _; map the source header with `from:`"),
                );
            }
            let sources = [spec.from.is_some(), spec.var.is_some(), spec.sql.is_some()];
            if sources.iter().filter(|x| **x).count() != 1 {
                diags.push(
                    Diagnostic::new(
                        file,
                        kl,
                        kc,
                        format!("column `{out}` needs exactly one of `from`, `var` or `sql`"),
                    )
                    .with_hint("`from: HEADER` reads a source column; `sql: expr` computes one"),
                );
            }
            if let Some(from) = &spec.from
                && let Some(re) = regex_of(&from.value)
                && let Err(e) = regex::Regex::new(re)
            {
                let (l, c) = at(from);
                diags.push(Diagnostic::new(
                    file,
                    l,
                    c,
                    format!("bad regex in `from`: {e}"),
                ));
            }
            if let Some(var) = &spec.var
                && !vars.contains_key(&var.value)
                && !sheet_groups.contains(&var.value)
            {
                let (l, c) = at(var);
                let mut d = Diagnostic::new(file, l, c, format!("unknown var `{}`", var.value));
                if let Some(s) = did_you_mean(&var.value, vars.keys().map(String::as_str)) {
                    d = d.with_hint(format!("did you mean `{s}`?"));
                }
                diags.push(d);
            }
            let ty = match &spec.ty {
                Some(t) => match t.value.parse::<ColumnType>() {
                    Ok(ty) => Some(ty),
                    Err(e) => {
                        let (l, c) = at(t);
                        diags.push(
                            Diagnostic::new(file, l, c, e)
                                .with_hint(format!("types: {}", ColumnType::NAMES.join(", "))),
                        );
                        None
                    }
                },
                None => Some(ColumnType::String),
            };
            if let (Some(_), Some(t)) = (&spec.sql, &spec.ty) {
                let (l, c) = at(t);
                diags.push(
                    Diagnostic::new(
                        file,
                        l,
                        c,
                        format!(
                            "column `{out}`: a `sql` column takes its type from the expression"
                        ),
                    )
                    .with_hint("cast in SQL instead, e.g. CAST(x AS DECIMAL(18,2))"),
                );
            }
            if spec.width.is_some() && ty != Some(ColumnType::Code) {
                diags.push(Diagnostic::new(
                    file,
                    kl,
                    kc,
                    format!("column `{out}`: `width` applies to type code only"),
                ));
            }
            if spec.status && (spec.sql.is_some() || ty.is_some_and(|t| t.is_text())) {
                diags.push(
                    Diagnostic::new(
                        file,
                        kl,
                        kc,
                        format!("column `{out}`: `status` applies to typed source columns"),
                    )
                    .with_hint("a text column keeps its placeholders as they are"),
                );
            }
            if spec.status && p.columns.contains_key(&format!("{out}_status")) {
                diags.push(Diagnostic::new(
                    file,
                    kl,
                    kc,
                    format!("column `{out}_status` is declared and also added by `status: true`"),
                ));
            }
            if spec.format.is_some() && ty != Some(ColumnType::Date) {
                diags.push(Diagnostic::new(
                    file,
                    kl,
                    kc,
                    format!("column `{out}`: `format` applies to type date only"),
                ));
            }
        }

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
        if p.target.mode == crate::WriteMode::ReplacePartitions && p.target.partition_by.is_empty()
        {
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
}

fn check_check(
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

fn check_domain(
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

fn check_csv(file: &Path, text: &str, csv: &CsvOptions, diags: &mut Diagnostics) {
    let mut bad = |key: &str, msg: String, hint: &str| {
        let (l, c) = locate_key(text, key);
        diags.push(Diagnostic::new(file, l, c, msg).with_hint(hint.to_string()));
    };
    if let Some(d) = &csv.delimiter
        && delimiter_byte(d).is_none()
    {
        bad(
            "delimiter",
            format!("delimiter `{d}` must be one ASCII character"),
            "e.g. \";\", \",\" or tab",
        );
    }
    if let Some(q) = &csv.quote
        && q != "none"
        && (q.len() != 1 || !q.is_ascii())
    {
        bad(
            "quote",
            format!("quote `{q}` must be one ASCII character or `none`"),
            "e.g. '\"'",
        );
    }
    if let Some(d) = &csv.decimal
        && d != "."
        && d != ","
    {
        bad(
            "decimal",
            format!("decimal mark `{d}` must be `.` or `,`"),
            "French files use \",\"",
        );
    }
    if let Some(t) = &csv.thousands {
        if ![" ", ".", ",", "'", "\u{a0}", "\u{202f}"].contains(&t.as_str()) {
            bad(
                "thousands",
                format!("thousands separator `{t}` is not supported"),
                "use \" \", \".\", \",\" or \"'\"",
            );
        } else if csv.decimal.as_deref().unwrap_or(".") == t {
            bad(
                "thousands",
                "thousands separator and decimal mark are the same".into(),
                "French numbers: decimal \",\" and thousands \" \"",
            );
        }
    }
}

fn check_xlsx(
    file: &Path,
    text: &str,
    x: &crate::XlsxOptions,
    vars: &indexmap::IndexMap<String, Vec<String>>,
    diags: &mut Diagnostics,
) {
    let mut bad = |key: &str, msg: String, hint: &str| {
        let (l, c) = locate_key(text, key);
        diags.push(Diagnostic::new(file, l, c, msg).with_hint(hint.to_string()));
    };
    match &x.sheet {
        Some(crate::SheetRef::Index(0)) => bad(
            "sheet",
            "sheet positions start at 1".into(),
            "`sheet: 1` is the first sheet",
        ),
        Some(crate::SheetRef::Name(n)) => {
            if let Some(re) = regex_of(n) {
                if let Err(e) = regex::Regex::new(re) {
                    bad(
                        "sheet",
                        format!("bad regex in `sheet`: {e}"),
                        "e.g. /^définitions_(?<exercice>\\d{4})$/",
                    );
                }
            } else {
                for u in template::placeholders(n) {
                    if !vars.contains_key(&u) {
                        bad(
                            "sheet",
                            format!("`{{{u}}}` is used in sheet but not declared"),
                            "declare it under source.vars",
                        );
                    }
                }
            }
        }
        _ => {}
    }
    if let Some(r) = &x.range
        && crate::parse_range(r).is_none()
    {
        bad(
            "range",
            format!("range `{r}` is not a cell range"),
            "e.g. A5:K120, or A5:K to read to the last row",
        );
    }
    for (key, v) in [
        ("skip_until", &x.skip_until),
        ("notes", &x.notes),
        ("stop_at", &x.stop_at),
    ] {
        if let Some(v) = v
            && !(key == "stop_at" && v == "blank")
            && let Err(e) = regex::Regex::new(regex_of(v).unwrap_or(v))
        {
            bad(
                key,
                format!("bad regex in `{key}`: {e}"),
                "a regular expression, e.g. ^Source",
            );
        }
    }
    if x.skip_rows.is_some() && x.skip_until.is_some() {
        bad(
            "skip_until",
            "`skip_rows` and `skip_until` are exclusive".into(),
            "keep one",
        );
    }
    check_csv(
        file,
        text,
        &CsvOptions {
            decimal: x.decimal.clone(),
            thousands: x.thousands.clone(),
            ..Default::default()
        },
        diags,
    );
}

fn check_pdf(file: &Path, text: &str, pdf: &crate::pipeline::PdfOptions, diags: &mut Diagnostics) {
    if let Some(s) = &pdf.strategy {
        check_pdf_strategy(file, text, s, pdf.columns.is_some(), diags);
    }
    let mut bad = |key: &str, msg: String, hint: &str| {
        let (l, c) = locate_key(text, key);
        diags.push(Diagnostic::new(file, l, c, msg).with_hint(hint.to_string()));
    };
    if let Some(p) = &pdf.pages {
        let ok = p.value.split(',').all(|part| {
            let part = part.trim();
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            a.trim().parse::<usize>().is_ok_and(|a| a >= 1)
                && (b.trim().is_empty()
                    || b.trim()
                        .parse::<usize>()
                        .is_ok_and(|b| b >= a.trim().parse().unwrap_or(1)))
        });
        if !ok {
            bad(
                "pages",
                format!("page list `{}` is not valid", p.value),
                "write pages from 1 and ranges, e.g. \"1,3-5\"",
            );
        }
    }
    if let Some(a) = &pdf.area
        && (a.len() != 4 || a.iter().any(|x| !x.is_finite()))
    {
        bad(
            "area",
            "area must be four numbers [x1, y1, x2, y2]".into(),
            "points from the top-left corner of the page",
        );
    }
    if let Some(q) = pdf.min_quality
        && !(0.0..=1.0).contains(&q)
    {
        bad(
            "min_quality",
            format!("min_quality {q} is not between 0 and 1"),
            "e.g. 0.9",
        );
    }
    if let Some(d) = &pdf.decimal
        && d != "."
        && d != ","
    {
        bad(
            "decimal",
            format!("decimal mark `{d}` must be `.` or `,`"),
            "French reports use \",\"",
        );
    }
}

/// `strategy:` is a name, `columns=…,rows=…` (the CLI form) or `{ columns: …, rows: … }`.
fn check_pdf_strategy(
    file: &Path,
    text: &str,
    s: &serde_saphyr::Spanned<crate::pipeline::PdfStrategy>,
    separators: bool,
    diags: &mut Diagnostics,
) {
    use crate::pipeline::PdfStrategy;
    const NAMES: [&str; 3] = ["lattice", "stream", "auto"];
    const AXES: [&str; 2] = ["columns", "rows"];
    const SOURCES: [&str; 2] = ["lines", "text"];
    const FORMS: &str = "use lattice, stream, auto or { columns: lines|text, rows: lines|text }";
    let whole = match (s.referenced.line(), s.referenced.column()) {
        (0, _) => locate_key(text, "strategy"),
        lc => lc,
    };
    let mut push = |(l, c): (u64, u64), msg: String, hint: String| {
        diags.push(Diagnostic::new(file, l, c, msg).with_hint(hint));
    };
    let hint = |word: &str, among: &[&'static str], other: &str| match did_you_mean(
        word,
        among.iter().copied(),
    ) {
        Some(m) => format!("did you mean `{m}`?"),
        None => other.to_string(),
    };
    // (axis, source, where the axis is written, where the source is written) of both forms
    type Entry = (String, String, (u64, u64), (u64, u64));
    let entries: Vec<Entry> = match &s.value {
        PdfStrategy::Name(n) if NAMES.contains(&n.as_str()) => return,
        PdfStrategy::Name(n) if n.contains('=') => n
            .split(',')
            .map(|part| {
                let (k, v) = part.split_once('=').unwrap_or((part, ""));
                (k.trim().to_string(), v.trim().to_string(), whole, whole)
            })
            .collect(),
        PdfStrategy::Name(n) => {
            push(
                whole,
                format!("unknown strategy `{n}`"),
                hint(n, &NAMES, FORMS),
            );
            return;
        }
        PdfStrategy::Axes(kv) => kv
            .iter()
            .map(|(k, v)| {
                let at = |x: &serde_saphyr::Spanned<String>| match x.referenced.line() {
                    0 => whole,
                    l => (l, x.referenced.column()),
                };
                (k.value.clone(), v.value.clone(), at(k), at(v))
            })
            .collect(),
    };
    let mut seen: Vec<&str> = Vec::new();
    let mut columns_from_lines = false;
    for (k, v, k_at, v_at) in &entries {
        if !AXES.contains(&k.as_str()) {
            push(
                *k_at,
                format!("unknown strategy axis `{k}`"),
                hint(k, &AXES, "the axes are columns and rows"),
            );
            continue;
        }
        if seen.contains(&k.as_str()) {
            push(
                *k_at,
                format!("strategy axis `{k}` is given twice"),
                FORMS.into(),
            );
            continue;
        }
        seen.push(k);
        if !SOURCES.contains(&v.as_str()) {
            push(
                *v_at,
                format!("unknown boundaries `{v}` for {k}"),
                hint(
                    v,
                    &SOURCES,
                    "use lines (ruling lines) or text (text alignment)",
                ),
            );
        }
        columns_from_lines |= k == "columns" && v == "lines";
    }
    let missing: Vec<&str> = AXES.iter().copied().filter(|a| !seen.contains(a)).collect();
    if !missing.is_empty() {
        push(
            whole,
            format!("strategy misses {}", missing.join(" and ")),
            "give both axes, e.g. { columns: text, rows: lines }".into(),
        );
    }
    if columns_from_lines && separators {
        push(
            whole,
            "column separators (`columns: [x, …]`) cannot be used when columns come from lines"
                .into(),
            "drop the separators, or take columns from text".into(),
        );
    }
}

/// The byte of a delimiter option (`tab` and `\t` mean TAB).
pub fn delimiter_byte(d: &str) -> Option<u8> {
    match d {
        "tab" | "\\t" | "\t" => Some(b'\t'),
        s if s.len() == 1 && s.is_ascii() => Some(s.as_bytes()[0]),
        _ => None,
    }
}

/// `/regex/` → `Some("regex")`.
pub fn regex_of(from: &str) -> Option<&str> {
    from.strip_prefix('/')
        .and_then(|r| r.strip_suffix('/'))
        .filter(|r| !r.is_empty())
}

pub fn is_remote(path: &str) -> bool {
    path.contains("://")
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
        use crate::pipeline::PdfStrategy;
        // block and flow maps, and the CLI form, are accepted
        for (pdf, cli) in [
            (
                "  pdf:\n    strategy:\n      columns: text\n      rows: lines\n",
                "columns=text,rows=lines",
            ),
            (
                "  pdf: { strategy: { rows: text, columns: lines } }\n",
                "rows=text,columns=lines",
            ),
            (
                "  pdf: { strategy: \"columns=lines,rows=text\" }\n",
                "columns=lines,rows=text",
            ),
            ("  pdf: { strategy: stream }\n", "stream"),
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
            let s = p.pipelines[0].pipeline.pdf_options().strategy.unwrap();
            assert_eq!(s.value.to_cli(), cli);
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
