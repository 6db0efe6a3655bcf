//! The workbook reader (zip + XML through calamine, then the report layout) on any bytes.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use oc_extract::ReadSpec;
use opencoll_fuzz::{COLUMNS, read, spec};

fuzz_target!(|data: &[u8]| {
    static SPEC: OnceLock<ReadSpec> = OnceLock::new();
    let s = SPEC.get_or_init(|| spec(&format!("name: t.x\nsource: {{ path: x.xlsx }}\n{COLUMNS}")));
    read(s, "x.xlsx", data);
});
