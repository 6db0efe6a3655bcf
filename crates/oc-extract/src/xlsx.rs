//! Workbooks (`.xlsx`, `.xlsm`, `.xlsb`, `.xls`, `.ods`) through calamine, including the
//! report layouts of statistical publications: title rows above the header, multi-row headers
//! with merged cells, footnotes, notes below the table, several tables per sheet.
//!
//! `.xlsx` sheets are streamed cell by cell (one row in memory, plus the header rows); the
//! legacy formats are small and are read as a whole range by calamine.

use std::borrow::Cow;

use calamine::{Data, DataRef, Reader, Sheets, open_workbook_auto};
use chrono::NaiveDateTime;
use oc_spec::project::regex_of;
use oc_spec::{CellRange, ColumnType, SheetRef, XlsxOptions};
use regex::Regex;

use crate::conform::ColumnPlan;
use crate::rows::{Layout, RowWriter, Slot};
use crate::{ExtractError, FileStats, ReadSpec, Sink, SourceFile};

/// Notes kept per sheet (the rows after `stop_at` can be a whole second table).
const MAX_NOTES: usize = 50;

/// A cell as read, before typing.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Empty,
    /// Shared strings are borrowed from the workbook's table, not copied per cell.
    Text(Cow<'a, str>),
    Number(f64),
    Bool(bool),
    Date(NaiveDateTime),
    Error(String),
}

impl Value<'_> {
    fn is_blank(&self) -> bool {
        match self {
            Value::Empty => true,
            Value::Text(t) => t.trim().is_empty(),
            _ => false,
        }
    }

    /// The text shown in a header or a note.
    fn label(&self) -> String {
        match self {
            Value::Empty => String::new(),
            Value::Text(t) => t.trim().to_string(),
            Value::Number(n) => number_text(*n, '.'),
            Value::Bool(b) => b.to_string(),
            Value::Date(d) => d.format("%Y-%m-%d").to_string(),
            Value::Error(e) => e.clone(),
        }
    }

    /// The text handed to the column's typing: native numbers are written the way the column
    /// parses them (decimal mark), dates in the column's format, so nothing is re-guessed.
    fn raw_for(&self, plan: &ColumnPlan) -> Result<Option<Cow<'_, str>>, String> {
        Ok(match self {
            Value::Empty => None,
            Value::Text(t) => Some(Cow::Borrowed(t.as_ref())),
            Value::Bool(b) => Some(Cow::Owned(b.to_string())),
            Value::Error(e) => return Err(format!("the cell holds the spreadsheet error {e}")),
            Value::Number(n) => {
                let mark = match plan.ty {
                    ColumnType::Decimal { .. } | ColumnType::Float64 => plan.number.decimal,
                    ColumnType::Int16 | ColumnType::Int32 | ColumnType::Int64 => {
                        plan.number.decimal
                    }
                    _ => '.',
                };
                if plan.ty == ColumnType::Code && n.fract() != 0.0 {
                    return Err(format!("the number {n} is not a code (it has decimals)"));
                }
                if plan.ty == ColumnType::Date {
                    return Err("a number where a date is expected (format the cell as a date, or declare the column as a number)".into());
                }
                if let ColumnType::Decimal { scale, .. } = plan.ty
                    && let Some(t) = scaled_text(*n, scale, mark)
                {
                    return Ok(Some(Cow::Owned(t)));
                }
                Some(Cow::Owned(number_text(*n, mark)))
            }
            Value::Date(d) => match plan.ty {
                ColumnType::Date => Some(Cow::Owned(d.format(&plan.date_format).to_string())),
                ColumnType::String | ColumnType::Code => {
                    Some(Cow::Owned(d.format("%Y-%m-%d").to_string()))
                }
                _ => return Err("a date where a number is expected".into()),
            },
        })
    }
}

/// Shortest text that reads back as the same float; integers without a decimal part
/// (a SIREN stored as 200068807.0 → `200068807`).
fn number_text(n: f64, mark: char) -> String {
    if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
        return format!("{}", n as i64);
    }
    let s = format!("{n}");
    if mark == '.' {
        s
    } else {
        s.replace('.', &mark.to_string())
    }
}

/// `n` with exactly `scale` decimals, by integer formatting (no shortest-float printing),
/// when a decimal of at most `scale` digits reads back as `n`. Below 2^52 units of the last
/// digit that decimal is unique, so it is the value [`number_text`] would give; otherwise None.
fn scaled_text(n: f64, scale: i8, mark: char) -> Option<String> {
    if !(0..=15).contains(&scale) {
        return None;
    }
    let unit = 10f64.powi(i32::from(scale));
    let r = (n * unit).round();
    // (NaN fails the second test: NaN != NaN)
    if r.abs() >= 4.5e15 || r / unit != n {
        return None;
    }
    let r = r as i64;
    let digits = r.unsigned_abs().to_string();
    let s = scale as usize;
    let mut out = String::with_capacity(digits.len() + s + 3);
    if r < 0 {
        out.push('-');
    }
    if s == 0 {
        out.push_str(&digits);
    } else if digits.len() <= s {
        out.push('0');
        out.push(mark);
        out.extend(std::iter::repeat_n('0', s - digits.len()));
        out.push_str(&digits);
    } else {
        let (int, frac) = digits.split_at(digits.len() - s);
        out.push_str(int);
        out.push(mark);
        out.push_str(frac);
    }
    Some(out)
}

fn from_data(d: &Data) -> Value<'static> {
    match d {
        Data::Empty => Value::Empty,
        Data::String(s) => Value::Text(Cow::Owned(s.clone())),
        Data::Float(f) => Value::Number(*f),
        Data::Int(i) => Value::Number(*i as f64),
        Data::Bool(b) => Value::Bool(*b),
        Data::DateTime(dt) => excel_date(dt),
        Data::DateTimeIso(s) => iso_date(s),
        Data::DurationIso(s) => Value::Text(Cow::Owned(s.clone())),
        Data::Error(e) => Value::Error(e.to_string()),
    }
}

fn from_ref<'a>(d: &DataRef<'a>) -> Value<'a> {
    match d {
        DataRef::Empty => Value::Empty,
        DataRef::String(s) => Value::Text(Cow::Owned(s.clone())),
        DataRef::SharedString(s) => Value::Text(Cow::Borrowed(*s)),
        DataRef::Float(f) => Value::Number(*f),
        DataRef::Int(i) => Value::Number(*i as f64),
        DataRef::Bool(b) => Value::Bool(*b),
        DataRef::DateTime(dt) => excel_date(dt),
        DataRef::DateTimeIso(s) => iso_date(s),
        DataRef::DurationIso(s) => Value::Text(Cow::Owned(s.clone())),
        DataRef::Error(e) => Value::Error(e.to_string()),
    }
}

/// An Excel serial date (1900 or 1904 system, as the workbook says) as a date and time;
/// a duration stays a number.
fn excel_date(dt: &calamine::ExcelDateTime) -> Value<'static> {
    if !dt.is_datetime() {
        return Value::Number(dt.as_f64());
    }
    let (y, mo, d, h, mi, s, ms) = dt.to_ymd_hms_milli();
    chrono::NaiveDate::from_ymd_opt(i32::from(y), u32::from(mo), u32::from(d))
        .and_then(|day| {
            day.and_hms_milli_opt(u32::from(h), u32::from(mi), u32::from(s), u32::from(ms))
        })
        .map(Value::Date)
        .unwrap_or(Value::Number(dt.as_f64()))
}

fn iso_date(s: &str) -> Value<'static> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
        })
        .map(Value::Date)
        .unwrap_or_else(|_| Value::Text(Cow::Owned(s.to_string())))
}

/// One sheet row: 0-based row number, cells from column 0, and each cell's indentation.
struct Row<'a> {
    index: u32,
    cells: Vec<Value<'a>>,
    indent: Vec<u8>,
}

/// Rows of a sheet in order, blank rows included only as gaps in `index`.
trait RowSource<'a> {
    fn next_row(&mut self) -> Result<Option<Row<'a>>, String>;
}

/// One cell of an `.xlsx` sheet: row, column, value, indentation.
type CellAt<'a> = (u32, u32, Value<'a>, u8);

/// A cell as calamine parsed it, with its style id.
type RawCell<'a> = (calamine::Cell<DataRef<'a>>, usize);

/// Cells handed over at a time between the parsing thread and the typing thread.
const CELLS_PER_BATCH: usize = 16 * 1024;

/// Unzips and parses an `.xlsx` sheet (calamine) and sends its cells in batches until the
/// end, an error, or the receiver hangs up. This thread is the critical path of a large
/// sheet, so it does nothing else: values are converted and rows assembled on the receiving
/// side (200k-row benchmark: 1.51 → 1.36 s, median of 10, against doing both here).
fn produce_cells<'a, RS: std::io::Read + std::io::Seek>(
    mut cells: calamine::XlsxCellReader<'a, RS>,
    tx: std::sync::mpsc::SyncSender<Result<Vec<RawCell<'a>>, String>>,
) {
    loop {
        let mut batch = Vec::with_capacity(CELLS_PER_BATCH);
        let end = loop {
            match cells.next_cell_with_style_id() {
                Ok(Some(cell)) => {
                    batch.push(cell);
                    if batch.len() == CELLS_PER_BATCH {
                        break Ok(false);
                    }
                }
                Ok(None) => break Ok(true),
                Err(e) => break Err(e.to_string()),
            }
        };
        let (msg, stop) = match end {
            Ok(done) => (Ok(batch), done),
            // the cells before the error first, so that they are typed in order
            Err(e) => {
                if !batch.is_empty() && tx.send(Ok(batch)).is_err() {
                    return;
                }
                (Err(e), true)
            }
        };
        if tx.send(msg).is_err() || stop {
            return;
        }
    }
}

/// The rows of an `.xlsx` sheet, assembled from the cells of [`produce_cells`].
struct XlsxRows<'a> {
    rx: std::sync::mpsc::Receiver<Result<Vec<RawCell<'a>>, String>>,
    batch: std::vec::IntoIter<RawCell<'a>>,
    pending: Option<CellAt<'a>>,
    /// Indentation level per style id.
    indents: Vec<u8>,
}

impl<'a> XlsxRows<'a> {
    fn new(
        rx: std::sync::mpsc::Receiver<Result<Vec<RawCell<'a>>, String>>,
        styles: &[calamine::Style],
    ) -> Self {
        let indents = styles
            .iter()
            .map(|s| s.alignment.as_ref().and_then(|a| a.indent).unwrap_or(0))
            .collect();
        XlsxRows {
            rx,
            batch: Vec::new().into_iter(),
            pending: None,
            indents,
        }
    }

    fn next_cell(&mut self) -> Result<Option<CellAt<'a>>, String> {
        loop {
            if let Some((cell, style)) = self.batch.next() {
                let (r, c) = cell.get_position();
                let indent = self.indents.get(style).copied().unwrap_or(0);
                return Ok(Some((r, c, from_ref(cell.get_value()), indent)));
            }
            match self.rx.recv() {
                Ok(Ok(batch)) => self.batch = batch.into_iter(),
                Ok(Err(e)) => return Err(e),
                // the producer is done
                Err(_) => return Ok(None),
            }
        }
    }
}

impl<'a> RowSource<'a> for XlsxRows<'a> {
    fn next_row(&mut self) -> Result<Option<Row<'a>>, String> {
        let mut row: Option<Row<'a>> = None;
        loop {
            let next = match self.pending.take() {
                Some(p) => Some(p),
                None => self.next_cell()?,
            };
            let Some((r, c, v, indent)) = next else {
                return Ok(row);
            };
            match &mut row {
                Some(cur) if cur.index != r => {
                    self.pending = Some((r, c, v, indent));
                    return Ok(row);
                }
                _ => {}
            }
            if v == Value::Empty && row.is_none() {
                // Styled empty cells (down to row 1,048,576 in some files) make no row.
                continue;
            }
            let cur = row.get_or_insert_with(|| Row {
                index: r,
                cells: Vec::new(),
                indent: Vec::new(),
            });
            let c = c as usize;
            if cur.cells.len() <= c {
                cur.cells.resize(c + 1, Value::Empty);
                cur.indent.resize(c + 1, 0);
            }
            cur.cells[c] = v;
            cur.indent[c] = indent;
        }
    }
}

/// Rows of a range already in memory (`.xls`, `.ods`, `.xlsb`).
struct RangeRows {
    range: calamine::Range<Data>,
    next: usize,
}

impl RowSource<'static> for RangeRows {
    fn next_row(&mut self) -> Result<Option<Row<'static>>, String> {
        let Some((r0, c0)) = self.range.start() else {
            return Ok(None);
        };
        let height = self.range.height();
        while self.next < height {
            let i = self.next;
            self.next += 1;
            let Some(cells) = self.range.rows().nth(i) else {
                break;
            };
            if cells.iter().all(|c| matches!(c, Data::Empty)) {
                continue;
            }
            let mut out = vec![Value::Empty; c0 as usize];
            out.extend(cells.iter().map(from_data));
            let n = out.len();
            return Ok(Some(Row {
                index: r0 + i as u32,
                cells: out,
                indent: vec![0; n],
            }));
        }
        Ok(None)
    }
}

/// Reads every selected sheet of a workbook.
pub fn read_workbook(
    spec: &ReadSpec,
    file: &SourceFile,
    sink: &mut dyn Sink,
) -> Result<FileStats, ExtractError> {
    let name = file.display.as_str();
    let err = |msg: String| ExtractError::new(name, None, msg);
    if spec.member.is_some() {
        return Err(err("`member` applies to zip archives, not workbooks".into()));
    }
    let (sha256, bytes) =
        crate::input::hash_file(&file.path).map_err(|e| err(format!("cannot read: {e}")))?;
    // By extension, or by trying each format when the name has none (a cached download).
    let mut wb = open_workbook_auto(&file.path).map_err(|e| {
        err(format!("not a readable workbook: {e}"))
            .with_hint("formats read: .xlsx, .xlsm, .xlsb, .xls (Excel 97–2003) and .ods")
    })?;
    let sheets = select_sheets(&wb.sheet_names(), &spec.xlsx, file).map_err(err)?;
    let mut stats = FileStats {
        rows_read: 0,
        rows_rejected: 0,
        sha256,
        bytes,
        notes: Vec::new(),
    };
    for (sheet, vars) in sheets {
        let mut file = file.clone();
        file.display = format!("{}[{}]", file.display, sheet);
        file.vars.extend(vars);
        let (read, rejected, notes) = match &mut wb {
            Sheets::Xlsx(x) => {
                // Merged cells only matter for the header, and calamine finds them in an
                // .xlsx by parsing the whole sheet (they come after the cells): read them,
                // from a second handle, only when the header has gaps a merge could fill.
                let mut merged = || {
                    open_workbook_auto(&file.path)
                        .map(|mut again| merged_cells(&mut again, &sheet))
                        .map_err(|e| format!("cannot read the merged cells: {e}"))
                };
                let cells = x
                    .worksheet_cells_reader(&sheet)
                    .map_err(|e| err(format!("sheet `{sheet}`: {e}")))?;
                // Unzipping and parsing the XML (calamine) takes about as long as typing the
                // cells: on their own thread, the two overlap.
                std::thread::scope(|scope| {
                    let (tx, rx) = std::sync::mpsc::sync_channel(4);
                    let mut rows = XlsxRows::new(rx, cells.styles());
                    let producer = scope.spawn(move || produce_cells(cells, tx));
                    let result = read_table(spec, &file, &mut merged, &mut rows, sink);
                    // Stopping early (`stop_at`, an error) hangs up: the producer then ends.
                    drop(rows);
                    // A panic in calamine would otherwise look like the end of the sheet.
                    if producer.join().is_err() {
                        return Err(err(format!(
                            "sheet `{sheet}`: the XML parser stopped on an internal error; the workbook may be damaged: open and save it again with Excel or LibreOffice"
                        )));
                    }
                    result
                })?
            }
            other => {
                // the other formats are already in memory: their merges cost nothing
                let known = merged_cells(other, &sheet);
                let mut merged = || Ok(known.clone());
                let range = other
                    .worksheet_range(&sheet)
                    .map_err(|e| err(format!("sheet `{sheet}`: {e}")))?;
                let mut rows = RangeRows { range, next: 0 };
                read_table(spec, &file, &mut merged, &mut rows, sink)?
            }
        };
        stats.rows_read += read;
        stats.rows_rejected += rejected;
        stats
            .notes
            .extend(notes.into_iter().map(|n| format!("[{sheet}] {n}")));
    }
    Ok(stats)
}

fn merged_cells<RS: std::io::Read + std::io::Seek>(
    wb: &mut Sheets<RS>,
    sheet: &str,
) -> Vec<calamine::Dimensions> {
    match wb {
        Sheets::Xlsx(x) => x.merge_cells_by_sheet_name(sheet).unwrap_or_default(),
        Sheets::Xls(x) => x.merge_cells_by_sheet_name(sheet).unwrap_or_default(),
        // calamine does not report merged cells for .ods/.xlsb: upper header rows are
        // filled across from the left instead (see `header_names`).
        _ => Vec::new(),
    }
}

/// A sheet to read and the vars it adds (named groups of a `/regex/`).
type SheetVars = (String, Vec<(String, String)>);

/// The sheets to read.
fn select_sheets(
    names: &[String],
    x: &XlsxOptions,
    file: &SourceFile,
) -> Result<Vec<SheetVars>, String> {
    let list = || names.join(", ");
    match &x.sheet {
        None => names
            .first()
            .map(|n| vec![(n.clone(), Vec::new())])
            .ok_or_else(|| "the workbook has no sheet".to_string()),
        Some(SheetRef::Index(i)) => names
            .get((*i as usize).wrapping_sub(1))
            .map(|n| vec![(n.clone(), Vec::new())])
            .ok_or_else(|| format!("no sheet at position {i}: the sheets are {}", list())),
        Some(SheetRef::Name(n)) => {
            if let Some(re) = regex_of(n) {
                let re = Regex::new(re).map_err(|e| format!("sheet regex: {e}"))?;
                let hits: Vec<_> = names
                    .iter()
                    .filter_map(|s| {
                        let caps = re.captures(s)?;
                        let vars = re
                            .capture_names()
                            .flatten()
                            .filter_map(|g| {
                                Some((g.to_string(), caps.name(g)?.as_str().to_string()))
                            })
                            .collect();
                        Some((s.clone(), vars))
                    })
                    .collect();
                if hits.is_empty() {
                    return Err(format!("no sheet matches {n}: the sheets are {}", list()));
                }
                Ok(hits)
            } else {
                let wanted = oc_spec::template::render(n, &file.vars);
                if let Some(s) = names.iter().find(|s| **s == wanted) {
                    return Ok(vec![(s.clone(), Vec::new())]);
                }
                // Excel compares sheet names without case.
                if let Some(s) = names
                    .iter()
                    .find(|s| s.to_lowercase() == wanted.to_lowercase())
                {
                    return Ok(vec![(s.clone(), Vec::new())]);
                }
                let close = oc_spec::diag::did_you_mean(&wanted, names.iter().map(String::as_str));
                Err(match close {
                    Some(c) => format!("no sheet `{wanted}` (did you mean `{c}`?)"),
                    None => format!("no sheet `{wanted}`: the sheets are {}", list()),
                })
            }
        }
    }
}

fn re_opt(v: &Option<String>) -> Result<Option<Regex>, String> {
    v.as_deref()
        .map(|s| Regex::new(regex_of(s).unwrap_or(s)).map_err(|e| format!("{s}: {e}")))
        .transpose()
}

/// Where the reader is in the sheet.
enum Phase<'a> {
    /// Before the header: skipping title rows.
    Before,
    /// Collecting header rows.
    Header(Vec<Row<'a>>),
    Data,
    /// After `stop_at`: the rest are notes.
    After,
}

/// Reads one table of one sheet. Returns (rows read, rows rejected, notes).
fn read_table(
    spec: &ReadSpec,
    file: &SourceFile,
    merged: &mut dyn FnMut() -> Result<Vec<calamine::Dimensions>, String>,
    source: &mut dyn RowSource<'_>,
    sink: &mut dyn Sink,
) -> Result<(u64, u64, Vec<String>), ExtractError> {
    let x = &spec.xlsx;
    let name = file.display.as_str();
    let err = |line: Option<u64>, msg: String| ExtractError::new(name, line, msg);
    let range: Option<CellRange> = match &x.range {
        Some(r) => {
            Some(oc_spec::parse_range(r).ok_or_else(|| err(None, format!("bad range `{r}`")))?)
        }
        None => None,
    };
    let skip_until = re_opt(&x.skip_until).map_err(|e| err(None, e))?;
    let notes_re = re_opt(&x.notes).map_err(|e| err(None, e))?;
    let stop_blank = x.stop_at.as_deref() == Some("blank");
    let stop_re = if stop_blank {
        None
    } else {
        re_opt(&x.stop_at).map_err(|e| err(None, e))?
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
                let (l, lc, w) =
                    start_table(spec, file, &rows, merged, &sep, first_col, &mut hierarchy)?;
                label_col = lc;
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
        let (Some(l), Some(w)) = (layout.as_ref(), writer.as_mut()) else {
            continue;
        };
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

fn row_text(row: &Row) -> String {
    row.cells
        .iter()
        .filter(|c| !c.is_blank())
        .map(Value::label)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Builds the header names, resolves the declared columns, and sets up the hierarchy.
fn start_table<'s>(
    spec: &'s ReadSpec,
    file: &'s SourceFile,
    rows: &[Row],
    merged: &mut dyn FnMut() -> Result<Vec<calamine::Dimensions>, String>,
    sep: &str,
    first_col: usize,
    hierarchy: &mut Hierarchy,
) -> Result<(Layout, Option<usize>, RowWriter<'s>), ExtractError> {
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
    let mut headers = header_names(rows, &merged, sep, first_col);
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
    let layout = Layout::resolve(spec, file, Some(&headers), line)?;
    let writer = RowWriter::new(spec, file, layout.labels.clone());
    Ok((layout, label_col, writer))
}

/// One name per column: merged cells filled across and down, the parts of a multi-row header
/// joined with `sep` (a part repeated by a vertical merge is kept once).
fn header_names(
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
struct Hierarchy {
    by: Option<oc_spec::pipeline::HierarchyBy>,
    virtual_col: usize,
    /// (level, label) of the open ancestors.
    stack: Vec<(usize, String)>,
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
fn field_plans<'s>(spec: &'s ReadSpec, layout: &Layout) -> Vec<Option<&'s ColumnPlan>> {
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

fn emit_row(
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

#[cfg(test)]
mod tests {
    #[test]
    fn scaled_text_is_the_shortest_decimal_when_it_exists() {
        use crate::number::{NumberFormat, parse_decimal};
        let fmt = NumberFormat {
            decimal: '.',
            thousands: None,
        };
        assert_eq!(
            super::scaled_text(1234.56, 2, '.').as_deref(),
            Some("1234.56")
        );
        assert_eq!(super::scaled_text(-0.05, 2, ',').as_deref(), Some("-0,05"));
        assert_eq!(super::scaled_text(7.0, 0, '.').as_deref(), Some("7"));
        // more decimals than the column has: left to the general path (which rejects it)
        assert_eq!(super::scaled_text(0.1 + 0.2, 2, '.'), None);
        assert_eq!(super::scaled_text(0.001, 2, '.'), None);
        assert_eq!(super::scaled_text(1e17, 2, '.'), None);
        // same value as the shortest text on a spread of amounts
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let cents = (x % 2_000_000_000_000_000) as i64 - 1_000_000_000_000_000;
            let n = cents as f64 / 100.0;
            let fast = super::scaled_text(n, 2, '.');
            let slow = parse_decimal(&super::number_text(n, '.'), fmt, 18, 2);
            let t = fast.unwrap_or_else(|| panic!("{n}: an exact amount has no fast text"));
            assert_eq!(parse_decimal(&t, fmt, 18, 2), slow, "{n}: {t}");
        }
    }

    use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Workbook};

    use crate::testutil::{run, spec};

    fn book(build: impl FnOnce(&mut Workbook)) -> Vec<u8> {
        let mut wb = Workbook::new();
        build(&mut wb);
        wb.save_to_buffer().unwrap()
    }

    #[test]
    fn title_rows_merged_two_row_header_notes_and_stop() {
        let bytes = book(|wb| {
            let ws = wb.add_worksheet();
            let f = Format::new();
            ws.write(0, 0, "Tableau 1 : dépenses").unwrap();
            ws.write(1, 0, "en euros").unwrap();
            ws.merge_range(3, 0, 4, 0, "Code", &f).unwrap();
            ws.merge_range(3, 1, 3, 2, "Montant", &f).unwrap();
            ws.write(4, 1, 2022).unwrap();
            ws.write(4, 2, "2023 (p)").unwrap();
            ws.write(5, 0, 1001).unwrap();
            ws.write(5, 1, 10.5).unwrap();
            ws.write(5, 2, "1 234,5").unwrap();
            ws.write(6, 0, "(1) note dans le tableau").unwrap();
            ws.write(7, 0, "2A004").unwrap();
            ws.write(7, 1, "s").unwrap();
            ws.write(7, 2, 0.1).unwrap();
            ws.write(9, 0, "Source : test").unwrap();
            ws.write(10, 0, "99999").unwrap();
        });
        let s = spec(
            r#"
name: a.b
source:
  path: x.xlsx
  xlsx: { header_rows: 2, stop_at: blank, notes: "^\\(\\d\\)", decimal: ",", thousands: " " }
columns:
  code: { from: Code, type: code, width: 5 }
  m22:  { from: Montant 2022, type: "decimal(18,2)", status: true }
  m23:  { from: "/^Montant 2023/", type: "decimal(18,2)" }
"#,
        );
        let (sink, r) = run(&s, "t.xlsx", &bytes);
        let stats = r.unwrap();
        assert_eq!((stats.rows_read, stats.rows_rejected), (2, 0));
        assert_eq!(sink.column("code"), vec!["01001", "2A004"]);
        assert_eq!(sink.column("m22"), vec!["10.50", ""]);
        assert_eq!(sink.column("m22_status"), vec!["", "s"]);
        assert_eq!(sink.column("m23"), vec!["1234.50", "0.10"]);
        assert_eq!(
            stats.notes,
            vec![
                "[Sheet1] (1) note dans le tableau",
                "[Sheet1] Source : test",
                "[Sheet1] 99999"
            ]
        );
    }

    #[test]
    fn codes_from_floats_dates_and_errors() {
        let bytes = book(|wb| {
            let ws = wb.add_worksheet();
            ws.set_name("Données 2024").unwrap();
            let date = Format::new().set_num_format("dd/mm/yyyy");
            for (c, h) in ["siren", "date", "n"].iter().enumerate() {
                ws.write(0, c as u16, *h).unwrap();
            }
            ws.write(1, 0, 200068807.0).unwrap();
            ws.write_datetime_with_format(
                1,
                1,
                ExcelDateTime::from_ymd(2024, 2, 29).unwrap(),
                &date,
            )
            .unwrap();
            ws.write(1, 2, 3).unwrap();
            ws.write(2, 0, 21010001.5).unwrap();
            ws.write(2, 2, 4).unwrap();
            ws.write(3, 0, 210100012).unwrap();
            ws.write_formula(3, 2, Formula::new("=1/0").set_result("#DIV/0!"))
                .unwrap();
        });
        let s = spec(
            r#"
name: a.b
source: { path: "x_{exercice}.xlsx", vars: { exercice: [2024] }, xlsx: { sheet: "Données {exercice}" } }
columns:
  siren: { from: siren, type: code, width: 9 }
  date:  { from: date, type: date }
  n:     { from: n, type: int32 }
"#,
        );
        let (sink, r) = run(&s, "c.xlsx", &bytes);
        let stats = r.unwrap();
        assert_eq!((stats.rows_read, stats.rows_rejected), (3, 2));
        assert_eq!(sink.column("siren"), vec!["200068807"]);
        assert_eq!(sink.column("date"), vec!["2024-02-29"]);
        let rj = &sink.rejects;
        assert_eq!((rj[0].line, rj[0].column.as_deref()), (3, Some("siren")));
        assert!(rj[0].reason.contains("not a code"), "{}", rj[0].reason);
        assert_eq!((rj[1].line, rj[1].column.as_deref()), (4, Some("n")));
        assert!(rj[1].reason.contains("#DIV/0!"), "{}", rj[1].reason);
    }

    #[test]
    fn sheets_by_regex_with_groups_and_clear_errors() {
        let bytes = book(|wb| {
            for y in [2011, 2012] {
                let ws = wb.add_worksheet();
                ws.set_name(format!("définitions_{y}")).unwrap();
                ws.write(0, 0, "agrégat").unwrap();
                ws.write(0, 1, "formule").unwrap();
                ws.write(1, 0, format!("A{y}")).unwrap();
                ws.write(1, 1, "classe 7").unwrap();
            }
        });
        let s = spec(
            r#"
name: a.b
source: { path: x.xlsx, xlsx: { sheet: "/^définitions_(?<exercice>\\d{4})$/" } }
columns:
  exercice: { var: exercice, type: int16 }
  agregat:  { from: agrégat }
"#,
        );
        let (sink, r) = run(&s, "d.xlsx", &bytes);
        r.unwrap();
        assert_eq!(sink.column("exercice"), vec!["2011", "2012"]);
        assert_eq!(sink.column("agregat"), vec!["A2011", "A2012"]);

        let s = spec(
            "name: a.b\nsource: { path: x.xlsx, xlsx: { sheet: définitions_2013 } }\ncolumns:\n  a: { from: agrégat }\n",
        );
        let e = run(&s, "d.xlsx", &bytes).1.unwrap_err().to_string();
        assert!(
            e.contains("no sheet `définitions_2013` (did you mean"),
            "{e}"
        );
        let s = spec(
            "name: a.b\nsource: { path: x.xlsx, xlsx: { sheet: 3 } }\ncolumns:\n  a: { from: agrégat }\n",
        );
        let e = run(&s, "d.xlsx", &bytes).1.unwrap_err().to_string();
        assert!(e.contains("no sheet at position 3"), "{e}");
        let e = run(&s, "d.xlsx", b"not a workbook")
            .1
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a readable workbook"), "{e}");
    }

    #[test]
    fn dont_rows_get_their_parent() {
        let bytes = book(|wb| {
            let ws = wb.add_worksheet();
            let rows = [
                ("Libellé", "Montant"),
                ("Dépenses", "10"),
                ("dont personnel", "4"),
                ("- dont achats", "3"),
                ("Recettes", "12"),
            ];
            for (r, (a, b)) in rows.iter().enumerate() {
                ws.write(r as u32, 0, *a).unwrap();
                ws.write(r as u32, 1, *b).unwrap();
            }
        });
        let s = spec(
            r#"
name: a.b
source: { path: x.xlsx, xlsx: { hierarchy: { label: Libellé, by: dont } } }
columns:
  libelle: { from: Libellé }
  parent:  { from: parent }
"#,
        );
        let (sink, r) = run(&s, "h.xlsx", &bytes);
        r.unwrap();
        assert_eq!(sink.column("parent"), vec!["", "Dépenses", "Dépenses", ""]);
    }

    /// A minimal OpenDocument spreadsheet (what LibreOffice saves, without styles).
    fn ods(rows: &[&[(&str, &str)]]) -> Vec<u8> {
        use std::io::Write;
        let mut body = String::new();
        for r in rows {
            body.push_str("<table:table-row>");
            for (ty, v) in *r {
                match *ty {
                    "f" => body.push_str(&format!(
                        "<table:table-cell office:value-type=\"float\" office:value=\"{v}\"><text:p>{v}</text:p></table:table-cell>"
                    )),
                    "s" => body.push_str(&format!(
                        "<table:table-cell office:value-type=\"string\"><text:p>{v}</text:p></table:table-cell>"
                    )),
                    _ => body.push_str("<table:table-cell/>"),
                }
            }
            body.push_str("</table:table-row>");
        }
        let content = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet><table:table table:name="Feuille1">{body}</table:table></office:spreadsheet></office:body></office:document-content>"#
        );
        let mut buf = std::io::Cursor::new(Vec::new());
        let mut z = zip::ZipWriter::new(&mut buf);
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        z.start_file("mimetype", stored).unwrap();
        z.write_all(b"application/vnd.oasis.opendocument.spreadsheet")
            .unwrap();
        z.start_file("content.xml", stored).unwrap();
        z.write_all(content.as_bytes()).unwrap();
        z.start_file("META-INF/manifest.xml", stored).unwrap();
        z.write_all(br#"<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"#).unwrap();
        z.finish().unwrap();
        buf.into_inner()
    }

    #[test]
    fn ods_two_row_header_without_merge_information() {
        let bytes = ods(&[
            &[("s", "Titre")],
            &[("s", "Code"), ("s", "Dotation"), ("", "")],
            &[("", ""), ("f", "2022"), ("s", "2023 (p)")],
            &[("f", "1001"), ("f", "12.5"), ("s", "n.d.")],
        ]);
        let s = spec(
            r#"
name: a.b
source: { path: x.ods, xlsx: { header_rows: 2 } }
transform:
  - unpivot: { columns: "/\\d{4}/", name: annee, value: montant }
columns:
  code:    { from: Code, type: code, width: 5 }
  annee:   { from: annee, type: int16 }
  flag:    { from: annee_flag }
  montant: { from: montant, type: "decimal(18,2)", status: true }
"#,
        );
        let (sink, r) = run(&s, "t.ods", &bytes);
        let stats = r.unwrap();
        assert_eq!((stats.rows_read, stats.rows_rejected), (2, 0));
        assert_eq!(sink.column("code"), vec!["01001", "01001"]);
        assert_eq!(sink.column("annee"), vec!["2022", "2023"]);
        assert_eq!(sink.column("flag"), vec!["", "p"]);
        assert_eq!(sink.column("montant"), vec!["12.50", ""]);
        assert_eq!(sink.column("montant_status"), vec!["", "n.d."]);
    }
}
