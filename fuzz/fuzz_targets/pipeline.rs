//! The target `pipeline`: its body is `opencoll_fuzz::pipeline` (fuzz/src/lib.rs), which
//! `cargo test` also replays on the committed corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| opencoll_fuzz::pipeline(data));
