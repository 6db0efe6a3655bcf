//! `opencoll pdf tables`: tables of a PDF as CSV files, named as `pdf_score.py` expects.

use anyhow::{Context, Result};
use clap::Subcommand;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum PdfCommand {
    /// Write each table found as DIR/<stem>.p<page>.t<k>.csv (k in reading order, from 1)
    Tables {
        file: PathBuf,
        /// Pages such as 1,3-5 (default: all)
        #[arg(long)]
        pages: Option<String>,
        /// lattice (ruling lines), stream (aligned text), auto, or one source per axis:
        /// columns=lines|text,rows=lines|text (e.g. columns=text,rows=lines for tables ruled
        /// only horizontally)
        #[arg(long, default_value = "auto")]
        strategy: String,
        /// Only look inside x1,y1,x2,y2 (points from the top-left corner of the displayed page)
        #[arg(long)]
        area: Option<String>,
        /// Column separators for stream tables (and columns=text): x positions in points,
        /// comma-separated
        #[arg(long)]
        columns: Option<String>,
        /// Repeat the text of spanning cells in every row/column they cover
        #[arg(long)]
        copy_spans: bool,
        /// Also write tables stitched across pages as DIR/<stem>.merged.t<k>.csv
        #[arg(long)]
        merged: bool,
        /// Header rows repeated on continuation pages (dropped when stitching)
        #[arg(long, default_value_t = 1)]
        header_rows: usize,
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn run(cmd: PdfCommand) -> Result<()> {
    let PdfCommand::Tables {
        file,
        pages,
        strategy,
        area,
        columns,
        copy_spans,
        merged,
        header_rows,
        out,
    } = cmd;
    let named = || file.display().to_string();
    let mut opts = oc_pdf::Options {
        strategy: strategy.parse().map_err(anyhow::Error::msg)?,
        copy_spans,
        ..Default::default()
    };
    if let Some(p) = pages {
        opts.pages = Some(oc_pdf::parse_pages(&p)?);
    }
    if let Some(a) = area {
        opts.area = Some(oc_pdf::parse_area(&a)?);
    }
    if let Some(c) = columns {
        let cols: Result<Vec<f32>, _> = c.split(',').map(|s| s.trim().parse::<f32>()).collect();
        opts.columns = Some(cols.map_err(|_| {
            anyhow::anyhow!("--columns: write x positions in points, e.g. 120,250.5")
        })?);
    }
    let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
    // Read in a reader process (main.rs): a file that crashes the parser is an error here.
    // No time limit: the user at the terminal stops it (Ctrl-C stops the reader too); the
    // memory limit of refreshes (OPENCOLL_READER_MEMORY).
    // (a damaged page fails the extraction: the message names the file, found by a test)
    let limits = oc_contain::process::Limits {
        time: None,
        memory_mib: Some(oc_extract::reader_memory(&named())?),
    };
    let tables = oc_pdf::child::extract_bytes(bytes, &opts, limits)
        .map_err(|e| oc_extract::pdf::reading_failed(&named(), e))?;
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let stem = file
        .file_stem()
        .map_or("table".into(), |s| s.to_string_lossy().into_owned());
    for t in &tables {
        write(&out, &format!("{stem}.p{}.t{}.csv", t.page, t.index), t)?;
    }
    if merged {
        for t in oc_pdf::stitch(&tables, header_rows) {
            write(&out, &format!("{stem}.merged.t{}.csv", t.index), &t)?;
        }
    }
    eprintln!("{} table(s) from {}", tables.len(), file.display());
    Ok(())
}

fn write(dir: &Path, name: &str, t: &oc_pdf::Table) -> Result<()> {
    let p = dir.join(name);
    std::fs::write(&p, oc_pdf::to_csv(t)).with_context(|| format!("cannot write {}", p.display()))
}
