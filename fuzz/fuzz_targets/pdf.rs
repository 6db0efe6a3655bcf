//! The PDF table reader (oc-pdf over pdf_oxide: objects, streams, fonts, then the table
//! strategies) on any bytes.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use oc_extract::ReadSpec;
use opencoll_fuzz::{read, spec};

fuzz_target!(|data: &[u8]| {
    static SPEC: OnceLock<ReadSpec> = OnceLock::new();
    let s = SPEC.get_or_init(|| {
        spec("name: t.x\nsource: { path: x.pdf, pdf: { pages: \"1-3\", header_rows: 1 } }\ncolumns:\n  agregat: { from: Agrégat }\n  corse: { from: Corse, type: \"decimal(18,2)\" }\n")
    });
    read(s, "x.pdf", data);
});
