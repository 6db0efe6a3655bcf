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
//!
//! A reader also has a memory limit ([`Limits::memory_mib`]): pdf_oxide caps each stream it
//! inflates, but not a page that draws the same stream a hundred times (a 270 KB file took
//! 4 GB). Past the limit an allocation fails in the reader, which ends it, and the parent
//! reports [`Error::OutOfMemory`]. The reader also offers itself first to the kernel's
//! out-of-memory killer, ahead of the process that started it.

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

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

/// What a reader process may use. A read in-process ignores them: its caller bounds its time.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Limits {
    /// Killed past this time.
    pub time: Option<Duration>,
    /// Allocations fail past this much data (the process's private writable memory), in MiB.
    pub memory_mib: Option<u64>,
}

/// The request's first line; the PDF follows it.
#[derive(Serialize, Deserialize)]
struct Request {
    options: Options,
    memory_mib: Option<u64>,
}

/// The tables of the PDF `bytes` on the pages of `opts`, read in the reader process within
/// `limits` when the binary set one, else here.
pub fn extract_bytes(bytes: Vec<u8>, opts: &Options, limits: Limits) -> Result<Vec<Table>, Error> {
    match READER.get() {
        Some((program, args)) => read_in_child(program, args, &bytes, opts, limits),
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
    limits: Limits,
) -> Result<Vec<Table>, Error> {
    let mut request = BufWriter::new(tempfile::tempfile().map_err(start_failed)?);
    let head = Request {
        options: opts.clone(),
        memory_mib: limits.memory_mib,
    };
    serde_json::to_writer(&mut request, &head).map_err(|e| start_failed(e.into()))?;
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
        // Its last words are read from the end of stderr (`stopped`): no backtrace after them.
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::from(request))
        .stdout(Stdio::from(answer.try_clone().map_err(start_failed)?))
        .stderr(Stdio::from(errors.try_clone().map_err(start_failed)?))
        .spawn()
        .map_err(start_failed)?;
    let limit = limits.time;
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
        return Err(stopped(status, errors, limits.memory_mib));
    }
    let mut answer = answer;
    answer.rewind().map_err(start_failed)?;
    let answer: Result<Vec<Table>, Error> = serde_json::from_reader(BufReader::new(answer))
        .map_err(|e| Error::Crashed(format!("its answer could not be read: {e}")))?;
    answer
}

/// The error of a reader that ended without an answer: out of memory when an allocation
/// failed under a memory limit (Rust writes "memory allocation of N bytes failed", then maybe
/// more lines of a backtrace it cannot print), else how it ended, with its last words.
fn stopped(status: ExitStatus, mut errors: File, memory_mib: Option<u64>) -> Error {
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
    if let Some(mib) = memory_mib
        && tail.lines().any(|l| {
            l.starts_with("memory allocation of") && l.trim_end().ends_with("bytes failed")
        })
    {
        return Error::OutOfMemory(mib);
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
    Error::Crashed(if last.is_empty() {
        how
    } else {
        format!("{last}; {how}")
    })
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

/// The reader process: reads a request (the options and limits as one JSON line, then the PDF)
/// from stdin and writes the answer (`Ok` tables or `Err` error, JSON) to stdout.
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
    let Request {
        options: opts,
        memory_mib,
    } = match serde_json::from_slice(&input[..end]) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("the request's options cannot be read: {e}");
            return ExitCode::from(2);
        }
    };
    let bytes = input.split_off(end + 1);
    drop(input);
    offer_to_oom_killer();
    if let Some(mib) = memory_mib
        && let Err(e) = limit_memory(mib.saturating_mul(1 << 20))
    {
        eprintln!("cannot set the memory limit: {e}");
        return ExitCode::from(2);
    }
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

/// Allocations past `bytes` of data (heap, anonymous mappings, thread stacks) fail from now
/// on. RLIMIT_DATA, not RLIMIT_AS: the address space also holds the mapped binary and the
/// allocator's reservations, which are not memory used.
#[cfg(unix)]
fn limit_memory(bytes: u64) -> std::io::Result<()> {
    let bytes = libc::rlim_t::try_from(bytes).unwrap_or(libc::RLIM_INFINITY);
    let limit = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: bytes,
    };
    // SAFETY: setrlimit reads the struct passed and touches no other memory.
    if unsafe { libc::setrlimit(libc::RLIMIT_DATA, &limit) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(unix))]
fn limit_memory(_bytes: u64) -> std::io::Result<()> {
    Ok(())
}

/// When the machine runs out of memory, the kernel kills this reader before the refresh or
/// server that started it (best effort: only Linux has the file).
fn offer_to_oom_killer() {
    if cfg!(target_os = "linux") {
        let _ = std::fs::write("/proc/self/oom_score_adj", "1000");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PageRange;

    /// A reader's stderr holding `text`.
    fn errors(text: &str) -> File {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[cfg(unix)]
    #[test]
    fn a_reader_is_out_of_memory_only_when_an_allocation_failed_under_a_limit() {
        use std::os::unix::process::ExitStatusExt;
        let abort = ExitStatus::from_raw(6);
        let oom = "memory allocation of 335546112 bytes failed\n\
                   memory allocation of 4194304 bytes failed\n\
                   skipping backtrace printing to avoid potential recursion\n";
        assert!(matches!(
            stopped(abort, errors(oom), Some(256)),
            Error::OutOfMemory(256)
        ));
        // Without a limit it is a crash like any other, with its last words.
        let e = stopped(abort, errors(oom), None).to_string();
        assert!(
            e.contains(
                "(skipping backtrace printing to avoid potential recursion; aborted (SIGABRT))"
            ),
            "{e}"
        );
        let overflow = "\nthread 'opencoll-read-pdf' has overflowed its stack\n\
                        fatal runtime error: stack overflow, aborting\n";
        let e = stopped(abort, errors(overflow), Some(256)).to_string();
        assert_eq!(
            e,
            "the PDF reader stopped on this file (stack overflow; aborted (SIGABRT))"
        );
        let e = stopped(ExitStatus::from_raw(9), errors(""), Some(256)).to_string();
        assert!(e.contains("(killed (SIGKILL: out of memory?))"), "{e}");
    }

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
