//! Chunks parsed on several threads, their rows handed to the sink in file order (so the
//! output, the reject lines and where a read stops never depend on thread timing), with at
//! most two chunks per worker in flight.

use crate::sink::{ExtractError, Sink};
use crate::spec::{ReadSpec, SourceFile};

use super::chunker::{Chunker, count_lines};
use super::parse::{ChunkContext, ChunkOut};

const MAX_WORKERS: usize = 8;

/// Parses `first` (from `data_start`, after `lines_before` lines) and the rest of `chunks`,
/// delivering rows to `sink` in order. Returns (rows read, rows rejected).
pub(super) fn run(
    ctx: &ChunkContext<'_>,
    spec: &ReadSpec,
    mut chunks: Chunker<'_>,
    first: Vec<u8>,
    data_start: usize,
    lines_before: u64,
    sink: &mut dyn Sink,
) -> Result<(u64, u64), ExtractError> {
    let file = ctx.file;
    let skipped = ctx.skipped;
    let err = |line: Option<u64>, msg: String| ExtractError::new(&file.display, line, msg);
    let mut order = Ordered {
        spec,
        file,
        rows_read: 0,
        rows_rejected: 0,
    };
    let first_out = ctx.parse(&first[data_start..], lines_before);
    let mut next_lines = lines_before + count_lines(&first[data_start..]);
    drop(first);
    order.deliver(first_out, sink)?;

    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, MAX_WORKERS);
    let Some(second) = chunks
        .next_chunk()
        .map_err(|e| err(Some(next_lines + skipped + 1), format!("cannot read: {e}")))?
    else {
        return Ok((order.rows_read, order.rows_rejected));
    };
    if workers == 1 {
        let mut chunk = Some(second);
        while let Some(c) = chunk {
            let out = ctx.parse(&c, next_lines);
            next_lines += count_lines(&c);
            order.deliver(out, sink)?;
            chunk = chunks
                .next_chunk()
                .map_err(|e| err(Some(next_lines + skipped + 1), format!("cannot read: {e}")))?;
        }
        return Ok((order.rows_read, order.rows_rejected));
    }

    let (work_tx, work_rx) = std::sync::mpsc::sync_channel::<(usize, Vec<u8>, u64)>(workers);
    let work_rx = std::sync::Mutex::new(work_rx);
    std::thread::scope(|scope| {
        let (done_tx, done_rx) = std::sync::mpsc::channel::<(usize, ChunkOut)>();
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let (work_rx, ctx) = (&work_rx, &ctx);
            scope.spawn(move || {
                loop {
                    let job = work_rx.lock().map(|rx| rx.recv());
                    let Ok(Ok((i, bytes, lines))) = job else {
                        break;
                    };
                    if done_tx.send((i, ctx.parse(&bytes, lines))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        // At most 2 × workers chunks in flight: memory stays bounded whatever the file size.
        let max_in_flight = 2 * workers;
        let mut pending = std::collections::BTreeMap::new();
        let (mut sent, mut delivered) = (0usize, 0usize);
        let mut chunk = Some(second);
        let result = loop {
            while let Some(c) = chunk.take() {
                if sent - delivered >= max_in_flight {
                    chunk = Some(c);
                    break;
                }
                let lines = next_lines;
                next_lines += count_lines(&c);
                if work_tx.send((sent, c, lines)).is_err() {
                    break;
                }
                sent += 1;
                match chunks.next_chunk() {
                    Ok(c) => chunk = c,
                    Err(e) => {
                        return Err(err(
                            Some(next_lines + skipped + 1),
                            format!("cannot read: {e}"),
                        ));
                    }
                }
            }
            if delivered == sent {
                break Ok(());
            }
            let Ok((i, out)) = done_rx.recv() else {
                break Err(err(None, "a parsing thread stopped".into()));
            };
            pending.insert(i, out);
            while let Some(out) = pending.remove(&delivered) {
                delivered += 1;
                order.deliver(out, sink)?;
            }
        };
        drop(work_tx);
        result
    })?;
    Ok((order.rows_read, order.rows_rejected))
}

/// Hands chunk results to the sink in file order and applies the reject limit there, so that
/// a parallel read fails exactly where a sequential one would.
struct Ordered<'a> {
    spec: &'a ReadSpec,
    file: &'a SourceFile,
    rows_read: u64,
    rows_rejected: u64,
}

impl Ordered<'_> {
    fn deliver(&mut self, out: ChunkOut, sink: &mut dyn Sink) -> Result<(), ExtractError> {
        for r in out.rejects {
            self.rows_rejected += 1;
            let line = r.line;
            sink.reject(r)?;
            if self.rows_rejected > self.spec.reject_limit {
                return Err(ExtractError::too_many_rejects(
                    &self.file.display,
                    line,
                    self.rows_rejected,
                ));
            }
        }
        if let Some(e) = out.error {
            return Err(e);
        }
        for b in out.batches {
            sink.batch(b)?;
        }
        self.rows_read += out.rows_read;
        Ok(())
    }
}
