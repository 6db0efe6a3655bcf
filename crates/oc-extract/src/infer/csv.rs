//! A first pipeline for a CSV, TSV or TXT file: the dialect sniffed from its first 64 KiB,
//! then the header and every value read by the CSV reader itself (`sample.rs`), as for the
//! other formats.

use std::io::Read;

use super::dialect::sniff;
use super::render::{Draft, Opt};
use super::sample::{probe_header, sample_values};
use super::{Request, Sample};
use crate::sink::ExtractError;

pub(super) fn sample(req: &Request, draft: &mut Draft) -> Result<Sample, ExtractError> {
    let shown = req.shown.as_str();
    let mut head = Vec::new();
    crate::input::with_reader(&req.path, shown, None, None, |r| {
        r.take(64 * 1024)
            .read_to_end(&mut head)
            .map_err(|e| ExtractError::new(shown, None, e.to_string()))
    })?;
    let head = head
        .strip_prefix(crate::encoding::UTF8_BOM)
        .unwrap_or(&head);
    let mut dialect = sniff(head);
    if let Some(e) = req.encoding {
        dialect.encoding = e;
        dialect.notes.retain(|n| !n.starts_with("encoding"));
    }
    if let Some(d) = req.delimiter {
        dialect.delimiter = d;
        dialect.notes.retain(|n| !n.starts_with("delimiter"));
    }
    let delim = match dialect.delimiter {
        b'\t' => "tab".to_string(),
        d => (d as char).to_string(),
    };
    draft.option("delimiter", Opt::Text(delim), None);
    if dialect.title_lines > 0 {
        draft.option("skip_rows", Opt::Number(dialect.title_lines), None);
    }
    let notes = (!dialect.notes.is_empty()).then(|| dialect.notes.join("; "));
    draft.option("encoding", Opt::Word(dialect.encoding.name()), notes);
    let headers = probe_header(req, draft)?;
    // a CSV's marks default to `.` and none
    sample_values(req, draft, headers, false)
}
