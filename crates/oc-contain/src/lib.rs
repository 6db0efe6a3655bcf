//! Third-party parsers (parquet, arrow, calamine, pdf_oxide) can panic on a damaged file: an
//! offset past the end of a buffer, an overflowing cell reference in a workbook, a TrueType
//! table in a PDF (found by the fuzzer, `scripts/fuzz.sh`). That is the file's error, not the
//! end of the refresh or of the server. [`catch`] runs such a parser and returns its panic as
//! a value; [`panic_is_contained`] lets the process's panic hook stay quiet about it (a panic
//! message and backtrace printed before a clean error would read as a crash), and records
//! where the panic happened for the error.
//!
//! Every guard of the workspace goes through here, so the hook and the errors agree.

pub mod process;

use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::{AssertUnwindSafe, Location};

thread_local! {
    /// How many [`catch`] calls run on this thread (they may nest).
    static CATCHING: Cell<usize> = const { Cell::new(0) };
    /// Where the last panic raised under [`catch`] on this thread happened, from the hook.
    static PANICKED_AT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// A panic caught by [`catch`]: the text it was raised with (`panic!`'s message, or Rust's own
/// checks such as `attempt to add with overflow`) and, when the process's hook calls
/// [`panic_is_contained`], the crate file and line it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caught {
    pub message: String,
    pub at: Option<String>,
}

impl fmt::Display for Caught {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = if self.message.is_empty() {
            "no message"
        } else {
            &self.message
        };
        match &self.at {
            Some(at) => write!(f, "{message}, at {at}"),
            None => f.write_str(message),
        }
    }
}

/// Runs `read`, returning a panic inside it as [`Caught`]. The caller must leave no state of
/// its own half-updated by the panic (the parsers' state is dropped with the unwound frames).
pub fn catch<T>(read: impl FnOnce() -> T) -> Result<T, Caught> {
    // a place left by a panic that another guard inside an earlier read caught
    PANICKED_AT.take();
    CATCHING.set(CATCHING.get() + 1);
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(read));
    CATCHING.set(CATCHING.get() - 1);
    outcome.map_err(|panic| Caught {
        message: panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default(),
        // the hook ran for this very panic (a later panic of a nested catch would have taken
        // its own place already)
        at: PANICKED_AT.take(),
    })
}

/// For the process's panic hook: whether this panic happens inside [`catch`], which turns it
/// into an error. If so, its location is kept for that error and the hook need not print it.
/// (A thread being torn down has no thread-locals left: its panic is printed.)
pub fn panic_is_contained(location: Option<&Location<'_>>) -> bool {
    if CATCHING.try_with(Cell::get).unwrap_or(0) == 0 {
        return false;
    }
    let at = location.map(|l| format!("{}:{}", crate_relative(l.file()), l.line()));
    PANICKED_AT.try_with(|p| p.replace(at)).is_ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_contained_only_inside_catch_and_its_place_is_named() {
        assert!(!panic_is_contained(None));
        let caught = catch(|| {
            // what the process's hook does when the parser panics here
            assert!(panic_is_contained(Some(Location::caller())));
            // a nested catch takes its own panic's place, not the outer one's
            let inner = catch(|| {
                assert!(panic_is_contained(None));
                std::panic::panic_any(format!("inner {}", 1))
            })
            .unwrap_err();
            assert_eq!(
                inner,
                Caught {
                    message: "inner 1".into(),
                    at: None
                }
            );
            assert_eq!(inner.to_string(), "inner 1");
            // still inside the outer catch after the inner one ended
            assert!(panic_is_contained(Some(Location::caller())));
            std::panic::panic_any("attempt to add with overflow")
        })
        .unwrap_err();
        assert_eq!(caught.message, "attempt to add with overflow");
        let shown = caught.to_string();
        assert!(
            shown.starts_with("attempt to add with overflow, at crates/oc-contain/src/lib.rs:"),
            "{shown}"
        );
        assert!(!panic_is_contained(None));
        // a value is passed through; a payload that is not text still reads as a panic
        assert_eq!(catch(|| 7), Ok(7));
        let odd = catch(|| std::panic::panic_any(42_u8)).unwrap_err();
        assert_eq!(odd.to_string(), "no message");
        assert_eq!(
            crate_relative(
                "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/calamine-0.38.0/src/xlsx/mod.rs"
            ),
            "calamine-0.38.0/src/xlsx/mod.rs"
        );
    }
}
