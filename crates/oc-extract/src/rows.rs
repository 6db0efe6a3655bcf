//! Shared by the readers: find the declared columns in a header (and unpivot year columns),
//! conform raw cells of one record, append or reject, emit batches.

use std::borrow::Cow;

use oc_spec::OnExtraColumns;

use crate::conform::BatchBuilder;
use crate::sink::{ExtractError, Reject, Sink};
use crate::spec::{ReadSpec, Selector, SourceFile};

/// Where each declared column takes its value in a record.
pub(crate) enum Slot {
    Field(usize),
    Const(String),
    /// The unpivoted header (markers removed), its cell, its markers.
    UnpivotName,
    UnpivotValue,
    UnpivotFlag,
}

/// One unpivoted source column.
pub(crate) struct Pivot {
    pub field: usize,
    pub name: String,
    pub flag: Option<String>,
}

/// The declared columns resolved against one file's header.
pub(crate) struct Layout {
    pub slots: Vec<Slot>,
    /// Source column label per declared column, for rejects.
    pub labels: Vec<String>,
    /// Columns turned into rows (empty without unpivot): each record gives one row per entry.
    pub pivots: Vec<Pivot>,
}

/// The positions of the headers that have a `key`, by key: one pass over the header, and
/// room only for the names a pipeline asks for (a header can be 64 MiB of names).
fn positions<'h, K: std::hash::Hash + Eq>(
    hs: &'h [String],
    key: impl Fn(&'h str) -> Option<K>,
) -> std::collections::HashMap<K, Vec<usize>> {
    let mut at: std::collections::HashMap<K, Vec<usize>> = std::collections::HashMap::new();
    for (i, h) in hs.iter().enumerate() {
        if let Some(k) = key(h) {
            at.entry(k).or_default().push(i);
        }
    }
    at
}

impl Layout {
    /// Resolves the declared columns. `headers: None` means a file without a header row,
    /// whose columns are `column_1`, `column_2`…
    pub fn resolve(
        spec: &ReadSpec,
        file: &SourceFile,
        headers: Option<&[String]>,
        header_line: u64,
    ) -> Result<Layout, ExtractError> {
        let name = file.display.as_str();
        let err = |msg: String| ExtractError::new(name, Some(header_line), msg);
        let empty = Vec::new();
        let hs: &[String] = headers.unwrap_or(&empty);
        let mut used = vec![false; hs.len()];
        let mut pivots = Vec::new();
        if let Some(u) = &spec.unpivot {
            if headers.is_none() {
                return Err(err("unpivot needs a header row".into()));
            }
            for (i, h) in hs.iter().enumerate() {
                if let Some(m) = u.columns.find(h).filter(|_| !h.is_empty()) {
                    // The match names the row (`Montants 2023 (p)` with /\d{4}/ → 2023); the
                    // header's trailing markers go to the flag.
                    let (name, _) = strip_markers(m.as_str());
                    let (_, flag) = strip_markers(h);
                    pivots.push(Pivot {
                        field: i,
                        name,
                        flag,
                    });
                    used[i] = true;
                }
            }
            if pivots.is_empty() {
                return Err(err(format!(
                    "unpivot: no column header matches /{}/",
                    u.columns.as_str()
                ))
                .with_hint(format!("the header has: {}", preview(hs))));
            }
        }
        // The positions of the names asked for (and by lowercase name when a name is not
        // found): a wide file's columns are found in one pass, not one pass per column.
        let asked: std::collections::HashSet<&str> = spec.header_names().collect();
        let by_name = positions(hs, |h| asked.get(h).copied());
        let mut by_lower = None;
        let mut slots = Vec::with_capacity(spec.columns.len());
        let mut labels = Vec::with_capacity(spec.columns.len());
        for c in &spec.columns {
            if let (Some(u), Selector::Header(h)) = (&spec.unpivot, &c.selector) {
                let slot = if *h == u.name {
                    Some(Slot::UnpivotName)
                } else if *h == u.value {
                    Some(Slot::UnpivotValue)
                } else if *h == u.flag {
                    Some(Slot::UnpivotFlag)
                } else {
                    None
                };
                if let Some(slot) = slot {
                    labels.push(h.clone());
                    slots.push(slot);
                    continue;
                }
            }
            let idx = match &c.selector {
                Selector::Var(v) => {
                    let value = file.vars.get(v).cloned().unwrap_or_default();
                    labels.push(format!("{{{v}}}"));
                    slots.push(Slot::Const(value));
                    continue;
                }
                Selector::Header(h) if headers.is_none() => h
                    .strip_prefix("column_")
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|n| *n >= 1)
                    .map(|n| n - 1)
                    .ok_or_else(|| {
                        ExtractError::new(
                            name,
                            Some(header_line + 1),
                            format!(
                                "column `{}`: without a header, use `from: column_N`",
                                c.plan.name
                            ),
                        )
                    })?,
                Selector::Header(h) => {
                    let hits = match by_name.get(h.as_str()) {
                        Some(hits) => hits.clone(),
                        // Same name up to case and surrounding spaces is accepted (COG switched case in 2021).
                        None => by_lower
                            .get_or_insert_with(|| {
                                let asked: std::collections::HashSet<String> = asked
                                    .iter()
                                    .map(|h| h.trim().to_ascii_lowercase())
                                    .collect();
                                positions(hs, |h| {
                                    Some(h.to_ascii_lowercase()).filter(|l| asked.contains(l))
                                })
                            })
                            .get(&h.trim().to_ascii_lowercase())
                            .cloned()
                            .unwrap_or_default(),
                    };
                    one_hit(name, header_line, &c.selector, hs, hits)?
                }
                Selector::Regex(re) => {
                    let hits: Vec<usize> = (0..hs.len()).filter(|&i| re.is_match(&hs[i])).collect();
                    one_hit(name, header_line, &c.selector, hs, hits)?
                }
            };
            if let Some(u) = used.get_mut(idx) {
                *u = true;
            }
            labels.push(
                hs.get(idx)
                    .cloned()
                    .unwrap_or_else(|| format!("column_{}", idx + 1)),
            );
            slots.push(Slot::Field(idx));
        }
        if spec.on_extra_columns == OnExtraColumns::Error {
            let extra: Vec<&str> = hs
                .iter()
                .zip(&used)
                .filter(|(h, u)| !**u && !h.is_empty())
                .map(|(h, _)| h.as_str())
                .collect();
            if !extra.is_empty() {
                return Err(err(format!(
                    "columns not declared in the pipeline: {}",
                    extra.join(", ")
                ))
                .with_hint("declare them under `columns:` or set `on_extra_columns: ignore`"));
            }
        }
        Ok(Layout {
            slots,
            labels,
            pivots,
        })
    }

    /// Sends one source record: one row, or one row per unpivoted column. `cell(i)` gives
    /// field `i` (None when the record is shorter).
    pub fn emit<'c>(
        &'c self,
        rows: &mut RowWriter<'_>,
        sink: &mut dyn Sink,
        line: u64,
        cell: impl Fn(usize) -> Option<Cow<'c, str>>,
    ) -> Result<(), ExtractError> {
        // Without unpivot a record is one row; the unpivot slots are then never declared.
        let single = self.pivots.is_empty().then_some(None);
        let pivots = single.into_iter().chain(self.pivots.iter().map(Some));
        for p in pivots {
            let raws = self.slots.iter().map(|s| match (s, p) {
                (Slot::Field(i), _) => cell(*i),
                (Slot::Const(v), _) => Some(Cow::Borrowed(v.as_str())),
                (Slot::UnpivotName, Some(p)) => Some(Cow::Borrowed(p.name.as_str())),
                (Slot::UnpivotValue, Some(p)) => cell(p.field),
                (Slot::UnpivotFlag, Some(p)) => p.flag.as_deref().map(Cow::Borrowed),
                (_, None) => None,
            });
            rows.push_cells(sink, line, raws)?;
        }
        Ok(())
    }
}

/// `2023 (p)` → (`2023`, `p`); `2021 (1)(r)` → (`2021`, `1,r`); `2020*` → (`2020`, `*`):
/// trailing footnote markers (parenthesised, `*`, superscript digits) leave the header.
pub(crate) fn strip_markers(header: &str) -> (String, Option<String>) {
    let mut rest = header.trim_end();
    let mut flags = Vec::new();
    loop {
        if let Some(before) = rest.strip_suffix(')')
            && let Some(open) = before.rfind('(')
        {
            flags.push(before[open + 1..].trim().to_string());
            rest = before[..open].trim_end();
        } else if let Some(c) = rest
            .chars()
            .last()
            .filter(|c| matches!(c, '*' | '¹' | '²' | '³' | '⁽' | '⁾'))
        {
            flags.push(c.to_string());
            rest = rest[..rest.len() - c.len_utf8()].trim_end();
        } else {
            break;
        }
    }
    if rest.is_empty() {
        return (header.trim().to_string(), None);
    }
    flags.reverse();
    let flag = (!flags.is_empty()).then(|| flags.join(","));
    (rest.to_string(), flag)
}

/// `h` as it reads when the bytes it was decoded from (as windows-1252) are UTF-8, if that
/// makes other, non-ASCII text.
fn utf8_read_as_1252(h: &str) -> Option<String> {
    if h.is_ascii() {
        return None;
    }
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(h);
    if unmappable {
        return None;
    }
    let utf8 = std::str::from_utf8(&bytes).ok()?;
    (utf8 != h).then(|| utf8.to_string())
}

fn one_hit(
    file: &str,
    line: u64,
    sel: &Selector,
    headers: &[String],
    hits: Vec<usize>,
) -> Result<usize, ExtractError> {
    match hits.as_slice() {
        [one] => Ok(*one),
        [] => {
            let mut e =
                ExtractError::new(file, Some(line), format!("no column {sel} in the header"));
            let wanted = match sel {
                Selector::Header(h) => h.clone(),
                _ => String::new(),
            };
            // A UTF-8 file read as windows-1252 shows `libellÃ©` for `libellé`: the fix is
            // the encoding, not the name.
            if let Some(h) = headers.iter().find_map(|h| utf8_read_as_1252(h)) {
                return Err(e.with_hint(format!(
                    "the file looks like UTF-8 (its header has `{h}` once read as UTF-8): set `encoding: utf-8`"
                )));
            }
            let close = oc_spec::diag::did_you_mean(&wanted, headers.iter().map(String::as_str));
            e = match close {
                Some(c) => e.with_hint(format!("did you mean `{c}`?")),
                None => e.with_hint(format!("the header has: {}", preview(headers))),
            };
            Err(e)
        }
        many => Err(ExtractError::new(
            file,
            Some(line),
            format!(
                "{} columns match {sel}: {}",
                many.len(),
                many.iter()
                    .map(|i| headers[*i].as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .with_hint("make `from` match exactly one header")),
    }
}

fn preview(headers: &[String]) -> String {
    let mut s = headers
        .iter()
        .take(30)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if headers.len() > 30 {
        s.push_str(", …");
    }
    s
}

const MAX_VALUE_CHARS: usize = 200;

/// Where the cells of a declared column come from in [`RowWriter::push_rows`].
pub(crate) enum CellSource<'c> {
    /// Field `n` of each record.
    Field(usize),
    /// The same text for every row (a file's `{var}`).
    Const(&'c str),
    /// No cell: NULL.
    Null,
}

pub(crate) struct RowWriter<'a> {
    spec: &'a ReadSpec,
    file: &'a SourceFile,
    /// Source column label per declared column (header text, JSON path or `{var}`), for rejects.
    labels: Vec<String>,
    builder: BatchBuilder,
    pub rows_read: u64,
    pub rows_rejected: u64,
}

impl<'a> RowWriter<'a> {
    pub fn new(spec: &'a ReadSpec, file: &'a SourceFile, labels: Vec<String>) -> Self {
        let plans: Vec<_> = spec.columns.iter().map(|c| c.plan.clone()).collect();
        Self {
            spec,
            file,
            labels,
            builder: BatchBuilder::new(&plans, spec.batch_rows),
            rows_read: 0,
            rows_rejected: 0,
        }
    }

    pub fn reject(
        &mut self,
        sink: &mut dyn Sink,
        line: u64,
        column: Option<usize>,
        value: Option<&str>,
        reason: String,
    ) -> Result<(), ExtractError> {
        self.rows_rejected += 1;
        sink.reject(Reject {
            file: self.file.display.clone(),
            line,
            column: column.map(|c| self.labels[c].clone()),
            value: value.map(|v| v.chars().take(MAX_VALUE_CHARS).collect()),
            reason,
        })?;
        if self.rows_rejected > self.spec.reject_limit {
            return Err(ExtractError::too_many_rejects(
                &self.file.display,
                line,
                self.rows_rejected,
            ));
        }
        Ok(())
    }

    /// One record's raw cells, in declared-column order.
    pub fn push(
        &mut self,
        sink: &mut dyn Sink,
        line: u64,
        raws: &[Option<Cow<'_, str>>],
    ) -> Result<(), ExtractError> {
        self.push_cells(sink, line, raws.iter().map(|r| r.as_deref()))
    }

    /// [`RowWriter::push`] of the cells `raws` lists: each converted and written into its
    /// column as it comes, the row taken back from the columns if one does not convert.
    pub fn push_cells<R: std::ops::Deref<Target = str>>(
        &mut self,
        sink: &mut dyn Sink,
        line: u64,
        raws: impl Iterator<Item = Option<R>>,
    ) -> Result<(), ExtractError> {
        self.rows_read += 1;
        for (i, raw) in raws.enumerate() {
            let raw = raw.as_deref();
            let plan = &self.spec.columns[i].plan;
            match plan.convert(raw) {
                Ok(c) => self.builder.push(i, &c),
                Err(reason) => {
                    self.builder.drop_row();
                    let reason = format!("{reason} (column {} is {})", plan.name, plan.ty);
                    return self.reject(sink, line, Some(i), raw, reason);
                }
            }
        }
        self.builder.end_row();
        if self.builder.is_full() {
            sink.batch(self.builder.finish())?;
        }
        Ok(())
    }

    /// `rows` records whose cells are all at hand (declared column `i` from `source(i)`, field
    /// `n` of record `r` as `field(r, n)`, records numbered from 0), written column by column:
    /// each column's type is then decided once per run of rows instead of once per cell, where
    /// the jump to a column's conversion, a different one at every cell, was the largest item
    /// of the reader's profile. Batches end where
    /// [`RowWriter::push_cells`] would end them. A run with a cell that does not convert is
    /// written again row by row, so rejects, their order and the reject limit are those of
    /// [`RowWriter::push_cells`].
    pub fn push_rows<'c>(
        &mut self,
        sink: &mut dyn Sink,
        rows: usize,
        line: impl Fn(usize) -> u64,
        source: impl Fn(usize) -> CellSource<'c>,
        field: impl Fn(usize, usize) -> &'c str,
    ) -> Result<(), ExtractError> {
        let spec = self.spec;
        let columns = spec.columns.len();
        let cell = |r: usize, i: usize| match source(i) {
            CellSource::Field(idx) => Some(field(r, idx)),
            CellSource::Const(v) => Some(v),
            CellSource::Null => None,
        };
        let mut first = 0;
        while first < rows {
            let end = (first + self.builder.room()).min(rows);
            let builder = &mut self.builder;
            let converted = spec.columns.iter().enumerate().all(|(i, c)| {
                let mut write = |raw: Option<&str>| match c.plan.convert(raw) {
                    Ok(v) => {
                        builder.push(i, &v);
                        true
                    }
                    Err(_) => false,
                };
                match source(i) {
                    CellSource::Field(idx) => (first..end).all(|r| write(Some(field(r, idx)))),
                    CellSource::Const(v) => (first..end).all(|_| write(Some(v))),
                    CellSource::Null => (first..end).all(|_| write(None)),
                }
            });
            if converted {
                self.builder.end_rows(end - first);
                self.rows_read += (end - first) as u64;
                if self.builder.is_full() {
                    sink.batch(self.builder.finish())?;
                }
            } else {
                self.builder.drop_row();
                for r in first..end {
                    self.push_cells(sink, line(r), (0..columns).map(|i| cell(r, i)))?;
                }
            }
            first = end;
        }
        Ok(())
    }

    /// Counts a record that was rejected before its cells were read.
    pub fn count_read(&mut self) {
        self.rows_read += 1;
    }

    pub fn finish(mut self, sink: &mut dyn Sink) -> Result<(u64, u64), ExtractError> {
        if !self.builder.is_empty() {
            sink.batch(self.builder.finish())?;
        }
        Ok((self.rows_read, self.rows_rejected))
    }
}

#[cfg(test)]
mod tests {
    use super::strip_markers;

    /// A UTF-8 file read as windows-1252: the hint is the encoding, not a garbled name.
    #[test]
    fn a_utf8_header_read_as_windows_1252_says_the_encoding() {
        let spec = crate::testutil::spec(
            "name: d.t\nsource: { path: t.csv, csv: { delimiter: \";\", encoding: windows-1252 } }\n\
             columns:\n  libelle: { from: \"libellé\", type: string }\n",
        );
        let (_, r) = crate::testutil::run(&spec, "t.csv", "code;libellé\n1;Été\n".as_bytes());
        let e = r.unwrap_err();
        assert!(e.message.contains("no column"), "{e}");
        let hint = e.hint.unwrap();
        assert!(
            hint.contains("the file looks like UTF-8 (its header has `libellé` once read as UTF-8): set `encoding: utf-8`"),
            "{hint}"
        );
        assert_eq!(super::utf8_read_as_1252("libellé"), None);
        assert_eq!(super::utf8_read_as_1252("code"), None);
    }

    #[test]
    fn footnote_markers_leave_the_header() {
        let f = |h: &str| strip_markers(h);
        assert_eq!(f("2023 (p)"), ("2023".into(), Some("p".into())));
        assert_eq!(f("2021 (1)(r) "), ("2021".into(), Some("1,r".into())));
        assert_eq!(f("2020*"), ("2020".into(), Some("*".into())));
        assert_eq!(f("2019"), ("2019".into(), None));
        assert_eq!(f("(1)"), ("(1)".into(), None));
    }
}
