//! Reading a file in a process of its own.
//!
//! Some faults of third-party parsers cannot be caught inside a process:
//! - pdf_oxide recurses once per nesting level of what it parses, without a limit, and a
//!   stack overflow aborts the process: no panic handler sees it;
//! - calamine sizes what it reads from what the file claims (a `.xlsb` cell at row 1,000,000
//!   and column 16,384, an `.xls` dimension record, an `.xlsx` shared strings count) and a
//!   failed allocation aborts too;
//! - a read past its time limit cannot be stopped: its thread spins on, holding a core.
//!
//! So a program that reads files nobody checked (a refresh, a server refreshing on a
//! schedule) reads them in a child process: an abort there is the file's error, a read past
//! its time is killed, and [`Limits::memory_mib`] bounds its memory.
//!
//! The binary opts in with [`use_reader_process`], naming itself and [`READER_ARG`], on which
//! it calls [`serve`] with the jobs it knows (`pdf`, `workbook`). Without it (libraries, unit
//! tests) [`reader_process`] is false and callers read in-process.
//!
//! A request is three parts: an envelope line (the job, the memory limit), the job's request
//! as one JSON line, then the job's payload (a PDF's bytes). The answer is the job's JSON.
//! Both go through unnamed temporary files, not pipes: the parent never writes to a pipe a
//! dead child no longer reads (SIGPIPE would end a CLI command).
//!
//! Past its memory limit an allocation fails in the reader, which ends it, and the parent
//! reports [`Failure::OutOfMemory`]. The reader also offers itself first to the kernel's
//! out-of-memory killer, ahead of the process that started it.

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::process::{Command, ExitCode, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The argument that makes the binary a reader process ([`serve`]).
pub const READER_ARG: &str = "__reader";

static READER: OnceLock<(PathBuf, Vec<OsString>)> = OnceLock::new();

/// From now on, [`run`] starts `program args…`, a process that answers with [`serve`]. Set
/// once; later calls are ignored.
pub fn use_reader_process(program: PathBuf, args: Vec<OsString>) {
    let _ = READER.set((program, args));
}

/// Whether files are read in a reader process.
pub fn reader_process() -> bool {
    READER.get().is_some()
}

/// What a reader process may use.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Limits {
    /// Killed past this time.
    pub time: Option<Duration>,
    /// Allocations fail past this much data (the process's private writable memory), in MiB.
    pub memory_mib: Option<u64>,
}

/// How a reader process ended without an answer. Callers name the reader ("the PDF reader")
/// and say what to do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Failure {
    /// It could not be started or asked (temporary files, the binary).
    #[error("{0}")]
    Start(String),
    /// It ended without an answer: killed, or aborted by a fault no panic handler sees.
    #[error("{0}")]
    Crashed(String),
    #[error("{0} s")]
    TimedOut(f64),
    /// An allocation failed under its memory limit (in MiB).
    #[error("{0} MiB")]
    OutOfMemory(u64),
}

/// The request's first line.
#[derive(Serialize, Deserialize)]
struct Envelope {
    job: String,
    memory_mib: Option<u64>,
}

/// Runs `job` on `request` and `payload` in a reader process within `limits`, and reads its
/// answer. Only when [`reader_process`] is true (else a `Start` failure).
pub fn run<A: DeserializeOwned>(
    job: &str,
    request: &impl Serialize,
    payload: &[u8],
    limits: Limits,
) -> Result<A, Failure> {
    let Some((program, args)) = READER.get() else {
        return Err(Failure::Start("no reader process was set".into()));
    };
    let start_failed = |e: std::io::Error| Failure::Start(e.to_string());
    let mut input = BufWriter::new(tempfile::tempfile().map_err(start_failed)?);
    let envelope = Envelope {
        job: job.into(),
        memory_mib: limits.memory_mib,
    };
    serde_json::to_writer(&mut input, &envelope).map_err(|e| start_failed(e.into()))?;
    input.write_all(b"\n").map_err(start_failed)?;
    serde_json::to_writer(&mut input, request).map_err(|e| start_failed(e.into()))?;
    input.write_all(b"\n").map_err(start_failed)?;
    input.write_all(payload).map_err(start_failed)?;
    let mut input = input
        .into_inner()
        .map_err(|e| start_failed(e.into_error()))?;
    input.rewind().map_err(start_failed)?;
    let answer = tempfile::tempfile().map_err(start_failed)?;
    let errors = tempfile::tempfile().map_err(start_failed)?;
    let mut child = Command::new(program)
        .args(args)
        // Its last words are read from the end of stderr (`stopped`): no backtrace after them.
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::from(input))
        .stdout(Stdio::from(answer.try_clone().map_err(start_failed)?))
        .stderr(Stdio::from(errors.try_clone().map_err(start_failed)?))
        .spawn()
        .map_err(start_failed)?;
    let limit = limits.time;
    let deadline = limit.map(|l| Instant::now() + l);
    // Most files take milliseconds: poll every millisecond for the first 100 ms, then every
    // 10 ms. (Doubling pauses answered a 12 ms read at 15 ms: the PDF benchmark's files are
    // read a page group each, and its time per page showed it.)
    let started = Instant::now();
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
            return Err(Failure::TimedOut(limit.as_secs_f64()));
        }
        let pause = if started.elapsed() < Duration::from_millis(100) {
            1
        } else {
            10
        };
        std::thread::sleep(Duration::from_millis(pause));
    };
    if !status.success() {
        return Err(stopped(status, errors, limits.memory_mib));
    }
    let mut answer = answer;
    answer.rewind().map_err(start_failed)?;
    serde_json::from_reader(BufReader::new(answer))
        .map_err(|e| Failure::Crashed(format!("its answer could not be read: {e}")))
}

/// The failure of a reader that ended without an answer: out of memory when an allocation
/// failed under a memory limit (Rust writes "memory allocation of N bytes failed", then maybe
/// more lines of a backtrace it cannot print), else how it ended, with its last words.
fn stopped(status: ExitStatus, mut errors: File, memory_mib: Option<u64>) -> Failure {
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
        return Failure::OutOfMemory(mib);
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
    Failure::Crashed(if last.is_empty() {
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

/// A job of the reader process: the job's name, its request (one JSON line) and payload, to
/// the answer's JSON. The job catches its own panics when it has a typed error for them; one
/// it lets through ends the reader, whose failure then names it.
pub type Job<'a> = &'a (dyn Fn(&str, &[u8], Vec<u8>) -> Result<Vec<u8>, String> + Sync);

/// The reader process: reads a request from stdin, runs its job under the request's memory
/// limit on a thread with the stack the parsers get in-process (deeply nested documents), and
/// writes the job's answer to stdout.
pub fn serve(job: Job<'_>) -> ExitCode {
    // The two JSON lines, then the payload read straight into its own buffer.
    let mut stdin = std::io::stdin().lock();
    let (mut envelope, mut request, mut payload) = (Vec::new(), Vec::new(), Vec::new());
    let read = stdin
        .read_until(b'\n', &mut envelope)
        .and_then(|_| stdin.read_until(b'\n', &mut request))
        .and_then(|_| stdin.read_to_end(&mut payload));
    if let Err(e) = read {
        eprintln!("cannot read the request: {e}");
        return ExitCode::from(2);
    }
    if !request.ends_with(b"\n") {
        eprintln!("the request is incomplete");
        return ExitCode::from(2);
    }
    let Ok(Envelope {
        job: name,
        memory_mib,
    }) = serde_json::from_slice::<Envelope>(&envelope)
    else {
        eprintln!("the request's envelope cannot be read");
        return ExitCode::from(2);
    };
    offer_to_oom_killer();
    if let Some(mib) = memory_mib
        && let Err(e) = limit_memory(mib.saturating_mul(1 << 20))
    {
        eprintln!("cannot set the memory limit: {e}");
        return ExitCode::from(2);
    }
    let answer = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("opencoll-reader".into())
            .stack_size(64 << 20)
            .spawn_scoped(scope, || {
                crate::catch(|| job(&name, &request, payload))
                    .unwrap_or_else(|panic| Err(panic.to_string()))
            })
            .map_err(|e| format!("cannot start its thread: {e}"))
            .and_then(|t| {
                t.join()
                    .unwrap_or_else(|_| Err("its thread panicked".into()))
            })
    });
    match answer {
        Ok(answer) => {
            let mut out = std::io::stdout().lock();
            if out.write_all(&answer).is_err() || out.flush().is_err() {
                return ExitCode::from(3);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(4)
        }
    }
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
        assert_eq!(
            stopped(abort, errors(oom), Some(256)),
            Failure::OutOfMemory(256)
        );
        // Without a limit it is a crash like any other, with its last words.
        assert_eq!(
            stopped(abort, errors(oom), None),
            Failure::Crashed(
                "skipping backtrace printing to avoid potential recursion; aborted (SIGABRT)"
                    .into()
            )
        );
        let overflow = "\nthread 'opencoll-reader' has overflowed its stack\n\
                        fatal runtime error: stack overflow, aborting\n";
        assert_eq!(
            stopped(abort, errors(overflow), Some(256)),
            Failure::Crashed("stack overflow; aborted (SIGABRT)".into())
        );
        assert_eq!(
            stopped(ExitStatus::from_raw(9), errors(""), Some(256)),
            Failure::Crashed("killed (SIGKILL: out of memory?)".into())
        );
    }
}
