//! The source: path templates and their vars, the format and its option block (resolved by
//! `crate::resolve`, as readers use it), `member`, and that local files exist.

use std::path::Path;

use crate::diag::{Diagnostic, Diagnostics};
use crate::pipeline::Format;
use crate::project::PipelineFile;
use crate::span::Spanned;
use crate::syntax::is_remote;
use crate::template;
use crate::yaml::locate_key;

pub(super) fn check(root: &Path, pf: &PipelineFile, diags: &mut Diagnostics) {
    let p = &pf.pipeline;
    let file = &pf.path;
    let at = |s: &Spanned<String>| (s.referenced.line(), s.referenced.column());
    // Source: templates, format, files.
    let (pl, pc) = at(&p.source.path);
    let used = template::placeholders(&p.source.path.value);
    let vars = p.vars();
    let queried: Vec<&str> = p.var_queries().map(|(k, _)| k).collect();
    for u in &used {
        if !vars.contains_key(u) && !queried.contains(&u.as_str()) {
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
    for k in &queried {
        if !used.iter().any(|u| u == k) {
            let (l, c) = locate_key(&pf.text, k);
            diags.push(
                Diagnostic::new(file, l, c, format!("source.vars.{k} is not used in source.path: the same file would be read once per value"))
                    .with_hint(format!("put `{{{k}}}` in the path, or remove the variable")),
            );
        }
    }
    if let Some(f) = &p.source.fetch {
        let mut bad = |key: &str, msg: &str| {
            let (l, c) = locate_key(&pf.text, key);
            diags.push(Diagnostic::new(file, l, c, msg.to_string()));
        };
        if f.concurrency == Some(0) {
            bad("concurrency", "fetch.concurrency must be at least 1");
        }
        if f.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
            bad(
                "rate",
                "fetch.rate is requests per second per host: a positive number",
            );
        }
        if f.timeout.is_some_and(|t| !(t > 0.0 && t.is_finite())) {
            bad("timeout", "fetch.timeout is in seconds: a positive number");
        }
        if f.max_mib == Some(0) {
            bad(
                "max_mib",
                "fetch.max_mib is the largest download in MiB: at least 1",
            );
        }
        if !is_remote(&p.source.path.value) {
            bad(
                "fetch",
                "fetch options apply to https://, http:// and s3:// sources",
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
        if let Some(v) = vals
            .iter()
            .enumerate()
            .find_map(|(i, v)| vals[..i].contains(v).then_some(v))
        {
            let (l, c) = locate_key(&pf.text, k);
            diags.push(
                Diagnostic::new(
                    file,
                    l,
                    c,
                    format!("source.vars.{k} lists {v} more than once: its file would be read, and its rows written, once per mention"),
                )
                .with_hint("list each value once"),
            );
        }
    }
    let format = p.format();
    if format == Some(Format::Database) {
        check_database(pf, diags);
    } else if p.source.path.value.is_empty() {
        diags.push(
            Diagnostic::new(file, 1, 1, "source.path is missing")
                .with_hint("the file (or https:// or s3:// URL) to read; a database source has `database:` instead"),
        );
    }
    if p.source.incremental.is_some() && format != Some(Format::Database) {
        let (l, c) = locate_key(&pf.text, "incremental");
        diags.push(
            Diagnostic::new(file, l, c, "incremental applies to database sources")
                .with_hint("files are compared by content: an unchanged file is not read again"),
        );
    }
    if format.is_none() {
        diags.push(
            Diagnostic::new(file, pl, pc, "cannot tell the format from the file name")
                .with_hint("add `format: csv` or `format: json` under source"),
        );
    }
    // An option block must be the source format's own.
    let blocks = [
        ("csv", p.source.csv.is_some(), Format::Csv, "csv"),
        ("json", p.source.json.is_some(), Format::Json, "json"),
        ("pdf", p.source.pdf.is_some(), Format::Pdf, "pdf"),
        ("xlsx", p.source.xlsx.is_some(), Format::Xlsx, "a workbook"),
        ("html", p.source.html.is_some(), Format::Html, "a web page"),
        (
            "database",
            p.source.database.is_some(),
            Format::Database,
            "a database",
        ),
    ];
    for (key, given, own, what) in blocks {
        if given && format != Some(own) {
            let (l, c) = locate_key(&pf.text, key);
            diags.push(Diagnostic::new(
                file,
                l,
                c,
                format!("{key} options on a source that is not {what}"),
            ));
        }
    }
    // The option blocks, the selectors and unpivot: resolved as the reader will use them.
    crate::resolve::resolve(p, file, &pf.text, diags);
    // What readers would otherwise only find while reading.
    if p.source.member.is_some()
        && matches!(
            format,
            Some(Format::Xlsx | Format::Pdf | Format::Parquet | Format::Arrow)
        )
    {
        let (l, c) = locate_key(&pf.text, "member");
        diags.push(
            Diagnostic::new(
                file,
                l,
                c,
                "`member` applies to zip archives of text files (CSV, JSON, HTML), not workbooks, PDFs or columnar files",
            )
            .with_hint("remove `member`; a workbook's sheets are chosen with `xlsx.sheet`"),
        );
    }
    // Files named by a query's values are only known when the pipeline runs.
    if used.iter().all(|u| vars.contains_key(u))
        && !is_remote(&p.source.path.value)
        && format != Some(Format::Database)
    {
        for b in template::bindings(&vars) {
            let rel = template::render(&p.source.path.value, &b);
            let full = root.join(&rel);
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
}

/// `database:`: where, how to log in (never a password in the YAML), what to read.
fn check_database(pf: &PipelineFile, diags: &mut Diagnostics) {
    let p = &pf.pipeline;
    let file = &pf.path;
    let mut bad = |key: &str, msg: String, hint: &str| {
        let (l, c) = locate_key(&pf.text, key);
        diags.push(Diagnostic::new(file, l, c, msg).with_hint(hint.to_string()));
    };
    if !p.source.path.value.is_empty() {
        bad(
            "path",
            "a database source has no path".into(),
            "the database is named by database.url",
        );
    }
    let Some(db) = &p.source.database else {
        bad(
            "format",
            "format: database needs a `database:` block".into(),
            "database: { url: \"sqlite:data/x.db\", query: \"SELECT …\" }",
        );
        return;
    };
    let mut extra = Vec::new();
    match (&db.url, &db.url_env) {
        (None, None) => bad(
            "database",
            "database: give `url` or `url_env`".into(),
            "url: postgres://user@host:5432/dbname, or url_env: NAME_OF_A_VARIABLE",
        ),
        (Some(_), Some(_)) => bad(
            "url_env",
            "database: `url` and `url_env` are exclusive".into(),
            "keep one",
        ),
        (Some(u), None) => {
            let v = &u.value;
            let at = |msg: String, hint: &str| {
                Diagnostic::new(file, u.referenced.line(), u.referenced.column(), msg)
                    .with_hint(hint.to_string())
            };
            if !(v.starts_with("sqlite:")
                || v.starts_with("postgres://")
                || v.starts_with("postgresql://"))
            {
                extra.push(at(
                    format!("`{v}` is not a database URL"),
                    "sqlite:path/to/file.db or postgres://user@host:port/dbname",
                ));
            } else if url::Url::parse(v).is_ok_and(|x| x.password().is_some()) {
                extra.push(at(
                    "the URL holds a password: it must not sit in the pipeline".into(),
                    "remove it; give it in PGPASSWORD (or `password_env: NAME`), or in a `password_file` kept out of version control",
                ));
            }
        }
        (None, Some(_)) => {}
    }
    if db.query.value.trim().is_empty() {
        bad(
            "query",
            "database.query is empty".into(),
            "the SELECT whose rows are loaded",
        );
    }
    for d in extra {
        diags.push(d);
    }
}
