//! Pipeline YAML as users and attackers write it: parsed, its read spec built, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = oc_spec::parse_pipeline(text) {
        let _ = oc_extract::ReadSpec::from_pipeline(&p);
    }
});
