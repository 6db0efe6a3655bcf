//! Reading a PDF in a reader process (`oc_contain::process`).
//!
//! pdf_oxide recurses once per nesting level of what it parses, without a limit, and a stack
//! overflow aborts the process: no panic handler sees it. `nesting.rs` screens the content
//! of pages and of the forms of unencrypted files, but not the forms of encrypted files, nor
//! a page's dictionary, nor faults not found yet. A read past its time limit cannot be
//! stopped inside a process either. And pdf_oxide caps each stream it inflates, but not a
//! page that draws the same stream a hundred times (a 270 KB file took 4 GB). So when the
//! binary set a reader process, [`extract_bytes`] reads each PDF there, under a time and a
//! memory limit; [`JOB`] is the job the binary hands to [`answer`].

use serde::{Deserialize, Serialize};

use oc_contain::process::{self, Failure, Limits};

use crate::{Error, Options, OxideBackend, Table};

/// The reader process's job that reads a PDF's tables.
pub const JOB: &str = "pdf";

/// The request: the options (one JSON line); the PDF's bytes are the payload.
#[derive(Serialize, Deserialize)]
struct Request {
    options: Options,
}

/// The tables of the PDF `bytes` on the pages of `opts`, read in the reader process within
/// `limits` when the binary set one, else here (`limits` are then the caller's to keep).
pub fn extract_bytes(bytes: Vec<u8>, opts: &Options, limits: Limits) -> Result<Vec<Table>, Error> {
    if !process::reader_process() {
        return read_here(bytes, opts);
    }
    let request = Request {
        options: opts.clone(),
    };
    process::run::<Result<Vec<Table>, Error>>(JOB, &request, &bytes, limits).unwrap_or_else(
        |failure| {
            Err(match failure {
                Failure::Start(e) => Error::Reader(e),
                Failure::Crashed(e) => Error::Crashed(e),
                Failure::TimedOut(secs) => Error::TimedOut(secs),
                Failure::OutOfMemory(mib) => Error::OutOfMemory(mib),
            })
        },
    )
}

fn read_here(bytes: Vec<u8>, opts: &Options) -> Result<Vec<Table>, Error> {
    let pdf = OxideBackend::from_bytes(bytes)?;
    crate::extract(&pdf, opts)
}

/// The job, in the reader process: the answer (`Ok` tables or `Err` error, JSON) to a
/// request. A panic of the parser is this file's error, with its message.
pub fn answer(request: &[u8], pdf: Vec<u8>) -> Result<Vec<u8>, String> {
    let Request { options } = serde_json::from_slice(request)
        .map_err(|e| format!("the request's options cannot be read: {e}"))?;
    let read = oc_contain::catch(|| read_here(pdf, &options))
        .unwrap_or_else(|panic| Err(Error::Crashed(panic.to_string())));
    serde_json::to_vec(&read).map_err(|e| format!("the answer cannot be written: {e}"))
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
        let request = serde_json::to_vec(&Request {
            options: opts.clone(),
        })
        .unwrap();
        let back: Request = serde_json::from_slice(&request).unwrap();
        assert_eq!(format!("{:?}", back.options), format!("{opts:?}"));
        let unmapped: Result<Vec<Table>, Error> = Err(Error::Unmapped {
            page: 3,
            fonts: "F1, F2".into(),
        });
        let back: Result<Vec<Table>, Error> =
            serde_json::from_str(&serde_json::to_string(&unmapped).unwrap()).unwrap();
        assert!(
            matches!(&back, Err(Error::Unmapped { page: 3, fonts }) if fonts == "F1, F2"),
            "{back:?}"
        );
        // A request that is not one is the reader's error, not a panic.
        let e = answer(b"{", Vec::new()).unwrap_err();
        assert!(e.contains("the request's options cannot be read"), "{e}");
        // A file that is not a PDF is answered with its error.
        let a: Result<Vec<Table>, Error> =
            serde_json::from_slice(&answer(&request, b"not a pdf".to_vec()).unwrap()).unwrap();
        assert!(matches!(a, Err(Error::Open(_))), "{a:?}");
    }
}
