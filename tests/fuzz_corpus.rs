//! The committed fuzz corpus (`fuzz/corpus/TARGET/`), replayed through the fuzz targets' own
//! bodies (fuzz/src/lib.rs, included here as a module) in every `cargo test`: what
//! `scripts/fuzz.sh --grow-corpus` learnt in coverage-guided runs is checked again on each
//! change, without libFuzzer. Each input must end without a panic (the targets assert the readers'
//! invariants: an error names the file, every row read is written or rejected, an amount
//! parsed reads back to itself) and within a time limit.
//!
//! The corpus is grown from the committed samples only (`scripts/fuzz.sh --grow-corpus`),
//! never from the real files of ../shared, which stay out of the repo.

#[path = "../fuzz/src/lib.rs"]
mod fuzz_targets;

use std::path::Path;
use std::time::{Duration, Instant};

/// The targets with a committed corpus (those of `commit_len` in scripts/fuzz.sh). Workbooks and PDFs have none: their inputs are whole
/// files, and a covering set of them is megabytes (scripts/fuzz.sh); the damaged-file tests
/// (`oc-extract/src/robustness.rs`, `tests/real_fixtures.rs`) cover them in `cargo test`.
const COMMITTED: [&str; 5] = ["csv", "json", "html", "number", "pipeline"];

/// A debug build is slower than the fuzzer's optimised one by about ten times; an input over
/// this is a hang to look at, as libFuzzer's `-timeout` would say.
const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn every_input_of_the_committed_fuzz_corpus_replays_without_panic_or_hang() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut failures = Vec::new();
    let mut total = 0;
    for target in COMMITTED {
        let (_, body) = fuzz_targets::TARGETS
            .into_iter()
            .find(|(name, _)| *name == target)
            .expect("a target of fuzz/src/lib.rs");
        let dir = root.join(target);
        let mut inputs: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e} (scripts/fuzz.sh --grow-corpus)", dir.display()))
            .map(|e| e.expect("corpus entry").path())
            .collect();
        inputs.sort();
        // An empty folder would make this test pass without replaying anything.
        assert!(
            inputs.len() >= 5,
            "{}: {} inputs; the committed corpus of every target has more",
            dir.display(),
            inputs.len()
        );
        for input in &inputs {
            let bytes = std::fs::read(input).expect("corpus input");
            let start = Instant::now();
            // The readers contain third-party parsers' panics themselves; one that reaches
            // here is a failure of the target's assertions or of our code.
            let outcome = oc_contain::catch(|| body(&bytes));
            let took = start.elapsed();
            match outcome {
                Err(panic) => failures.push(format!("{}: panicked: {panic}", input.display())),
                Ok(()) if took > LIMIT => {
                    failures.push(format!("{}: took {took:?}", input.display()));
                }
                Ok(()) => {}
            }
        }
        total += inputs.len();
    }
    fuzz_targets::remove_scratch();
    assert!(
        failures.is_empty(),
        "{} of {total} corpus inputs failed (replay one with \
         ~/.cache/opencoll-fuzz/target/x86_64-unknown-linux-gnu/release/TARGET FILE):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
