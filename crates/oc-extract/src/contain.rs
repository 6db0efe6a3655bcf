//! Third-party parsers (parquet, arrow, calamine) can panic on a damaged file: an offset past
//! the end of a buffer (found by robustness.rs), an overflowing cell reference in a workbook
//! (found by the fuzzer, `scripts/fuzz.sh`). That is this file's error, not the end of the
//! refresh. So is a parser that would take hours on a damaged file ([`within`]).

use std::cell::{Cell, RefCell};
use std::panic::Location;
use std::sync::mpsc::{RecvTimeoutError, sync_channel};
use std::time::Duration;

use crate::sink::ExtractError;

thread_local! {
    /// How many [`contained`] reads run on this thread (they may nest).
    static CONTAINING: Cell<usize> = const { Cell::new(0) };
    /// Where the last contained panic of this thread happened, from the panic hook.
    static PANICKED_AT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// For the process's panic hook: whether this panic happens inside a read that [`contained`]
/// guards, which turns it into the file's error, or that a guard within the read (oc-pdf's,
/// per page) turns into an error keeping the panic's message. If so, its location is kept for
/// [`contained`]'s error and the hook need not print it (a panic message and backtrace before
/// a clean error would read as a crash).
pub fn panic_is_contained(location: Option<&Location<'_>>) -> bool {
    if CONTAINING.get() == 0 {
        return false;
    }
    let at = location.map(|l| format!("{}:{}", crate_relative(l.file()), l.line()));
    PANICKED_AT.replace(at);
    true
}

/// `…/registry/src/index.crates.io-…/calamine-0.38.0/src/xlsx/mod.rs` →
/// `calamine-0.38.0/src/xlsx/mod.rs`: the crate and file, without the machine's paths.
fn crate_relative(file: &str) -> &str {
    match file.find("/registry/src/") {
        Some(at) => {
            let rest = &file[at + "/registry/src/".len()..];
            rest.split_once('/').map_or(rest, |(_, path)| path)
        }
        None => file,
    }
}

/// Runs `read`, turning a panic inside it into an error naming the file (`display`).
pub(crate) fn contained<T>(
    display: &str,
    read: impl FnOnce() -> Result<T, ExtractError>,
) -> Result<T, ExtractError> {
    if CONTAINING.get() == 0 {
        // a place left by a panic that a guard inside an earlier read caught (oc-pdf's)
        PANICKED_AT.take();
    }
    CONTAINING.set(CONTAINING.get() + 1);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(read));
    CONTAINING.set(CONTAINING.get() - 1);
    outcome.unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let at = PANICKED_AT
            .take()
            .map(|at| format!(", at {at}"))
            .unwrap_or_default();
        Err(ExtractError::new(
            display,
            None,
            format!("the file is damaged: the reader stopped on it ({why}{at})"),
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
        Err(RecvTimeoutError::Timeout) => Err(ExtractError::new(
            display,
            None,
            format!(
                "reading it took longer than the time limit ({} s): the file is probably damaged",
                limit.as_secs_f64()
            ),
        )
        .with_hint(hint)),
        Err(RecvTimeoutError::Disconnected) => {
            Err(ExtractError::new(display, None, "the reader stopped on it"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_panic_is_contained_only_inside_a_contained_read_and_its_place_is_named() {
        assert!(!panic_is_contained(None));
        let err = contained::<()>("x.xlsx", || {
            // what the process's hook does when the parser panics here
            assert!(panic_is_contained(Some(Location::caller())));
            contained("inner", || Ok(()))?;
            // still inside the outer read after the inner one ended
            assert!(panic_is_contained(Some(Location::caller())));
            std::panic::panic_any("attempt to add with overflow")
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("x.xlsx")
                && err.contains(
                    "(attempt to add with overflow, at crates/oc-extract/src/contain.rs:"
                ),
            "{err}"
        );
        assert!(!panic_is_contained(None));
        assert_eq!(
            crate_relative(
                "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/calamine-0.38.0/src/xlsx/mod.rs"
            ),
            "calamine-0.38.0/src/xlsx/mod.rs"
        );
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
}
