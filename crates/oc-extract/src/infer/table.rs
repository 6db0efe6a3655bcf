//! A first pipeline for a table of a workbook, a web page or a PDF: choose the table (the one
//! with the most cells unless the user names it), find its layout (`layout.rs`), let the real
//! reader name the columns (merged header cells, repeats), then read every value as text.

use std::io::Read;

use arrow::array::{Array, AsArray};
use arrow::record_batch::RecordBatch;
use oc_spec::Encoding;

use super::layout::{TableLayout, table_layout};
use super::render::{Draft, Entry, quoted};
use super::types::{ColumnStats, Proposal};
use super::{Request, Sample, read_with};
use crate::sink::{ExtractError, Reject, Sink};

/// Stops a reading at the table's header, keeping it.
#[derive(Default)]
struct HeaderProbe(Option<Vec<String>>);

const PROBED: &str = "header probed";

impl Sink for HeaderProbe {
    fn batch(&mut self, _: RecordBatch) -> Result<(), ExtractError> {
        Ok(())
    }
    fn reject(&mut self, _: Reject) -> Result<(), ExtractError> {
        Ok(())
    }
    fn header(&mut self, headers: &[String]) -> Result<(), ExtractError> {
        self.0 = Some(headers.to_vec());
        Err(ExtractError::new("", None, PROBED))
    }
}

/// Every value of the declared (text) columns, in their order.
struct Values {
    stats: Vec<ColumnStats>,
    rows: u64,
}

impl Sink for Values {
    fn batch(&mut self, batch: RecordBatch) -> Result<(), ExtractError> {
        self.rows += batch.num_rows() as u64;
        for (s, col) in self.stats.iter_mut().zip(batch.columns()) {
            let Some(text) = col.as_string_opt::<i32>() else {
                continue;
            };
            for i in 0..text.len() {
                s.add(if text.is_null(i) { "" } else { text.value(i) });
            }
        }
        Ok(())
    }
    fn reject(&mut self, _: Reject) -> Result<(), ExtractError> {
        // a cell no text column takes (a spreadsheet error): the check after says so
        Ok(())
    }
}

/// A text column per source column.
fn as_text(from: &str) -> Entry {
    Entry::Column {
        name: super::snake_case(from),
        from: from.to_string(),
        proposal: Proposal {
            ty: "string".into(),
            width: None,
            format: None,
            comment: String::new(),
        },
        markers: Vec::new(),
    }
}

/// The header the reader finds with the draft's options.
fn probe_header(req: &Request, draft: &Draft) -> Result<Vec<String>, ExtractError> {
    let mut probe = HeaderProbe::default();
    match read_with(req, draft, &mut probe) {
        Err(e) if probe.0.is_none() || e.message != PROBED => Err(e),
        _ => probe
            .0
            .ok_or_else(|| ExtractError::new(&req.shown, None, "no header row found in the table")),
    }
}

/// Reads every value of `headers` (the selectable ones) as text.
pub(super) fn sample_values(
    req: &Request,
    draft: &mut Draft,
    headers: Vec<String>,
    default_comma: bool,
) -> Result<Sample, ExtractError> {
    let selectable =
        |h: &String| !h.trim().is_empty() && headers.iter().filter(|x| *x == h).count() == 1;
    let declared: Vec<&String> = headers.iter().filter(|h| selectable(h)).collect();
    if declared.is_empty() {
        return Err(ExtractError::new(
            &req.shown,
            None,
            format!(
                "the table has no column with a header of its own (header: {:?})",
                headers
            ),
        )
        .with_hint("choose another table or sheet (--table N, --sheet NAME, --pages P)"));
    }
    // names need not be unique here: only the values are looked at
    draft.columns = declared
        .iter()
        .enumerate()
        .map(|(i, h)| match as_text(h) {
            Entry::Column {
                from,
                proposal,
                markers,
                ..
            } => Entry::Column {
                name: format!("c{i}"),
                from,
                proposal,
                markers,
            },
            e => e,
        })
        .collect();
    let mut values = Values {
        stats: vec![ColumnStats::new(); declared.len()],
        rows: 0,
    };
    read_with(req, draft, &mut values)?;
    draft.columns.clear();
    let mut by_header = declared.into_iter().zip(values.stats);
    let columns = headers
        .iter()
        .map(|h| {
            let stats = if selectable(h) {
                by_header.next().map(|(_, s)| s).unwrap_or_default()
            } else {
                ColumnStats::new()
            };
            (h.clone(), stats)
        })
        .collect();
    Ok(Sample {
        rows: values.rows,
        columns,
        default_comma,
    })
}

/// The layout options of a report table (workbook sheet, web page table).
fn layout_options(draft: &mut Draft, l: &TableLayout) {
    if let Some(re) = &l.skip_until {
        draft.option("skip_until", quoted(re), None);
    }
    if let Some(n) = l.skip_rows {
        draft.option("skip_rows", n.to_string(), None);
    }
    if let Some(n) = l.header_rows {
        draft.option("header_rows", n.to_string(), None);
    }
    if l.stop_blank {
        draft.option("stop_at", "blank".into(), None);
    }
    if l.sections {
        draft.option("sections", "{ column: section }".into(), None);
    }
    draft.notes.extend(l.notes.iter().cloned());
}

/// `a (12 cells), b (40)`: the candidates, for the note on the choice.
fn inventory(sizes: &[(String, usize)]) -> String {
    sizes
        .iter()
        .map(|(n, c)| format!("{n} ({c} cells)"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn filled(grid: &[Vec<String>]) -> usize {
    grid.iter()
        .flatten()
        .filter(|c| !c.trim().is_empty())
        .count()
}

/// The chosen one of `count` candidates: the user's (1-based), else the largest.
fn choose(
    req: &Request,
    wanted: Option<usize>,
    sizes: &[(String, usize)],
    what: &str,
    flag: &str,
    draft: &mut Draft,
) -> Result<usize, ExtractError> {
    if sizes.is_empty() {
        return Err(ExtractError::new(&req.shown, None, format!("no {what} found"))
            .with_hint("check the file (a scanned PDF has no text to read; a page may build its tables with scripts)"));
    }
    if let Some(n) = wanted {
        return n
            .checked_sub(1)
            .filter(|i| *i < sizes.len())
            .ok_or_else(|| {
                ExtractError::new(
                    &req.shown,
                    None,
                    format!("there is no {what} {n}: {}", inventory(sizes)),
                )
            });
    }
    let best = (0..sizes.len())
        .max_by_key(|i| (sizes[*i].1, std::cmp::Reverse(*i)))
        .unwrap_or(0);
    if sizes.len() > 1 {
        draft.notes.push(format!(
            "{what} {} chosen, the one with the most cells of: {}; {flag} to choose another",
            sizes[best].0,
            inventory(sizes)
        ));
    }
    Ok(best)
}

pub(super) fn workbook(req: &Request, draft: &mut Draft) -> Result<Sample, ExtractError> {
    let sheets = crate::xlsx::sheet_grids(&req.path, &req.shown)?;
    let sizes: Vec<(String, usize)> = sheets
        .iter()
        .map(|(n, g)| (format!("`{n}`"), filled(g)))
        .collect();
    let wanted = match &req.sheet {
        None => None,
        Some(s) => Some(match s.parse::<usize>() {
            Ok(n) if !sheets.iter().any(|(name, _)| name == s) => n,
            _ => {
                sheets
                    .iter()
                    .position(|(name, _)| name.to_lowercase() == s.to_lowercase())
                    .ok_or_else(|| {
                        ExtractError::new(
                            &req.shown,
                            None,
                            format!("no sheet `{s}`: the sheets are {}", inventory(&sizes)),
                        )
                    })?
                    + 1
            }
        }),
    };
    let i = choose(req, wanted, &sizes, "sheet", "--sheet NAME", draft)?;
    let (name, grid) = &sheets[i];
    // a name the `sheet:` syntax would read otherwise (a regex, a template) goes by position
    let sheet = if name.starts_with('/') || name.contains('{') {
        (i + 1).to_string()
    } else {
        quoted(name)
    };
    draft.option("sheet", sheet, None);
    let names: Vec<String> = sheets.iter().map(|(n, _)| n.clone()).collect();
    if let Some(re) = super::layout::sheet_pattern(&names) {
        draft.notes.push(format!(
            "the sheets differ only by a number: `sheet: {}` reads them all, the number as the var `n` (a column `{{ var: n }}`)",
            quoted(&re)
        ));
    }
    layout_options(draft, &table_layout(grid));
    let headers = probe_header(req, draft)?;
    sample_values(req, draft, headers, false)
}

pub(super) fn page(req: &Request, draft: &mut Draft) -> Result<Sample, ExtractError> {
    let mut bytes = Vec::new();
    crate::input::with_reader(&req.path, &req.shown, None, None, |r| {
        r.take(crate::html::MAX_PAGE_BYTES)
            .read_to_end(&mut bytes)
            .map_err(|e| ExtractError::new(&req.shown, None, format!("cannot read: {e}")))
    })?;
    // Declared, given, else UTF-8, else the legacy encoding of French pages.
    let (doc, encoding) = match crate::html::parse_page(&bytes, None, req.encoding) {
        Ok((doc, _)) => (doc, req.encoding),
        Err(utf8) => match crate::html::parse_page(&bytes, None, Some(Encoding::Windows1252)) {
            Ok((doc, _)) if req.encoding.is_none() => {
                draft.notes.push(
                    "the page declares no encoding and is not UTF-8: read as windows-1252, the legacy encoding of French pages"
                        .into(),
                );
                (doc, Some(Encoding::Windows1252))
            }
            _ => return Err(ExtractError::new(&req.shown, None, utf8)),
        },
    };
    let tables = crate::html::select::list(&doc, usize::MAX);
    drop(doc);
    let grids: Vec<Vec<Vec<String>>> = tables
        .into_iter()
        .map(|t| {
            t.preview
                .into_iter()
                .map(|r| r.into_iter().map(|c| c.trim().to_string()).collect())
                .collect()
        })
        .collect();
    let sizes: Vec<(String, usize)> = grids
        .iter()
        .enumerate()
        .map(|(i, g)| ((i + 1).to_string(), filled(g)))
        .collect();
    let i = choose(req, req.table, &sizes, "table", "--table N", draft)?;
    draft.option("table", (i + 1).to_string(), None);
    if let Some(e) = encoding {
        draft.option("encoding", encoding_name(e).into(), None);
    }
    layout_options(draft, &table_layout(&grids[i]));
    let headers = probe_header(req, draft)?;
    sample_values(req, draft, headers, true)
}

pub(super) fn pdf(req: &Request, draft: &mut Draft) -> Result<Sample, ExtractError> {
    if let Some(p) = &req.pages {
        draft.option("pages", quoted(p), None);
    }
    // the tables the reader finds on those pages
    let p = oc_spec::parse_pipeline(&draft.to_yaml())
        .map_err(|d| ExtractError::new(&req.shown, None, d.to_string()))?;
    let spec =
        crate::ReadSpec::from_pipeline(&p).map_err(|m| ExtractError::new(&req.shown, None, m))?;
    let file = crate::SourceFile {
        path: req.path.clone(),
        display: req.shown.clone(),
        vars: Default::default(),
        content_type: None,
        bytes_read: None,
    };
    let tables = crate::pdf::list_tables(&spec, &file)?;
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
    draft.options.retain(|(k, _, _)| k != "pages");
    draft.option("pages", quoted(&pages), None);
    sample_values(req, draft, t.header.clone(), true)
}

fn encoding_name(e: Encoding) -> &'static str {
    match e {
        Encoding::Utf8 => "utf-8",
        Encoding::Windows1252 => "windows-1252",
        Encoding::Latin1 => "iso-8859-1",
    }
}
