//! Reading a PDF in a process of its own.
//!
//! pdf_oxide recurses once per nesting level of what it parses, without a limit, and a stack
//! overflow aborts the process: no panic handler sees it. `nesting.rs` screens the content
//! of pages and of the forms of unencrypted files, but not the forms of encrypted files,
//! nor faults not found yet. A read past its time limit cannot be stopped inside a process
//! either: its thread spins on, holding a core. So a program that reads files nobody checked
//! (a refresh, a server refreshing on a schedule) reads each PDF in a child process: an abort
//! there is this file's error, and a read past its limit is killed.
//!
//! The binary opts in with [`use_reader_process`], naming itself and [`READER_ARG`], on which
//! it calls [`serve`]. Without it (libraries, unit tests) [`extract_bytes`] reads here.
//!
//! The request and the answer go through unnamed temporary files, not pipes: the parent never
//! writes to a pipe a dead child no longer reads (SIGPIPE would end a CLI command).

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::{Error, Options, OxideBackend, Table};

/// The argument that makes the binary a reader process ([`serve`]).
pub const READER_ARG: &str = "__read-pdf";

static READER: OnceLock<(PathBuf, Vec<OsString>)> = OnceLock::new();

/// From now on, [`extract_bytes`] runs `program args…`, a process that answers with [`serve`].
/// Set once; later calls are ignored.
pub fn use_reader_process(program: PathBuf, args: Vec<OsString>) {
    let _ = READER.set((program, args));
}

/// Whether PDFs are read in a reader process.
pub fn reader_process() -> bool {
    READER.get().is_some()
}

/// The tables of the PDF `bytes` on the pages of `opts`, read in the reader process when the
/// binary set one (then killed past `limit`), else here (the caller bounds its time).
pub fn extract_bytes(
    bytes: Vec<u8>,
    opts: &Options,
    limit: Option<Duration>,
) -> Result<Vec<Table>, Error> {
    match READER.get() {
        Some((program, args)) => read_in_child(program, args, &bytes, opts, limit),
        None => read_here(bytes, opts),
    }
}

fn read_here(bytes: Vec<u8>, opts: &Options) -> Result<Vec<Table>, Error> {
    let pdf = OxideBackend::from_bytes(bytes)?;
    crate::extract(&pdf, opts)
}

fn start_failed(e: std::io::Error) -> Error {
    Error::Reader(e.to_string())
}

fn read_in_child(
    program: &Path,
    args: &[OsString],
    bytes: &[u8],
    opts: &Options,
    limit: Option<Duration>,
) -> Result<Vec<Table>, Error> {
    let mut request = BufWriter::new(tempfile::tempfile().map_err(start_failed)?);
    serde_json::to_writer(&mut request, opts).map_err(|e| start_failed(e.into()))?;
    request.write_all(b"\n").map_err(start_failed)?;
    request.write_all(bytes).map_err(start_failed)?;
    let mut request = request
        .into_inner()
        .map_err(|e| start_failed(e.into_error()))?;
    request.rewind().map_err(start_failed)?;
    let answer = tempfile::tempfile().map_err(start_failed)?;
    let errors = tempfile::tempfile().map_err(start_failed)?;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::from(request))
        .stdout(Stdio::from(answer.try_clone().map_err(start_failed)?))
        .stderr(Stdio::from(errors.try_clone().map_err(start_failed)?))
        .spawn()
        .map_err(start_failed)?;
    let deadline = limit.map(|l| Instant::now() + l);
    // Most files take milliseconds: poll often at first, then every 20 ms.
    let mut pause = Duration::from_millis(1);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(start_failed(e));
            }
        }
        if let (Some(deadline), Some(limit)) = (deadline, limit)
            && Instant::now() >= deadline
        {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::TimedOut(limit.as_secs_f64()));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    };
    if !status.success() {
        return Err(Error::Crashed(crash_report(status, errors)));
    }
    let mut answer = answer;
    answer.rewind().map_err(start_failed)?;
    let answer: Result<Vec<Table>, Error> = serde_json::from_reader(BufReader::new(answer))
        .map_err(|e| Error::Crashed(format!("its answer could not be read: {e}")))?;
    answer
}

/// How the reader ended, with the last line it wrote (Rust's "has overflowed its stack").
fn crash_report(status: ExitStatus, mut errors: File) -> String {
    const TAIL: u64 = 4096;
    let mut tail = String::new();
    if let Ok(len) = errors.seek(SeekFrom::End(0))
        && errors
            .seek(SeekFrom::Start(len.saturating_sub(TAIL)))
            .is_ok()
    {
        let mut raw = Vec::new();
        let _ = errors.read_to_end(&mut raw);
        tail = String::from_utf8_lossy(&raw).into_owned();
    }
    // Rust's last words on an abort: "fatal runtime error: stack overflow, aborting".
    let last = tail
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && !l.starts_with("note:"))
        .unwrap_or("");
    let last = last.strip_prefix("fatal runtime error: ").unwrap_or(last);
    let last = last.strip_suffix(", aborting").unwrap_or(last);
    let how = ended(status);
    if last.is_empty() {
        how
    } else {
        format!("{last}; {how}")
    }
}

#[cfg(unix)]
fn ended(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status.signal() {
        Some(6) => "aborted (SIGABRT)".into(),
        Some(9) => "killed (SIGKILL: out of memory?)".into(),
        Some(11) => "crashed (SIGSEGV)".into(),
        Some(s) => format!("ended by signal {s}"),
        None => status.to_string(),
    }
}

#[cfg(not(unix))]
fn ended(status: ExitStatus) -> String {
    status.to_string()
}

/// The reader process: reads a request (the options as one JSON line, then the PDF) from
/// stdin and writes the answer (`Ok` tables or `Err` error, JSON) to stdout.
pub fn serve() -> ExitCode {
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().lock().read_to_end(&mut input) {
        eprintln!("cannot read the request: {e}");
        return ExitCode::from(2);
    }
    let Some(end) = input.iter().position(|b| *b == b'\n') else {
        eprintln!("the request has no options line");
        return ExitCode::from(2);
    };
    let opts: Options = match serde_json::from_slice(&input[..end]) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("the request's options cannot be read: {e}");
            return ExitCode::from(2);
        }
    };
    let bytes = input.split_off(end + 1);
    drop(input);
    // The stack the parsers get in-process (deeply nested documents); a panic of ours is
    // this file's error too, with its message.
    let read = std::thread::Builder::new()
        .name("opencoll-read-pdf".into())
        .stack_size(64 << 20)
        .spawn(move || {
            oc_contain::catch(|| read_here(bytes, &opts))
                .unwrap_or_else(|panic| Err(Error::Crashed(panic.to_string())))
        })
        .map_err(|e| Error::Crashed(format!("cannot start its thread: {e}")))
        .and_then(|t| {
            t.join()
                .unwrap_or_else(|_| Err(Error::Crashed("its thread panicked".into())))
        });
    let mut out = BufWriter::new(std::io::stdout().lock());
    if serde_json::to_writer(&mut out, &read).is_err() || out.flush().is_err() {
        return ExitCode::from(3);
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PageRange;

    #[test]
    fn requests_and_answers_survive_their_wire_form() {
        let opts = Options {
            pages: Some(vec![
                PageRange::one(2),
                PageRange {
                    first: 4,
                    last: None,
                },
            ]),
            strategy: crate::Strategy::axes(crate::Boundaries::Text, crate::Boundaries::Lines),
            area: Some(crate::BBox {
                x0: 1.5,
                top: 2.0,
                x1: 300.25,
                bottom: 400.0,
            }),
            columns: Some(vec![120.0, 250.5]),
            copy_spans: true,
        };
        let back: Options = serde_json::from_str(&serde_json::to_string(&opts).unwrap()).unwrap();
        assert_eq!(format!("{back:?}"), format!("{opts:?}"));
        let answer: Result<Vec<Table>, Error> = Err(Error::Unmapped {
            page: 3,
            fonts: "F1, F2".into(),
        });
        let back: Result<Vec<Table>, Error> =
            serde_json::from_str(&serde_json::to_string(&answer).unwrap()).unwrap();
        assert!(
            matches!(&back, Err(Error::Unmapped { page: 3, fonts }) if fonts == "F1, F2"),
            "{back:?}"
        );
    }
}
