//! The CSV reader on any bytes, under a dialect chosen by the input's first byte (delimiter,
//! decimal mark, encoding): both the quote-free fast path and the general path are reached.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use oc_extract::ReadSpec;
use opencoll_fuzz::{COLUMNS, read, spec};

fn specs() -> &'static [ReadSpec] {
    static SPECS: OnceLock<Vec<ReadSpec>> = OnceLock::new();
    SPECS.get_or_init(|| {
        let mut v = Vec::new();
        for delimiter in [";", ",", "\\t", "|"] {
            for decimal in [",", "."] {
                for encoding in ["utf-8", "windows-1252"] {
                    v.push(spec(&format!(
                        "name: t.x\nsource: {{ path: x.csv, csv: {{ delimiter: \"{delimiter}\", decimal: \"{decimal}\", encoding: {encoding} }} }}\n{COLUMNS}"
                    )));
                }
            }
        }
        v
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let specs = specs();
    read(&specs[pick as usize % specs.len()], "x.csv", bytes);
});
