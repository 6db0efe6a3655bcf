//! `opencoll infer FILE`: a first pipeline for a file, written to stdout (the model and the
//! reading are `oc_extract::infer`'s).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use oc_spec::Encoding;

#[derive(Args)]
pub struct InferArgs {
    /// A CSV, TSV or TXT export (`.gz`, one-member `.zip`), a JSON or NDJSON file, a workbook
    /// (.xlsx, .xls, .ods), a web page (.html) or a PDF report
    file: PathBuf,
    /// The table's name, `<domain>.<table>` (default: `raw.<file name>`)
    #[arg(long)]
    name: Option<String>,
    /// CSV and web pages: the encoding, instead of the sniffed one (utf-8, windows-1252 or
    /// iso-8859-1)
    #[arg(long)]
    encoding: Option<String>,
    /// CSV: the delimiter, instead of the sniffed one (one character, or `tab`)
    #[arg(long)]
    delimiter: Option<String>,
    /// Workbooks: the sheet, by name or 1-based position (default: the one with the most cells)
    #[arg(long)]
    sheet: Option<String>,
    /// Web pages: the table's position as `opencoll html tables` lists them; PDFs: the N-th
    /// table found, tables continued over pages joined, as infer's note lists them (default:
    /// the table with the most cells)
    #[arg(long)]
    table: Option<usize>,
    /// PDFs: the pages to look at, e.g. `3` or `2-4`
    #[arg(long)]
    pages: Option<String>,
}

pub fn run(a: InferArgs, project: Option<&std::path::Path>) -> Result<()> {
    let shown = source_path(&a.file, project);
    let encoding = a
        .encoding
        .as_deref()
        .map(str::parse::<Encoding>)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let delimiter = a
        .delimiter
        .as_deref()
        .map(|d| oc_spec::syntax::delimiter_byte(d).with_context(|| format!("bad delimiter `{d}`")))
        .transpose()?;
    let command = std::iter::once("opencoll".to_string())
        .chain(std::env::args().skip(1))
        .map(|a| {
            if a.contains([' ', '\'', '"']) {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    let req = oc_extract::infer::Request {
        path: a.file.clone(),
        shown,
        command,
        name: a.name,
        encoding,
        delimiter,
        sheet: a.sheet,
        table: a.table,
        pages: a.pages,
    };
    let yaml = oc_extract::infer::infer(&req).map_err(|e| anyhow::anyhow!("{e}"))?;
    print!("{yaml}");
    Ok(())
}

/// The file as `source.path` names it, which refresh reads from the project folder: relative
/// to `--project` when the file is inside it; a relative path typed in a subfolder of a
/// project, relative to that project; otherwise as given (an absolute path stays absolute).
fn source_path(file: &std::path::Path, project: Option<&std::path::Path>) -> String {
    let given = file.to_string_lossy().into_owned();
    let root = match project {
        Some(p) => Some(p.to_path_buf()),
        None if file.is_relative() => std::env::current_dir()
            .ok()
            .and_then(|d| oc_spec::project::Project::discover(&d)),
        None => None,
    };
    let (Some(root), Ok(abs)) = (root, std::fs::canonicalize(file)) else {
        return given;
    };
    match std::fs::canonicalize(root)
        .ok()
        .and_then(|r| abs.strip_prefix(r).ok().map(std::path::Path::to_path_buf))
    {
        Some(rel) => rel.to_string_lossy().into_owned(),
        None => given,
    }
}
