//! What the readers themselves see of a report table (workbook sheet, web page table, PDF
//! table): the header they name (merged cells joined, repeats numbered), then every value of
//! every column read as text. Also the choice among several tables and the layout options.

use arrow::array::{Array, AsArray};
use arrow::record_batch::RecordBatch;

use super::layout::TableLayout;
use super::render::{Draft, Entry, Opt};
use super::types::{ColumnStats, Proposal};
use super::{Request, Sample, read_with};
use crate::sink::{ExtractError, Reject, Sink};
use crate::xlsx::rows::MAX_COLUMNS;

/// Stops a reading at the table's header, keeping it: `header` answers with an error, so
/// any error once the header is kept is that stop.
#[derive(Default)]
struct HeaderProbe(Option<Vec<String>>);

impl Sink for HeaderProbe {
    fn batch(&mut self, _: RecordBatch) -> Result<(), ExtractError> {
        Ok(())
    }
    fn reject(&mut self, _: Reject) -> Result<(), ExtractError> {
        Ok(())
    }
    fn header(&mut self, headers: &[String]) -> Result<(), ExtractError> {
        self.0 = Some(headers.to_vec());
        Err(ExtractError::new("", None, "the header is all infer needs"))
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

/// The header the reader finds with the draft's options.
pub(super) fn probe_header(req: &Request, draft: &Draft) -> Result<Vec<String>, ExtractError> {
    let mut probe = HeaderProbe::default();
    let read = read_with(req, draft, &mut probe);
    match (probe.0, read) {
        (Some(headers), _) => Ok(headers),
        (None, Err(e)) => Err(e),
        (None, Ok(())) => Err(ExtractError::new(
            &req.shown,
            None,
            "no header row found in the table",
        )),
    }
}

/// Reads every value of `headers` as text. Columns without a header of their own (empty,
/// or repeated) cannot be declared: they are sampled as empty, and left out later.
/// How many times each header appears.
pub(super) fn repeats<S: AsRef<str>>(headers: &[S]) -> std::collections::HashMap<&str, usize> {
    let mut counts = std::collections::HashMap::new();
    for h in headers {
        *counts.entry(h.as_ref()).or_insert(0) += 1;
    }
    counts
}

pub(super) fn sample_values(
    req: &Request,
    draft: &mut Draft,
    headers: Vec<String>,
    default_comma: bool,
) -> Result<Sample, ExtractError> {
    if headers.len() > MAX_COLUMNS {
        return Err(ExtractError::new(
            &req.shown,
            None,
            format!(
                "the header has {} columns, more than infer proposes ({MAX_COLUMNS}, a workbook's widest row)",
                headers.len()
            ),
        )
        .with_hint("write the pipeline by hand, with a `from:` for each column to keep: a refresh reads a file of up to 1,048,576 columns"));
    }
    let counts = repeats(&headers);
    let selectable = |h: &String| !h.trim().is_empty() && counts[h.as_str()] == 1;
    let declared: Vec<&String> = headers.iter().filter(|h| selectable(h)).collect();
    if declared.is_empty() {
        return Err(ExtractError::new(
            &req.shown,
            None,
            format!("the table has no column with a header of its own (header: {headers:?})"),
        )
        .with_hint("choose another table or sheet (--table N, --sheet NAME, --pages P)"));
    }
    // every column as text; names need not be meaningful here, only the values are looked at
    draft.columns = declared
        .iter()
        .enumerate()
        .map(|(i, h)| Entry::Column {
            name: format!("c{i}"),
            from: h.to_string(),
            proposal: Proposal {
                ty: "string".into(),
                width: None,
                format: None,
                comment: String::new(),
            },
            markers: Vec::new(),
        })
        .collect();
    let mut values = Values {
        stats: vec![ColumnStats::new(); declared.len()],
        rows: 0,
    };
    read_with(req, draft, &mut values)?;
    draft.columns.clear();
    let mut sampled = values.stats.into_iter();
    let columns = headers
        .iter()
        .map(|h| {
            let stats = if selectable(h) {
                sampled.next().unwrap_or_default()
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
pub(super) fn layout_options(draft: &mut Draft, l: &TableLayout) {
    if let Some(re) = &l.skip_until {
        draft.option("skip_until", Opt::Text(re.clone()), None);
    }
    if let Some(n) = l.skip_rows {
        draft.option("skip_rows", Opt::Number(n), None);
    }
    if let Some(n) = l.header_rows {
        draft.option("header_rows", Opt::Number(n), None);
    }
    if let Some(re) = &l.stop_at {
        draft.option("stop_at", Opt::Text(re.clone()), None);
    } else if l.stop_blank {
        draft.option("stop_at", Opt::Word("blank"), None);
    }
    if l.sections {
        draft.option("sections", Opt::Word("{ column: section }"), None);
    }
    draft.notes.extend(l.notes.iter().cloned());
}

/// `a (12 cells), b (40 cells)`: the candidates, for the note on the choice.
fn inventory(sizes: &[(String, usize)]) -> String {
    sizes
        .iter()
        .map(|(n, c)| format!("{n} ({c} cells)"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The chosen one among candidates named with their size: the user's (1-based), else the
/// largest, said in a note.
pub(super) fn choose(
    req: &Request,
    wanted: Option<usize>,
    sizes: &[(String, usize)],
    what: &str,
    flag: &str,
    draft: &mut Draft,
) -> Result<usize, ExtractError> {
    if sizes.is_empty() {
        return Err(ExtractError::new(&req.shown, None, format!("no {what} found")).with_hint(
            "check the file (a scanned PDF has no text to read; a page may build its tables with scripts)",
        ));
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
