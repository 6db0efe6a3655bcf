//! `opencoll html tables`: the tables of a web page as `html.table` counts them, and the
//! page's text as `html.capture` regexes see it — what one needs to write a pipeline.

use anyhow::{Context, Result};
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum HtmlCommand {
    /// List the tables of a page (position, size, title, first rows)
    Tables {
        file: PathBuf,
        /// Encoding used when the page declares none (utf-8, windows-1252, iso-8859-1)
        #[arg(long)]
        encoding: Option<String>,
        /// Rows shown per table
        #[arg(long, default_value_t = 3)]
        rows: usize,
        /// Print the page's text as `capture:` regexes see it (a tab between cells, a line
        /// break between rows) instead of the tables
        #[arg(long)]
        text: bool,
    },
}

pub fn run(cmd: HtmlCommand) -> Result<()> {
    let HtmlCommand::Tables {
        file,
        encoding,
        rows,
        text,
    } = cmd;
    let encoding = encoding
        .as_deref()
        .map(str::parse::<oc_spec::Encoding>)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let (doc, enc) = oc_extract::html::parse_page(&bytes, None, encoding)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    if text {
        print!("{}", oc_extract::html::grid::page_text(doc.root_element()));
        return Ok(());
    }
    let tables = oc_extract::html::select::list(&doc, rows);
    println!(
        "{}: {} tables ({enc}); choose one with html.table: <position>",
        file.display(),
        tables.len()
    );
    for t in tables {
        println!(
            "\ntable {}: {} rows × {} columns{}",
            t.position,
            t.rows,
            t.width,
            t.title.map(|x| format!(" — « {x} »")).unwrap_or_default()
        );
        for r in &t.preview {
            let cells: Vec<String> = r
                .iter()
                .map(|c| {
                    let c: String = c.chars().take(28).collect();
                    if c.is_empty() { "·".into() } else { c }
                })
                .collect();
            println!("  | {} |", cells.join(" | "));
        }
    }
    Ok(())
}
