//! Third-party parsers (parquet, arrow, calamine) can panic on a damaged file: an offset past
//! the end of a buffer (found by robustness.rs), an overflowing cell reference in a workbook
//! (found by the fuzzer, `scripts/fuzz.sh`). That is this file's error, not the end of the
//! refresh.

use crate::sink::ExtractError;

/// Runs `read`, turning a panic inside it into an error naming the file (`display`).
pub(crate) fn contained<T>(
    display: &str,
    read: impl FnOnce() -> Result<T, ExtractError>,
) -> Result<T, ExtractError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)).unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(ExtractError::new(
            display,
            None,
            format!("the file is damaged: the reader stopped on it ({why})"),
        )
        .with_hint("download or export it again"))
    })
}
