//! Third-party parsers (parquet, arrow, calamine) can panic on a damaged file: an offset past
//! the end of a buffer (found by robustness.rs), an overflowing cell reference in a workbook
//! (found by the fuzzer, `scripts/fuzz.sh`). That is this file's error, not the end of the
//! refresh. So is a parser that would take hours on a damaged file ([`within`]).

use std::sync::mpsc::{RecvTimeoutError, sync_channel};
use std::time::Duration;

use crate::sink::ExtractError;

/// Runs `read`, turning a panic inside it into an error naming the file (`display`), with the
/// panic's message and place (oc-contain).
pub(crate) fn contained<T>(
    display: &str,
    read: impl FnOnce() -> Result<T, ExtractError>,
) -> Result<T, ExtractError> {
    oc_contain::catch(read).unwrap_or_else(|panic| {
        Err(ExtractError::new(
            display,
            None,
            format!("the file is damaged: the reader stopped on it ({panic})"),
        )
        .with_hint("download or export it again"))
    })
}

/// Runs `read` on a thread of its own (with [`contained`]) and waits for it at most `limit`.
/// A read that takes longer is the file's error, with `hint`; its thread cannot be stopped and
/// is left to end with the parser or the process (it holds a core meanwhile, which is better
/// than a refresh that never ends).
pub(crate) fn within<T: Send + 'static>(
    display: &str,
    limit: Duration,
    hint: &str,
    read: impl FnOnce() -> Result<T, ExtractError> + Send + 'static,
) -> Result<T, ExtractError> {
    let (done, answer) = sync_channel(1);
    let name = display.to_string();
    std::thread::Builder::new()
        .name("opencoll-read".into())
        // The stack the parsers get elsewhere (deeply nested documents).
        .stack_size(64 << 20)
        .spawn(move || {
            let _ = done.send(contained(&name, read));
        })
        .map_err(|e| ExtractError::new(display, None, format!("cannot start its reader: {e}")))?;
    match answer.recv_timeout(limit) {
        Ok(read) => read,
        Err(RecvTimeoutError::Timeout) => Err(timed_out(display, limit.as_secs_f64(), hint)),
        Err(RecvTimeoutError::Disconnected) => {
            Err(ExtractError::new(display, None, "the reader stopped on it"))
        }
    }
}

/// The error of a read that outlived its limit of `secs` seconds, here or in a reader
/// process (pdf.rs).
pub(crate) fn timed_out(display: &str, secs: f64, hint: &str) -> ExtractError {
    ExtractError::new(
        display,
        None,
        format!(
            "reading it took longer than the time limit ({secs} s): the file is probably damaged"
        ),
    )
    .with_hint(hint)
}

/// The time limit the variable `var` gives with its text `value` (if set), or `default`: a
/// positive number of seconds.
pub(crate) fn time_limit(
    name: &str,
    var: &str,
    default: Duration,
    value: Option<String>,
) -> Result<Duration, ExtractError> {
    let Some(v) = value else {
        return Ok(default);
    };
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| *s > 0.0)
        // Not `from_secs_f64`, which panics past what a Duration holds (1e30, inf).
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| {
            ExtractError::new(
                name,
                None,
                format!("{var}={v:?} is not a number of seconds"),
            )
            .with_hint(format!(
                "unset {var} ({} s) or give it e.g. {}",
                default.as_secs(),
                default.as_secs() * 2
            ))
        })
}

/// How much memory a reader process (oc_contain::process: PDFs, and workbooks opened or
/// loaded there first) may use, in MiB (default 2048, at least 256). A small forged file can
/// claim gigabytes: a PDF drawing one stream a hundred times, a workbook cell at row
/// 1,000,000, a trillion shared strings.
pub const READER_MEMORY_VAR: &str = "OPENCOLL_READER_MEMORY";
const READER_MEMORY_DEFAULT_MIB: u64 = 2048;
/// Below this a reader cannot start its thread (a 64 MiB stack) and read a small report.
const READER_MEMORY_MIN_MIB: u64 = 256;

/// The memory limit `value` (the variable's text, if set) gives, in MiB.
fn memory_limit(name: &str, value: Option<String>) -> Result<u64, ExtractError> {
    let Some(v) = value else {
        return Ok(READER_MEMORY_DEFAULT_MIB);
    };
    v.trim()
        .parse::<u64>()
        .ok()
        .filter(|m| *m >= READER_MEMORY_MIN_MIB)
        .ok_or_else(|| {
            ExtractError::new(
                name,
                None,
                format!(
                    "{READER_MEMORY_VAR}={v:?} is not a number of MiB of at least \
                     {READER_MEMORY_MIN_MIB}"
                ),
            )
            .with_hint(format!(
                "unset {READER_MEMORY_VAR} ({READER_MEMORY_DEFAULT_MIB} MiB) or give it e.g. 4096"
            ))
        })
}

/// The memory limit of the reader process of the file `name`, from the environment, in MiB.
pub fn reader_memory(name: &str) -> Result<u64, ExtractError> {
    memory_limit(name, std::env::var(READER_MEMORY_VAR).ok())
}

/// What to check when a reader process could not run.
pub(crate) const READER_START_HINT: &str = "check that the temporary folder (TMPDIR) has room \
     and that the opencoll binary still runs";

/// What to do when a read outlived its limit of `secs` seconds set by the variable `var`:
/// `first`, then the variable to raise.
pub(crate) fn time_limit_hint(first: &str, var: &str, secs: f64) -> String {
    format!("{first}; a sound but very large file needs a longer limit: {var}=SECONDS (now {secs})")
}

/// What to do when a reader ran out of its `mib`: `first`, then the variable to raise.
pub(crate) fn out_of_memory_hint(first: &str, mib: u64) -> String {
    format!("{first}; a sound but very large file needs more: {READER_MEMORY_VAR}=MIB (now {mib})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_panic_in_a_contained_read_is_the_files_error_with_its_place() {
        let err = contained::<()>("x.xlsx", || {
            // what the process's hook does when the parser panics here
            assert!(oc_contain::panic_is_contained(Some(
                std::panic::Location::caller()
            )));
            std::panic::panic_any("attempt to add with overflow")
        })
        .unwrap_err();
        let shown = err.to_string();
        assert!(
            shown.contains("x.xlsx")
                && shown.contains(
                    "the reader stopped on it (attempt to add with overflow, at crates/oc-extract/src/contain.rs:"
                ),
            "{shown}"
        );
        assert_eq!(err.hint.as_deref(), Some("download or export it again"));
    }

    #[test]
    fn a_read_past_its_time_limit_is_the_files_error_and_does_not_wait_for_it() {
        let t = Instant::now();
        let err = within(
            "slow.pdf",
            Duration::from_millis(200),
            "raise the limit",
            || {
                std::thread::sleep(Duration::from_secs(30));
                Ok(())
            },
        )
        .unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        let shown = err.to_string();
        assert!(shown.contains("slow.pdf"), "{shown}");
        assert!(shown.contains("time limit (0.2 s)"), "{shown}");
        assert_eq!(err.hint.as_deref(), Some("raise the limit"));
        // A read within its limit, its value; a panic, the file's error.
        assert_eq!(
            within("a.pdf", Duration::from_secs(5), "", || Ok(7)).unwrap(),
            7
        );
        let err = within("b.pdf", Duration::from_secs(5), "", || -> Result<(), _> {
            panic!("boom")
        })
        .unwrap_err();
        assert!(err.to_string().contains("boom"), "{err}");
    }

    #[test]
    fn the_memory_limit_is_a_number_of_mib_a_reader_can_start_with() {
        let limit = |v: Option<&str>| super::memory_limit("r.pdf", v.map(String::from));
        assert_eq!(limit(None).unwrap(), 2048);
        assert_eq!(limit(Some(" 512 ")).unwrap(), 512);
        for bad in [
            "0",
            "255",
            "-1",
            "1.5",
            "abc",
            "",
            "99999999999999999999999",
        ] {
            let err = limit(Some(bad)).unwrap_err().to_string();
            assert!(
                err.contains("is not a number of MiB of at least 256")
                    && err.contains("OPENCOLL_READER_MEMORY"),
                "{bad}: {err}"
            );
        }
    }
}
