//! The target `xlsx`: its body is `opencoll_fuzz::xlsx` (fuzz/src/lib.rs), which
//! `cargo test` also replays on the committed corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| opencoll_fuzz::xlsx(data));
