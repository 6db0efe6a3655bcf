//! A first pipeline for a CSV, TSV or TXT file: the dialect sniffed from its first 64 KiB, then
//! every record read to see each column's values.

use std::io::Read;

use super::dialect::sniff;
use super::render::{Draft, Opt};
use super::types::ColumnStats;
use super::{Request, Sample};
use crate::sink::ExtractError;

pub(super) fn sample(req: &Request, draft: &mut Draft) -> Result<Sample, ExtractError> {
    let shown = req.shown.as_str();
    let err = |line: Option<u64>, m: String| ExtractError::new(shown, line, m);
    let mut head = Vec::new();
    crate::input::with_reader(&req.path, shown, None, None, |r| {
        r.take(64 * 1024)
            .read_to_end(&mut head)
            .map_err(|e| err(None, e.to_string()))
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
    // Every record: the header, then each column's values.
    let mut headers: Vec<String> = Vec::new();
    let mut stats: Vec<ColumnStats> = Vec::new();
    let mut rows = 0u64;
    let enc = dialect.encoding;
    let titles = dialect.title_lines;
    crate::input::with_reader(&req.path, shown, None, None, |r| {
        // (as the reader's skip_rows: whole lines)
        let mut line = Vec::new();
        for _ in 0..titles {
            line.clear();
            std::io::BufRead::read_until(r, b'\n', &mut line)
                .map_err(|e| err(None, e.to_string()))?;
        }
        let mut csv = csv::ReaderBuilder::new()
            .delimiter(dialect.delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(r);
        let mut rec = csv::ByteRecord::new();
        while csv
            .read_byte_record(&mut rec)
            .map_err(|e| err(None, e.to_string()))?
        {
            let first = headers.is_empty();
            let line = titles as u64 + if first { 1 } else { rows + 2 };
            let cell = |i: usize, f: &[u8]| -> Result<String, ExtractError> {
                let f = if i == 0 && first {
                    f.strip_prefix(crate::encoding::UTF8_BOM).unwrap_or(f)
                } else {
                    f
                };
                crate::encoding::decode(enc, f)
                    .map(|t| t.into_owned())
                    .map_err(|m| err(Some(line), m))
            };
            if first {
                headers = rec
                    .iter()
                    .enumerate()
                    .map(|(i, f)| cell(i, f))
                    .collect::<Result<_, _>>()?;
                stats = vec![ColumnStats::new(); headers.len()];
                continue;
            }
            rows += 1;
            for (i, f) in rec.iter().enumerate().take(stats.len()) {
                stats[i].add(&cell(i, f)?);
            }
        }
        Ok(())
    })?;
    if headers.is_empty() {
        return Err(err(None, "the file is empty".into()));
    }
    let delim = match dialect.delimiter {
        b'\t' => "tab".to_string(),
        d => (d as char).to_string(),
    };
    draft.option("delimiter", Opt::Text(delim), None);
    if titles > 0 {
        draft.option("skip_rows", Opt::Number(titles), None);
    }
    let notes = (!dialect.notes.is_empty()).then(|| dialect.notes.join("; "));
    draft.option("encoding", Opt::Word(dialect.encoding.name()), notes);
    Ok(Sample {
        rows,
        columns: headers.into_iter().zip(stats).collect(),
        // a CSV's marks default to `.` and none
        default_comma: false,
    })
}
