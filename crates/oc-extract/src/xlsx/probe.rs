//! Every workbook opened first in a reader process (oc_contain::process), and loaded whole
//! there when it will be here.
//!
//! calamine sizes what it reads from what the file says: an `.xlsb` with one cell at row
//! 1,000,000 and column 16,384 makes it allocate 512 GB for the cells in between, an `.xls`
//! reserves what its dimension record claims, an `.ods` may repeat a row up to 100 million
//! cells, and opening an `.xlsx` reserves room for as many shared strings as its
//! `uniqueCount` says. The allocation fails and the process aborts (a 9 KB `.xlsx` and an
//! 847-byte `.xlsb` ended `opencoll refresh` that way), or it succeeds and takes the
//! machine's memory. `.xlsx` sheets are streamed in a refresh, but `infer` loads them whole.
//!
//! So before a workbook is opened in this process, a reader process opens it under the memory
//! limit (`OPENCOLL_READER_MEMORY`), and loads every sheet when this process will load them
//! whole: past the limit the file is this run's error, and a workbook that passes needs at
//! most that much here. A workbook is thus opened twice, and a legacy one read twice, which is
//! cheap next to the rest of a refresh.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use calamine::Reader;
use oc_contain::process::{self, Failure, Limits};
use serde::{Deserialize, Serialize};

use crate::contain::{
    READER_START_HINT, out_of_memory_hint, reader_memory, time_limit, time_limit_hint, timed_out,
};
use crate::record_bound::MAX_RECORD_BYTES;
use crate::sink::ExtractError;

/// The reader process's job that opens a workbook (and loads its sheets when asked).
pub const WORKBOOK_JOB: &str = "workbook";

const REPAIR: &str = "open and save it again with Excel or LibreOffice";

/// How long the reader process may take over one workbook, in seconds (default 600): no
/// parser has hung on one yet (the fuzzer tried 2.5 M), but a refresh must not wait for ever
/// if one does. The largest sound workbooks load in seconds (a 200,000-row `.xlsx`: 1.7 s).
pub const WORKBOOK_TIMEOUT_VAR: &str = "OPENCOLL_WORKBOOK_TIMEOUT";
const WORKBOOK_TIMEOUT_DEFAULT: Duration = Duration::from_secs(600);

#[derive(Serialize, Deserialize)]
struct Request {
    path: PathBuf,
    /// Load every sheet too, not only what opening reads (shared strings, styles, names).
    sheets: bool,
}

/// The last workbook a reader process passed: its path, size and modification time, and
/// whether its sheets were loaded. `infer` reads a workbook in three steps (sheet sizes, the
/// chosen sheet's grid, a sample): the file is probed once, not at each.
static PASSED: Mutex<Option<(PathBuf, u64, SystemTime, bool)>> = Mutex::new(None);

/// Whether a refresh streams this workbook's sheets instead of loading them whole: calamine
/// picks the format by extension, and streams `.xlsx` (xlsx/mod.rs).
pub(crate) fn streamed(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["xlsx", "xlsm", "xlam"].contains(&e.to_ascii_lowercase().as_str()))
}

/// Opens the workbook at `path` (named `display`) in a reader process, when the binary set
/// one, and loads every sheet too with `sheets`: the workbook's error if that takes more than
/// the memory limit or ends the reader. Errors calamine reports are left to the read here,
/// which gives them with their sheet.
pub(crate) fn probe(path: &Path, display: &str, sheets: bool) -> Result<(), ExtractError> {
    if !process::reader_process() {
        return Ok(());
    }
    let seen = std::fs::metadata(path)
        .and_then(|m| Ok((m.len(), m.modified()?)))
        .ok();
    let passed = |p: &Option<(PathBuf, u64, SystemTime, bool)>| {
        p.as_ref().is_some_and(|(at, len, modified, loaded)| {
            at == path && seen == Some((*len, *modified)) && (*loaded || !sheets)
        })
    };
    if PASSED.lock().is_ok_and(|p| passed(&p)) {
        return Ok(());
    }
    let limits = Limits {
        time: Some(time_limit(
            display,
            WORKBOOK_TIMEOUT_VAR,
            WORKBOOK_TIMEOUT_DEFAULT,
            std::env::var(WORKBOOK_TIMEOUT_VAR).ok(),
        )?),
        memory_mib: Some(reader_memory(display)?),
    };
    let request = Request {
        path: path.to_path_buf(),
        sheets,
    };
    let error = |message: String| ExtractError::new(display, None, message);
    match process::run::<()>(WORKBOOK_JOB, &request, &[], limits) {
        Ok(()) => {
            if let (Some((len, modified)), Ok(mut p)) = (seen, PASSED.lock()) {
                *p = Some((path.to_path_buf(), len, modified, sheets));
            }
            Ok(())
        }
        Err(Failure::Start(e)) => {
            Err(error(format!("the workbook reader could not run: {e}"))
                .with_hint(READER_START_HINT))
        }
        Err(Failure::Crashed(e)) => Err(error(format!(
            "the workbook is damaged: the workbook reader stopped on it ({e})"
        ))
        .with_hint(REPAIR)),
        Err(Failure::TimedOut(secs)) => Err(timed_out(
            display,
            secs,
            &time_limit_hint(REPAIR, WORKBOOK_TIMEOUT_VAR, secs),
        )),
        Err(Failure::OutOfMemory(mib)) => Err(error(format!(
            "reading it needed more than the memory limit ({mib} MiB): the workbook is \
             probably damaged or forged (a small file can claim billions of cells or strings)"
        ))
        .with_hint(out_of_memory_hint(REPAIR, mib))),
    }
}

/// The job, in the reader process: opens the workbook and, when asked, loads every sheet,
/// one at a time; else streams the sheets of an `.xlsx` that [`may_hold_a_huge_cell`].
/// Answers `null`. A sheet calamine cannot read is skipped: the read in the parent reports
/// it.
pub fn answer_workbook(request: &[u8]) -> Result<Vec<u8>, String> {
    let Request { path, sheets } =
        serde_json::from_slice(request).map_err(|e| format!("the request cannot be read: {e}"))?;
    // A panic or an error is the parent's to find again and report, in its own words.
    let _ = oc_contain::catch(|| {
        let Ok(mut book) = calamine::open_workbook_auto(&path) else {
            return;
        };
        if sheets {
            for sheet in book.sheet_names() {
                let _ = book.worksheet_range(&sheet);
            }
        } else if let calamine::Sheets::Xlsx(x) = &mut book
            && may_hold_a_huge_cell(&path)
        {
            for sheet in x.sheet_names() {
                if let Ok(mut cells) = x.worksheet_cells_reader(&sheet) {
                    while let Ok(Some(_)) = cells.next_cell() {}
                }
            }
        }
    });
    serde_json::to_vec(&()).map_err(|e| e.to_string())
}

/// A part that unpacks past one record's bound (a cell longer than a CSV record could be
/// in it) from this many times less: sheets of values unpack 5 to 15 times, 2 GB of one
/// letter repeated in a cell from 2 MB.
const HUGE_RATIO: u64 = 20;

/// Whether a sheet of the `.xlsx` at `path` could hold a cell of many times the file's size
/// (a part of the archive does).
/// calamine builds each cell's text whole as it streams a sheet: a 2 MB file with a 2 GB
/// cell took 6.4 GB in a refresh. Such a sheet is streamed here first, under the memory
/// limit. The sizes are those the archive declares, which bound what is unpacked (the zip
/// crate fails a read past them); most sheets are under either bound, and are not read
/// twice.
fn may_hold_a_huge_cell(path: &Path) -> bool {
    let zip = std::fs::File::open(path)
        .ok()
        .and_then(|f| zip::ZipArchive::new(std::io::BufReader::new(f)).ok());
    let Some(mut zip) = zip else { return false };
    // Any part: a sheet is found through the workbook's relationships, wherever they point.
    (0..zip.len()).any(|i| {
        zip.by_index_raw(i).is_ok_and(|part| {
            part.size() > MAX_RECORD_BYTES
                && part.size() / part.compressed_size().max(1) > HUGE_RATIO
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_xlsx_is_streamed() {
        for (name, streams) in [
            ("a.xlsx", true),
            ("A.XLSM", true),
            ("a.xlam", true),
            ("a.xlsb", false),
            ("a.xls", false),
            ("a.ods", false),
            ("download", false),
        ] {
            assert_eq!(streamed(Path::new(name)), streams, "{name}");
        }
    }

    #[test]
    fn the_job_answers_for_any_file_and_refuses_a_request_that_is_not_one() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.xls");
        std::fs::write(&junk, b"not a workbook").unwrap();
        let request = serde_json::to_vec(&Request {
            path: junk,
            sheets: true,
        })
        .unwrap();
        assert_eq!(answer_workbook(&request).unwrap(), b"null");
        assert!(
            answer_workbook(b"{")
                .unwrap_err()
                .contains("cannot be read")
        );
        // Without a reader process (a library, this test) nothing is probed.
        assert!(probe(Path::new("missing.xls"), "missing.xls", true).is_ok());
    }
}
