//! A first pipeline for a workbook sheet: the sheet with the most cells (or the one named),
//! its layout found from its cells, then its values read by the workbook reader.

use super::layout::{sheet_pattern, table_layout};
use super::render::{Draft, Opt};
use super::sample::{choose, layout_options, probe_header, sample_values};
use super::{Request, Sample};
use crate::sink::ExtractError;

pub(super) fn sample(req: &Request, draft: &mut Draft) -> Result<Sample, ExtractError> {
    let sheets = crate::xlsx::sheet_sizes(&req.path, &req.shown)?;
    let sizes: Vec<(String, usize)> = sheets.iter().map(|(n, c)| (format!("`{n}`"), *c)).collect();
    let wanted = match &req.sheet {
        None => None,
        // a position, unless a sheet has that name
        Some(s) => Some(match s.parse::<usize>() {
            Ok(n) if !sheets.iter().any(|(name, _)| name == s) => n,
            _ => {
                let at = sheets
                    .iter()
                    .position(|(name, _)| name.to_lowercase() == s.to_lowercase());
                at.ok_or_else(|| {
                    let names: Vec<String> = sizes.iter().map(|(n, _)| n.clone()).collect();
                    ExtractError::new(
                        &req.shown,
                        None,
                        format!("no sheet `{s}`: the sheets are {}", names.join(", ")),
                    )
                })? + 1
            }
        }),
    };
    let i = choose(req, wanted, &sizes, "sheet", "--sheet NAME", draft)?;
    let name = &sheets[i].0;
    // a name the `sheet:` syntax would read otherwise (a regex, a template) goes by position
    let sheet = if name.starts_with('/') || name.contains('{') {
        Opt::Number(i + 1)
    } else {
        Opt::Text(name.clone())
    };
    draft.option("sheet", sheet, None);
    let names: Vec<String> = sheets.iter().map(|(n, _)| n.clone()).collect();
    if let Some(re) = sheet_pattern(&names) {
        draft.notes.push(format!(
            "the sheets differ only by a number: `sheet: {}` reads them all, the number as the var `n` (a column `{{ var: n }}`)",
            super::render::quoted(&re)
        ));
    }
    let grid = crate::xlsx::sheet_grid(&req.path, &req.shown, name)?;
    layout_options(draft, &table_layout(&grid));
    let headers = probe_header(req, draft)?;
    sample_values(req, draft, headers, false)
}
