//! A sheet's rows in order: `.xlsx` cells streamed from calamine's parser on a thread of its
//! own, or the rows of a range calamine loaded (`.xls`, `.ods`, `.xlsb`).

use calamine::{Data, DataRef};

use super::cells::{Value, from_data, from_ref};

/// The columns of a workbook row at most: Excel's last column is XFD, the 16,384th. A row
/// is laid out from column A, so a cell further right (a 1.5 KB `.xlsx` with one at ZZZZZZ2)
/// asked for as many empty cells: 10 GB (140 GB for a column near the end of u32).
pub const MAX_COLUMNS: usize = 16_384;

/// One sheet row: 0-based row number, cells from column 0, and each cell's indentation.
pub(crate) struct Row<'a> {
    pub(crate) index: u32,
    pub(crate) cells: Vec<Value<'a>>,
    pub(crate) indent: Vec<u8>,
}

/// Rows of a sheet in order, blank rows included only as gaps in `index`.
pub(crate) trait RowSource<'a> {
    fn next_row(&mut self) -> Result<Option<Row<'a>>, String>;
}

/// One cell of an `.xlsx` sheet: row, column, value, indentation.
pub(super) type CellAt<'a> = (u32, u32, Value<'a>, u8);

/// A cell as calamine parsed it, with its style id.
pub(super) type RawCell<'a> = (calamine::Cell<DataRef<'a>>, usize);

/// Cells handed over at a time between the parsing thread and the typing thread.
pub(super) const CELLS_PER_BATCH: usize = 16 * 1024;

/// Unzips and parses an `.xlsx` sheet (calamine) and sends its cells in batches until the
/// end, an error, or the receiver hangs up. This thread is the critical path of a large
/// sheet, so it does nothing else: values are converted and rows assembled on the receiving
/// side (200k-row benchmark: 1.51 → 1.36 s, median of 10, against doing both here).
pub(super) fn produce_cells<'a, RS: std::io::Read + std::io::Seek>(
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
pub(super) struct XlsxRows<'a> {
    rx: std::sync::mpsc::Receiver<Result<Vec<RawCell<'a>>, String>>,
    batch: std::vec::IntoIter<RawCell<'a>>,
    pending: Option<CellAt<'a>>,
    /// Indentation level per style id.
    indents: Vec<u8>,
}

impl<'a> XlsxRows<'a> {
    pub(super) fn new(
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
            let c = c as usize;
            if c >= MAX_COLUMNS {
                if v == Value::Empty {
                    continue;
                }
                return Err(format!(
                    "a cell at row {}, column {}, is past the last column a workbook can have (XFD, the {MAX_COLUMNS}th): the file is damaged or forged",
                    u64::from(r) + 1,
                    c + 1
                ));
            }
            let cur = row.get_or_insert_with(|| Row {
                index: r,
                cells: Vec::new(),
                indent: Vec::new(),
            });
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
pub(super) struct RangeRows {
    pub(super) range: calamine::Range<Data>,
    pub(super) next: usize,
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
