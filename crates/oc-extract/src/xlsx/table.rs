//! One report table of a sheet: skip title rows, join a multi-row header (merged cells filled
//! across and down), read the data rows up to `stop_at`, keep footnotes and notes aside, add
//! the hierarchy and section columns. Web page tables (`crate::html`) are read by the same
//! machine once their cells are laid out on a grid.

use std::borrow::Cow;

use oc_spec::CellRange;

use crate::conform::ColumnPlan;
use crate::rows::{Layout, RowWriter, Slot};
use crate::sink::{ExtractError, Sink};
use crate::spec::{ReadSpec, SourceFile, Stop};

use super::cells::Value;
use super::rows::{Row, RowSource};

/// Notes kept per sheet (the rows after `stop_at` can be a whole second table).
pub(super) const MAX_NOTES: usize = 50;

/// Where the reader is in the sheet.
pub(super) enum Phase<'a> {
    /// Before the header: skipping title rows.
    Before,
    /// Collecting header rows.
    Header(Vec<Row<'a>>),
    Data,
    /// After `stop_at`: the rest are notes.
    After,
}

/// Reads one table of one sheet. Returns (rows read, rows rejected, notes).
pub(crate) fn read_table(
    spec: &ReadSpec,
    file: &SourceFile,
    merged: &mut dyn FnMut() -> Result<Vec<calamine::Dimensions>, String>,
    source: &mut dyn RowSource<'_>,
    sink: &mut dyn Sink,
) -> Result<(u64, u64, Vec<String>), ExtractError> {
    let x = &spec.xlsx;
    let name = file.display.as_str();
    let err = |line: Option<u64>, msg: String| ExtractError::new(name, line, msg);
    // Resolved once for the pipeline, not per sheet.
    let t = &spec.layout;
    let range: Option<CellRange> = t.range;
    let skip_until = t.skip_until.as_ref();
    let notes_re = t.notes.as_ref();
    let stop_blank = matches!(t.stop, Some(Stop::Blank));
    let stop_re = match &t.stop {
        Some(Stop::At(re)) => Some(re),
        _ => None,
    };
    let header_rows = x.header_rows.unwrap_or(1) as usize;
    let sep = x.header_separator.clone().unwrap_or_else(|| " ".into());
    let mut skip_left = x.skip_rows.unwrap_or(0);
    let (first_col, last_col) = range
        .map(|r| (r.first_col as usize, r.last_col as usize))
        .unwrap_or((0, usize::MAX));

    let mut phase = if header_rows == 0 && skip_until.is_none() && x.skip_rows.is_none() {
        Phase::Data
    } else {
        Phase::Before
    };
    let mut layout: Option<Layout> = None;
    let mut writer: Option<RowWriter<'_>> = None;
    let mut notes = Vec::new();
    let mut hierarchy = Hierarchy::default();
    let mut label_col: Option<usize> = None;
    // (column, current section) once the header is known.
    let mut section: Option<(usize, Option<String>)> = None;
    let mut last_index: Option<u32> = None;
    let mut plans: Vec<Option<&ColumnPlan>> = Vec::new();

    loop {
        let row = source
            .next_row()
            .map_err(|e| err(None, format!("cannot read the sheet: {e}")))?;
        let Some(mut row) = row else { break };
        // Clip to the range.
        if let Some(r) = range {
            if row.index < r.first_row {
                continue;
            }
            if r.last_row.is_some_and(|l| row.index > l) {
                break;
            }
        }
        let end = row.cells.len().min(last_col.saturating_add(1));
        if first_col > 0 || end < row.cells.len() {
            let start = first_col.min(end);
            row.cells = row.cells[start..end].to_vec();
            row.indent = row.indent[start..end].to_vec();
        }
        let line = u64::from(row.index) + 1;
        if row.cells.iter().all(Value::is_blank) {
            continue;
        }
        let blank_gap = last_index.is_some_and(|l| row.index > l + 1);
        last_index = Some(row.index);
        if matches!(phase, Phase::Before) {
            let start = if skip_left > 0 {
                skip_left -= 1;
                false
            } else if let Some(re) = &skip_until {
                row.cells.iter().any(|c| re.is_match(&c.label()))
            } else if x.skip_rows.is_some() {
                true
            } else {
                // Title and unit rows have one cell; the header has several.
                row.cells.iter().filter(|c| !c.is_blank()).count() >= 2
            };
            if !start {
                continue;
            }
            phase = if header_rows == 0 {
                Phase::Data
            } else {
                Phase::Header(Vec::new())
            };
        }
        if let Phase::Header(rows) = &mut phase {
            rows.push(row);
            if rows.len() == header_rows {
                let Phase::Header(rows) = std::mem::replace(&mut phase, Phase::Data) else {
                    continue;
                };
                let (l, lc, sc, w) = start_table(
                    spec,
                    file,
                    &rows,
                    merged,
                    &sep,
                    first_col,
                    &mut hierarchy,
                    sink,
                )?;
                label_col = lc;
                section = sc.map(|c| (c, None));
                layout = Some(l);
                writer = Some(w);
            }
            continue;
        }
        if matches!(phase, Phase::After) {
            if notes.len() < MAX_NOTES {
                notes.push(row_text(&row));
            }
            continue;
        }
        // A data row.
        if layout.is_none() {
            // No header: columns are column_1, column_2…
            let l = Layout::resolve(spec, file, None, line.saturating_sub(1))?;
            writer = Some(RowWriter::new(spec, file, l.labels.clone()));
            layout = Some(l);
        }
        let first = row
            .cells
            .iter()
            .find(|c| !c.is_blank())
            .map(Value::label)
            .unwrap_or_default();
        let seen_data = writer.as_ref().is_some_and(|w| w.rows_read > 0);
        if (stop_blank && blank_gap && seen_data)
            || stop_re.as_ref().is_some_and(|re| re.is_match(&first))
        {
            phase = Phase::After;
            notes.push(row_text(&row));
            continue;
        }
        if notes_re.as_ref().is_some_and(|re| re.is_match(&first)) {
            notes.push(row_text(&row));
            continue;
        }
        if let Some((_, current)) = &mut section
            && is_section_row(&row, t.section.as_ref())
        {
            *current = Some(first);
            // Parents do not carry over from one section to the next.
            hierarchy.stack.clear();
            continue;
        }
        let (Some(l), Some(w)) = (layout.as_ref(), writer.as_mut()) else {
            continue;
        };
        if let Some((col, current)) = &section {
            let at = row.cells.len().max(col + 1);
            row.cells.resize(at, Value::Empty);
            row.cells[*col] = current
                .clone()
                .map(|s| Value::Text(Cow::Owned(s)))
                .unwrap_or(Value::Empty);
        }
        if let Some(lc) = label_col {
            let label = row.cells.get(lc).cloned().unwrap_or(Value::Empty);
            let indent = row.indent.get(lc).copied().unwrap_or(0);
            let parent = hierarchy.parent_of(&label, indent);
            let at = row.cells.len().max(hierarchy.virtual_col + 1);
            row.cells.resize(at, Value::Empty);
            row.cells[hierarchy.virtual_col] = parent
                .map(|p| Value::Text(Cow::Owned(p)))
                .unwrap_or(Value::Empty);
        }
        if plans.is_empty() {
            plans = field_plans(spec, l);
        }
        emit_row(l, &plans, w, sink, line, &row)?;
    }
    if let Phase::Header(rows) = &phase {
        return Err(err(
            rows.first().map(|r| u64::from(r.index) + 1),
            format!("the sheet ends inside the {header_rows} header rows"),
        ));
    }
    if matches!(phase, Phase::Before) && header_rows > 0 {
        let what = match (&x.skip_until, x.skip_rows) {
            (Some(re), _) => format!("no row matches skip_until `{re}`"),
            (None, Some(n)) => format!("the sheet has fewer than skip_rows = {n} rows"),
            _ => "no header row found (no row with two or more cells)".into(),
        };
        return Err(err(None, what).with_hint("check `sheet`, `range` and `skip_until`"));
    }
    let (read, rejected) = match writer {
        Some(w) => w.finish(sink)?,
        None => (0, 0),
    };
    Ok((read, rejected, notes))
}

/// A section title row: its only non-empty cell, or (with `match`) a first non-empty cell
/// that matches.
fn is_section_row(row: &Row, re: Option<&regex::Regex>) -> bool {
    let mut filled = row.cells.iter().filter(|c| !c.is_blank());
    match re {
        Some(re) => filled.next().is_some_and(|c| re.is_match(&c.label())),
        None => filled.next().is_some() && filled.next().is_none(),
    }
}

pub(super) fn row_text(row: &Row) -> String {
    row.cells
        .iter()
        .filter(|c| !c.is_blank())
        .map(Value::label)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Builds the header names, resolves the declared columns, and sets up the hierarchy and the
/// section column. Returns the layout, the hierarchy's label column, the section column and
/// the row writer.
#[allow(clippy::too_many_arguments)]
pub(super) fn start_table<'s>(
    spec: &'s ReadSpec,
    file: &'s SourceFile,
    rows: &[Row],
    merged: &mut dyn FnMut() -> Result<Vec<calamine::Dimensions>, String>,
    sep: &str,
    first_col: usize,
    hierarchy: &mut Hierarchy,
    sink: &mut dyn Sink,
) -> Result<(Layout, Option<usize>, Option<usize>, RowWriter<'s>), ExtractError> {
    let width = rows.iter().map(|r| r.cells.len()).max().unwrap_or(0);
    let gaps = rows
        .iter()
        .any(|r| r.cells.len() < width || r.cells.iter().any(|c| c.label().is_empty()));
    let line = rows.last().map(|r| u64::from(r.index) + 1).unwrap_or(1);
    let merged = if gaps {
        merged().map_err(|e| ExtractError::new(&file.display, Some(line), e))?
    } else {
        Vec::new()
    };
    let mut headers = name_every_column(header_names(rows, &merged, sep, first_col));
    let mut label_col = None;
    if let Some(h) = &spec.xlsx.hierarchy {
        let idx = headers.iter().position(|x| x == &h.label).ok_or_else(|| {
            ExtractError::new(
                &file.display,
                Some(line),
                format!("hierarchy: no column `{}` in the header", h.label),
            )
        })?;
        label_col = Some(idx);
        *hierarchy = Hierarchy {
            by: Some(h.by),
            virtual_col: headers.len(),
            stack: Vec::new(),
        };
        headers.push(h.column.clone());
    }
    let section_col = spec.xlsx.sections.as_ref().map(|s| {
        headers.push(s.column.clone());
        headers.len() - 1
    });
    sink.header(&headers)?;
    let layout = Layout::resolve(spec, file, Some(&headers), line)?;
    let writer = RowWriter::new(spec, file, layout.labels.clone());
    Ok((layout, label_col, section_col, writer))
}

/// Gives every column a name `from:` can use: an empty header cell is `column_N` (its
/// 1-based position, as in a table without header), and a header repeated in the same table
/// gets its rank among the repeats (the second `Moyenne de la strate` becomes
/// `Moyenne de la strate (2)`).
fn name_every_column(mut headers: Vec<String>) -> Vec<String> {
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (i, h) in headers.iter_mut().enumerate() {
        if h.is_empty() {
            *h = format!("column_{}", i + 1);
            continue;
        }
        let n = seen.entry(h.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            *h = format!("{h} ({n})");
        }
    }
    headers
}

/// One name per column: merged cells filled across and down, the parts of a multi-row header
/// joined with `sep` (a part repeated by a vertical merge is kept once).
pub(super) fn header_names(
    rows: &[Row],
    merged: &[calamine::Dimensions],
    sep: &str,
    first_col: usize,
) -> Vec<String> {
    let width = rows.iter().map(|r| r.cells.len()).max().unwrap_or(0);
    let mut grid: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut v: Vec<String> = r.cells.iter().map(Value::label).collect();
            v.resize(width, String::new());
            v
        })
        .collect();
    for m in merged {
        let (r0, c0) = m.start;
        let (r1, c1) = m.end;
        // The top-left cell of the merge, if it is in the header.
        let Some(top) = rows.iter().position(|r| r.index == r0) else {
            continue;
        };
        let Some(c0) = (c0 as usize).checked_sub(first_col) else {
            continue;
        };
        let value = grid[top].get(c0).cloned().unwrap_or_default();
        for (ri, row) in rows.iter().enumerate() {
            if row.index < r0 || row.index > r1 {
                continue;
            }
            let last = ((c1 as usize).saturating_sub(first_col)).min(width.saturating_sub(1));
            for cell in grid[ri].iter_mut().take(last + 1).skip(c0) {
                if cell.is_empty() {
                    *cell = value.clone();
                }
            }
        }
    }
    if merged.is_empty() && rows.len() > 1 {
        // No merge information (.ods): a group label spans the empty cells to its right.
        for row in grid.iter_mut().take(rows.len() - 1) {
            let mut carry = String::new();
            for cell in row.iter_mut() {
                if cell.is_empty() {
                    cell.clone_from(&carry);
                } else {
                    carry.clone_from(cell);
                }
            }
        }
    }
    (0..width)
        .map(|c| {
            let mut parts: Vec<&str> = Vec::new();
            for row in &grid {
                let p = row[c].as_str();
                if !p.is_empty() && parts.last() != Some(&p) {
                    parts.push(p);
                }
            }
            parts.join(sep)
        })
        .collect()
}

/// Parent labels by indentation (cell indent level, else leading spaces) or `dont` rows.
#[derive(Default)]
pub(super) struct Hierarchy {
    by: Option<oc_spec::pipeline::HierarchyBy>,
    virtual_col: usize,
    /// (level, label) of the open ancestors.
    pub(super) stack: Vec<(usize, String)>,
}

impl Hierarchy {
    fn parent_of(&mut self, label: &Value, indent: u8) -> Option<String> {
        use oc_spec::pipeline::HierarchyBy;
        let raw = match label {
            Value::Text(t) => t.as_ref(),
            _ => return None,
        };
        let text = raw.trim().to_string();
        if text.is_empty() {
            return None;
        }
        let level = match self.by? {
            HierarchyBy::Indent => {
                let spaces = raw.chars().take_while(|c| c.is_whitespace()).count();
                usize::from(indent).max(spaces / 2)
            }
            HierarchyBy::Dont => {
                let t = text.trim_start_matches(['-', '–', '•', ' ']).to_lowercase();
                usize::from(t.starts_with("dont ") || t.starts_with("dont:"))
            }
        };
        while self.stack.last().is_some_and(|(l, _)| *l >= level) {
            self.stack.pop();
        }
        let parent = self.stack.last().map(|(_, p)| p.clone());
        self.stack.push((level, text));
        parent
    }
}

/// For each source field, the plan of the declared column that reads it (the value column
/// for unpivoted fields): native cells are written the way that column parses.
pub(super) fn field_plans<'s>(spec: &'s ReadSpec, layout: &Layout) -> Vec<Option<&'s ColumnPlan>> {
    let mut out: Vec<Option<&ColumnPlan>> = Vec::new();
    let mut set = |field: usize, plan: &'s ColumnPlan| {
        if out.len() <= field {
            out.resize(field + 1, None);
        }
        out[field].get_or_insert(plan);
    };
    for (slot, col) in layout.slots.iter().zip(&spec.columns) {
        match slot {
            Slot::Field(i) => set(*i, &col.plan),
            Slot::UnpivotValue => {
                for p in &layout.pivots {
                    set(p.field, &col.plan);
                }
            }
            _ => {}
        }
    }
    out
}

pub(super) fn emit_row(
    layout: &Layout,
    plans: &[Option<&ColumnPlan>],
    w: &mut RowWriter<'_>,
    sink: &mut dyn Sink,
    line: u64,
    row: &Row,
) -> Result<(), ExtractError> {
    // Typed text for each field a declared column reads; a spreadsheet error rejects the row.
    let mut texts: Vec<Option<Cow<'_, str>>> = Vec::with_capacity(plans.len());
    for (i, plan) in plans.iter().enumerate() {
        let (Some(plan), Some(v)) = (plan, row.cells.get(i)) else {
            texts.push(None);
            continue;
        };
        match v.raw_for(plan) {
            Ok(t) => texts.push(t),
            Err(reason) => {
                w.count_read();
                let col = layout
                    .slots
                    .iter()
                    .position(|s| matches!(s, Slot::Field(f) if *f == i));
                return w.reject(
                    sink,
                    line,
                    col,
                    Some(&v.label()),
                    format!("{reason} (column {})", plan.name),
                );
            }
        }
    }
    layout.emit(w, sink, line, |i| texts.get(i).cloned().flatten())
}
