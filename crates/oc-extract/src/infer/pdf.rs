//! A first pipeline for a table of a PDF report: the tables the PDF reader finds on the pages
//! (joined across pages), the one with the most cells (or the one named), then its values
//! read by the PDF reader. The header is the table's first row (`header_rows: 1`).

use super::render::{Draft, Opt};
use super::sample::{choose, sample_values};
use super::{Request, Sample, source_file, spec_of};
use crate::sink::ExtractError;

pub(super) fn sample(req: &Request, draft: &mut Draft) -> Result<Sample, ExtractError> {
    if let Some(p) = &req.pages {
        draft.option("pages", Opt::Text(p.clone()), None);
    }
    let tables = crate::pdf::list_tables(&spec_of(req, draft)?, &source_file(req))?;
    let sizes: Vec<(String, usize)> = tables
        .iter()
        .enumerate()
        .map(|(n, t)| {
            let pages = if t.last_page > t.page {
                format!("pages {}-{}", t.page, t.last_page)
            } else {
                format!("page {}", t.page)
            };
            (
                format!("{} ({pages}, table {})", n + 1, t.index),
                t.rows * t.header.len(),
            )
        })
        .collect();
    let i = choose(req, req.table, &sizes, "table", "--table N", draft)?;
    let t = &tables[i];
    let pages = if t.last_page > t.page {
        format!("{}-{}", t.page, t.last_page)
    } else {
        t.page.to_string()
    };
    // (another table of these pages with the same header is read too, as refresh would)
    draft.option("pages", Opt::Text(pages), None);
    sample_values(req, draft, t.header.clone(), true)
}
